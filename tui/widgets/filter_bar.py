"""The dashboard's filter bar: a name/domain search and a status filter.

`/` on the dashboard shows the bar and focuses the search field; typing filters live; `enter`
returns to the stores keeping the filter; `escape` clears the filter and hides the bar. The status
filter is a Select (tab to it) and can also be cycled from the dashboard with `f`.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label, Select

from engine.domain.status import Status
from engine.domain.views import StoreSummary
from tui.widgets.status_badge import STATUS_GLYPH

STATUS_CHOICES: list[tuple[str, Status | None]] = [("All statuses", None)] + [
    (f"{STATUS_GLYPH[status]} {status.label}", status) for status in Status
]


def matches(store: StoreSummary, text: str, status: Status | None) -> bool:
    """Whether `store` passes the filter: `text` in its name or domain (any case), and status."""
    if status is not None and store.status is not status:
        return False
    if not text:
        return True
    needle = text.casefold()
    return needle in store.name.casefold() or needle in store.domain.casefold()


class FilterBar(Horizontal):
    """Search field and status select; posts Changed on every edit and Closed on escape."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear", "Clear filter", id="filter.clear"),
    ]

    DEFAULT_CSS = """
    FilterBar {
        height: auto;
        padding: 0 1;
        background: $panel;
        & > #filter-label { color: $text-accent; text-style: bold; }
        & > Input { width: 1fr; }
        & > Select { width: 30; }
    }
    """

    class Changed(Message):
        """The filter changed."""

        def __init__(self, text: str, status: Status | None) -> None:
            super().__init__()
            self.text = text
            self.status = status

    class Closed(Message):
        """The operator left the bar: `cleared` when escape removed the filter."""

        def __init__(self, cleared: bool) -> None:
            super().__init__()
            self.cleared = cleared

    def compose(self) -> ComposeResult:
        yield Label("Filter ", id="filter-label")
        yield Input(placeholder="Filter by name or domain", id="filter-text", compact=True)
        yield Select(STATUS_CHOICES, allow_blank=False, value=None, id="filter-status",
                     compact=True)

    def on_mount(self) -> None:
        # A blinking cursor makes headless screenshots differ from run to run.
        self.query_one("#filter-text", Input).cursor_blink = not self.app.is_headless

    @property
    def text(self) -> str:
        return self.query_one("#filter-text", Input).value

    @property
    def status(self) -> Status | None:
        value = self.query_one("#filter-status", Select).value
        return value if isinstance(value, Status) else None

    def set_status(self, status: Status | None) -> None:
        self.query_one("#filter-status", Select).value = status

    def focus_text(self) -> None:
        self.query_one("#filter-text", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(event.value, self.status))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Closed(cleared=False))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self.text, self.status))

    def action_clear(self) -> None:
        self.query_one("#filter-text", Input).value = ""
        self.set_status(None)
        self.post_message(self.Changed("", None))
        self.post_message(self.Closed(cleared=True))
