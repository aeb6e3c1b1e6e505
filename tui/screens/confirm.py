"""Confirmation dialogs: a plain yes/no question and the destructive delete confirmation.

Both are modal, dismiss with a bool, and are safe by default: Cancel holds the focus when they
open, `escape` always cancels, and a destructive confirm button is never the default, so a
stray `enter` can only cancel. A plain question also takes `y` (confirm) and `n` (cancel): a
deliberate letter, never the key that opened the dialog. A `require_text` dialog (Delete) has
no `y`: its confirm button stays disabled until the operator has typed one of the accepted
answers (the store's name or the store-name part of its domain), and `enter` in that field
confirms once the text matches (typing the name is the confirmation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from engine.domain.domains import store_name_part
from engine.domain.views import StoreDetail
from tui.safe_text import plain, safe

# Friendly names for the record tables a delete removes (StoreDetail.record_counts keys).
RECORD_LABELS: dict[str, str] = {
    "customer": "Customers",
    "order": "Orders",
    "order_line_item": "Order line items",
    "product": "Products",
    "product_variant": "Product variants",
    "collection": "Collections",
    "collection_membership": "Collection memberships",
}


class ConfirmScreen(ModalScreen[bool]):
    """Ask one question; dismiss True only when the operator explicitly confirms."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
        Binding("y", "yes", "Yes", show=False, id="confirm.yes"),
        Binding("n", "no", "No", show=False, id="confirm.no"),
    ]

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
        background: $background 60%;
    }
    ConfirmScreen > #dialog {
        width: 72;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $primary;
        background: $surface;
        padding: 0 2;
    }
    ConfirmScreen.-destructive > #dialog { border: thick $error; }
    ConfirmScreen #title { text-style: bold; margin: 1 0; }
    ConfirmScreen #message { margin-bottom: 1; }
    ConfirmScreen #details { margin-bottom: 1; color: $text-muted; }
    ConfirmScreen #prompt { color: $text-muted; }
    ConfirmScreen #answer { margin-bottom: 1; border: none; height: 1; }
    ConfirmScreen #answer:focus { background: $boost; }
    ConfirmScreen #buttons { height: auto; align-horizontal: right; margin-bottom: 1; }
    ConfirmScreen #buttons Button { margin-left: 2; min-width: 12; }
    ConfirmScreen #keys { dock: left; width: auto; color: $text-muted; }
    """

    def __init__(
        self,
        title: str | Text,
        message: str | Text,
        confirm_label: str = "Confirm",
        destructive: bool = False,
        require_text: str | Sequence[str] | None = None,
        *,
        details: Text | None = None,
    ) -> None:
        super().__init__(classes="-destructive" if destructive else None)
        self._title = title if isinstance(title, Text) else plain(title)
        self._message = message if isinstance(message, Text) else plain(message)
        self._confirm_label = confirm_label
        self.destructive = destructive
        if isinstance(require_text, str):
            require_text = [require_text]
        self._answers = tuple(a for a in (require_text or ()) if a)
        self._details = details

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self._title, id="title")
            yield Static(self._message, id="message")
            if self._details is not None:
                yield Static(self._details, id="details")
            if self._answers:
                shown = " or ".join(f"“{safe(a)}”" for a in self._answers)
                yield Static(Text(f"Type {shown} to confirm (tab to the field):"), id="prompt")
                yield Input(id="answer", placeholder=safe(self._answers[0]), compact=True)
            with Horizontal(id="buttons"):
                if not self._answers:
                    yield Static(Text("y confirms · n or escape cancels"), id="keys")
                yield Button("Cancel", id="cancel", variant="default", compact=True)
                yield Button(
                    self._confirm_label,
                    id="confirm",
                    variant="error" if self.destructive else "primary",
                    disabled=bool(self._answers),
                    compact=True,
                )

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def answer_matches(self, typed: str) -> bool:
        """Whether `typed` is one of the accepted answers (surrounding spaces ignored)."""
        value = typed.strip()
        return any(value == answer for answer in self._answers)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_one("#confirm", Button).disabled = not self.answer_matches(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the name field confirms once the typed text matches; before, nothing."""
        event.stop()
        if self.answer_matches(event.value):
            self.dismiss(True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A typed-name dialog takes letters as text: `y` and `n` are not keys there.
        if action in ("yes", "no"):
            return not self._answers
        return True

    def action_yes(self) -> None:
        if not self._answers:
            self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm" and not event.button.disabled:
            self.dismiss(True)
        else:
            self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)


def delete_details(detail: StoreDetail) -> Text:
    """What a delete removes: the record counts per table, the grant, the settings."""
    counts = detail.record_counts or {}
    parts = [f"{label}: {counts[table]:,}" for table, label in RECORD_LABELS.items()
             if table in counts]
    parts += [f"{safe(table)}: {count:,}" for table, count in counts.items()
              if table not in RECORD_LABELS]
    lines = Text("• Records: " + " · ".join(parts) + "\n" if parts else "")
    lines.append("• The OAuth grant in Shopify is revoked\n")
    lines.append("• Sync settings, status and the store's card are removed")
    return lines


def delete_answers(detail: StoreDetail) -> list[str]:
    """The texts that confirm a delete: the store's exact name, or its store-name part."""
    answers = [detail.summary.name.strip(), store_name_part(detail.summary.domain)]
    return list(dict.fromkeys(a for a in answers if a))


class DeleteConfirmScreen(ConfirmScreen):
    """The destructive delete confirmation: lists what goes and wants the name typed."""

    def __init__(self, detail: StoreDetail) -> None:
        title = Text("Delete ")
        title.append_text(plain(detail.summary.name))
        title.append("?")
        message = Text("Irreversible; if in doubt, disconnect instead. Deleting ")
        message.append_text(plain(detail.summary.domain))
        message.append(" removes:")
        super().__init__(
            title,
            message,
            "Delete",
            destructive=True,
            require_text=delete_answers(detail),
            details=delete_details(detail),
        )
        self.detail = detail
