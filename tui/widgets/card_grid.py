"""The dashboard's responsive grid of store cards, windowed so fleet size does not matter.

Only the rows that fit in the viewport (plus one) are real StoreCard widgets: a small pool that is
re-pointed at other stores as the grid scrolls, between two spacers whose heights stand in for
the rows above and below. So mounting costs the same for 15 stores or 10,000, and a data
refresh updates the pooled cards in place: nothing is remounted, the cursor stays on the same
store (by id) and the scroll position does not move.

Arrows and hjkl move the cursor in 2D over the responsive column count (left/right wrap at row
ends); a double click chooses the store (enter is the dashboard's key).
"""

from __future__ import annotations

import math
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, VerticalScroll
from textual.events import Resize
from textual.widget import Widget

from tui.widgets.store_card import CARD_HEIGHT, CARD_MIN_WIDTH, StoreCard
from tui.widgets.store_cursor import StoreCursor, cursor_bindings


class CardGrid(StoreCursor, VerticalScroll, can_focus=True):
    """A focusable, scrollable grid of store cards with a 2D cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(0, -1)", "Up", show=False, id="grid.up"),
        Binding("down,j", "move(0, 1)", "Down", show=False, id="grid.down"),
        Binding("left,h", "move(-1, 0)", "Left", show=False, id="grid.left"),
        Binding("right,l", "move(1, 0)", "Right", show=False, id="grid.right"),
        *cursor_bindings("grid"),
    ]

    DEFAULT_CSS = """
    CardGrid {
        height: 1fr;
        padding: 0;
        & > #cards { layout: grid; grid-rows: 8; grid-columns: 1fr; grid-gutter: 0 0;
                     height: auto; }
        & > .spacer { height: 0; }
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.columns = 1
        self.first_row = 0
        self._top = Widget(classes="spacer")
        self._bottom = Widget(classes="spacer")
        self._cards = Container(id="cards")

    def compose(self) -> ComposeResult:
        # The pool is mounted with the grid, sized for the terminal (a resize corrects it), so
        # the first stores only fill cards already there: no mount between data and paint.
        width, height = self.app.size
        columns = max(1, (width - 2) // CARD_MIN_WIDTH)
        rows = math.ceil(max(height - 3, 1) / CARD_HEIGHT) + 1
        cards = [StoreCard() for _ in range(rows * columns)]
        for card in cards:
            card.display = False
        self._cards = Container(*cards, id="cards")
        yield self._top
        yield self._cards
        yield self._bottom

    # -- data ---------------------------------------------------------------------------------

    def refresh_cards(self) -> None:
        """Re-render the visible cards whose relative times aged ("3 min ago" → "4 min ago")."""
        for card in self._pool():
            card.refresh_if_aged()

    # -- geometry -----------------------------------------------------------------------------

    @property
    def rows(self) -> int:
        return math.ceil(len(self.stores) / self.columns) if self.stores else 0

    def _viewport_rows(self) -> int:
        return max(1, math.ceil(max(self.scrollable_content_region.height, 1) / CARD_HEIGHT) + 1)

    def _pool(self) -> list[StoreCard]:
        return list(self._cards.query_children(StoreCard))

    def on_resize(self, event: Resize) -> None:
        width = self.scrollable_content_region.width
        columns = max(1, width // CARD_MIN_WIDTH) if width else 1
        if columns != self.columns:
            self.columns = columns
            self._cards.styles.grid_size_columns = columns
        self._layout_window()
        self._scroll_to_cursor()

    def _layout_window(self) -> None:
        """Size the spacers and pool for the current scroll offset, then fill the pool."""
        if not self.is_mounted:
            return
        window_rows = self._viewport_rows()
        wanted = window_rows * self.columns
        pool = self._pool()
        if len(pool) < wanted:
            new = [StoreCard() for _ in range(wanted - len(pool))]
            self._cards.mount_all(new)
            pool.extend(new)
        elif len(pool) > wanted:
            for card in pool[wanted:]:
                card.remove()
            pool = pool[:wanted]
        first = min(int(self.scroll_y) // CARD_HEIGHT, max(self.rows - window_rows, 0))
        self.first_row = max(first, 0)
        shown = min(window_rows, self.rows - self.first_row)
        self._top.styles.height = self.first_row * CARD_HEIGHT
        self._bottom.styles.height = max(self.rows - self.first_row - shown, 0) * CARD_HEIGHT
        start = self.first_row * self.columns
        focused = self.has_focus
        for offset, card in enumerate(pool):
            index = start + offset
            summary = self.stores[index] if index < len(self.stores) else None
            card.show(summary, index, index == self.cursor, focused)

    def _redraw(self) -> None:
        self._layout_window()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if int(old_value) // CARD_HEIGHT != int(new_value) // CARD_HEIGHT:
            self._layout_window()

    # -- cursor -------------------------------------------------------------------------------

    def _scroll_to_cursor(self) -> None:
        if not self.stores or not self.is_mounted:
            return
        row = self.cursor // self.columns
        top, bottom = row * CARD_HEIGHT, (row + 1) * CARD_HEIGHT
        height = self.scrollable_content_region.height
        if top < self.scroll_y:
            self.scroll_to(y=top, animate=False, immediate=True)
        elif height and bottom > self.scroll_y + height:
            self.scroll_to(y=bottom - height, animate=False, immediate=True)

    def action_move(self, dx: int, dy: int) -> None:
        if dx:
            self._set_cursor(self.cursor + dx)
        elif dy:
            target = self.cursor + dy * self.columns
            if 0 <= target < len(self.stores):
                self._set_cursor(target)
            elif dy > 0 and self.cursor // self.columns < self.rows - 1:
                self._set_cursor(len(self.stores) - 1)  # the last row is short

    def _page_size(self) -> int:
        return max(1, self.scrollable_content_region.height // CARD_HEIGHT) * self.columns

    def on_store_card_clicked(self, event: StoreCard.Clicked) -> None:
        event.stop()
        self.focus()
        self._set_cursor(event.card.index)
        if event.chain >= 2:
            self.action_choose()
