"""The drawer: a panel docked on the right over the screen it was opened from.

Details, Sync settings and Connect are drawers (reference/product.md §5–§7, §10): a title bar,
a scrolling body the subclass composes (`compose_body`), and the key bar; escape closes it
(`action_close`, which a subclass may extend). The dimmed screen behind stays visible.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.widgets.key_bar import KeyBar

DRAWER_WIDTH = 64


class Drawer(ModalScreen[None]):
    """Base of the right-hand drawers: `#drawer` > (`#title`, `#body`, KeyBar)."""

    DRAWER_TITLE = ""
    """The title bar's text until `set_title` replaces it (see `initial_title`)."""

    DEFAULT_CSS = f"""
    Drawer {{ align: right top; background: $background 50%; }}
    Drawer > #drawer {{
        dock: right; width: {DRAWER_WIDTH}; max-width: 100%; height: 100%;
        background: $surface; border-left: thick $primary;
    }}
    Drawer #title {{ padding: 0 1; background: $panel; text-style: bold; }}
    Drawer #body {{ padding: 0 1; height: 1fr; }}
    Drawer .section {{ margin-top: 1; color: $text-accent; text-style: bold; }}
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="drawer"):
            yield Static(Content(self.initial_title()), id="title")
            with VerticalScroll(id="body"):
                yield from self.compose_body()
            yield KeyBar()

    def initial_title(self) -> str:
        return self.DRAWER_TITLE

    def compose_body(self) -> ComposeResult:
        """The drawer's content, inside the scrolling body."""
        raise NotImplementedError

    def set_title(self, title: Content) -> None:
        self.query_one("#title", Static).update(title)

    def action_close(self) -> None:
        self.dismiss(None)
