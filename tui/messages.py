"""Messages that thread workers post to the UI (workers never touch widgets themselves)."""

from __future__ import annotations

from textual.message import Message


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
