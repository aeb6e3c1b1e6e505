"""Messages that thread workers post to the UI (workers never touch widgets themselves)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from engine.actions import OAuthStart
    from engine.domain.views import EventRow, StoreDetail


class ActionDone(Message):
    """An operator action finished (or failed to start): say so in a toast and refresh."""

    def __init__(
        self, action: str, store_id: int | None, message: str, severity: str = "information"
    ) -> None:
        super().__init__()
        self.action = action
        self.store_id = store_id
        self.message = message
        self.severity = severity  # information | warning | error


class DataChanged(Message, bubble=False):
    """Something was just written through engine.actions: screens should re-read now.

    Posted to the App by action workers; the App forwards it to every screen on the stack.
    It does not bubble, so a screen that ignores it cannot send it back to the App.
    """

    def __init__(self, store_id: int | None = None) -> None:
        super().__init__()
        self.store_id = store_id


class StoreChosen(Message):
    """The operator chose a store (enter or a click) in the card grid or the fleet table."""

    def __init__(self, store_id: int) -> None:
        super().__init__()
        self.store_id = store_id


class ConfirmDelete(Message, bubble=False):
    """The store's detail was read for the delete confirmation: ask the operator now."""

    def __init__(self, detail: StoreDetail) -> None:
        super().__init__()
        self.detail = detail


class ReconnectNeeded(Message, bubble=False):
    """A reconnect needs the operator: approve a fresh grant (`start`), or paste a new access
    token for a store that was connected with one (`start` is None)."""

    def __init__(self, store_id: int, domain: str, start: OAuthStart | None) -> None:
        super().__init__()
        self.store_id = store_id
        self.domain = domain
        self.start = start


class OlderEvents(Message, bubble=False):
    """A page of older events was read for an event log (`generation`: the filters it was read
    under, so a page read before a filter change is dropped)."""

    def __init__(self, rows: list[EventRow], *, exhausted: bool, generation: int = 0) -> None:
        super().__init__()
        self.rows = rows
        self.exhausted = exhausted
        self.generation = generation
