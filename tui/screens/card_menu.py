"""The card menu (`m`): the seven store actions in the product's order, as a small modal list.

    Check health · Sync settings · View details · Retry failed · Re-sync ·
    Disconnect or Reconnect (whichever applies) · Delete

Items that cannot run for the store now are disabled; "Check health" reads "Checking…" (and is
disabled) while a health check is queued or running. Dismisses with the chosen action name
(one of tui.store_actions.STORE_ACTIONS) or None on escape.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from engine import actions
from engine.domain.policy import MENU_ORDER, RETRY_FAILED_LABEL, Action
from engine.domain.status import CHECKING, Status
from engine.domain.views import StoreSummary
from tui.safe_text import content
from tui.store_actions import READ_ONLY, VIEW_ACTIONS


def menu_items(store: StoreSummary, *, read_only: bool = False) -> list[tuple[str, str, bool]]:
    """(action, label, enabled) for the seven items, in order. In read-only mode every item
    that would change something is disabled and its label gives the reason."""
    lifecycle = Action.RECONNECT if store.status in (
        Status.DISCONNECTED, Status.RECONNECT_REQUIRED) else Action.DISCONNECT
    items = []
    for action in MENU_ORDER:
        action = lifecycle if action is Action.DISCONNECT else action
        label = {Action.CHECK_HEALTH: CHECKING if store.checking else action.label,
                 Action.RETRY: RETRY_FAILED_LABEL}.get(action, action.label)
        if read_only and action.value not in VIEW_ACTIONS:
            items.append((action.value, f"{label} · {READ_ONLY}", False))
            continue
        enabled = actions.can(store, action) and not (
            action is Action.CHECK_HEALTH and store.checking)
        items.append((action.value, label, enabled))
    return items


class CardMenu(ModalScreen[str | None]):
    """A modal OptionList of the store actions; enter runs the highlighted one, escape closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_menu", "Close", id="menu.close"),
    ]

    DEFAULT_CSS = """
    CardMenu {
        align: center middle;
        background: $background 50%;
        & > Vertical {
            width: 40;
            height: auto;
            border: thick $accent;
            background: $surface;
            padding: 0 1;
        }
        & #menu-title { text-style: bold; padding: 0 1; }
        & OptionList, & OptionList:focus { height: auto; border: none; padding: 0; }
    }
    """

    def __init__(self, store: StoreSummary, *, read_only: bool = False) -> None:
        super().__init__()
        self.store = store
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(content(self.store.name), id="menu-title", markup=False)
            yield OptionList(
                *(Option(label, id=action, disabled=not enabled)
                  for action, label, enabled in menu_items(self.store, read_only=self.read_only)),
                id="menu",
            )

    def on_mount(self) -> None:
        menu = self.query_one(OptionList)
        menu.focus()
        first = next((i for i, option in enumerate(menu.options) if not option.disabled), None)
        menu.highlighted = first

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_dismiss_menu(self) -> None:
        self.dismiss(None)
