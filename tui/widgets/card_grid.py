"""The dashboard's responsive grid of store cards: one widget that draws every card itself.

The grid is a ScrollView drawn with Textual's line API (`render_line`), like the fleet table:
there is no widget per card. A screen line of the grid is the same line of each card in that
row, built from the store's summary (tui/widgets/store_card.py says what a card shows), so a
fleet of 15 stores or 10,000 costs the same to mount, lay out and draw, and a data refresh
replaces one list and redraws a screenful. The cursor follows its store by id across refreshes
and the scroll position does not move.

Each card's eight strips are kept (by what they depend on: the store, the cursor, the focus, the
hover, the width, the clock to the second, the theme and the colours), so a cursor move redraws
two cards from their data and repaints only their two regions; nothing is re-laid out and no CSS
class changes.

Arrows and hjkl move the cursor in 2D over the responsive column count (left/right wrap at row
ends); a click puts the cursor on a card and a double click chooses the store (enter is the
dashboard's key). The card under the mouse is drawn on a lighter background ($boost).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.content import Content
from textual.events import Click, Leave, MouseMove, Resize
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.domain.views import StoreSummary
from tui.clock import utc_now
from tui.widgets.line_styles import LineStyles
from tui.widgets.store_card import (
    CARD_HEIGHT,
    CARD_LEAST_WIDTH,
    CARD_MIN_WIDTH,
    Line,
    card_content,
    card_rows,
)
from tui.widgets.store_cursor import StoreCursor, cursor_bindings

MEMO_SIZE = 96  # cards whose strips are kept: a few screenfuls


class CardGrid(StoreCursor, ScrollView, can_focus=True):
    """A focusable, scrollable grid of store cards with a 2D cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(0, -1)", "Up", show=False, id="grid.up"),
        Binding("down,j", "move(0, 1)", "Down", show=False, id="grid.down"),
        Binding("left,h", "move(-1, 0)", "Left", show=False, id="grid.left"),
        Binding("right,l", "move(1, 0)", "Right", show=False, id="grid.right"),
        *cursor_bindings("grid"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"card-grid--hover"}

    DEFAULT_CSS = """
    CardGrid {
        height: 1fr;
        padding: 0;
        overflow-x: hidden;
        overflow-y: auto;
        & > .card-grid--hover { background: $boost; }
    }
    """
    ALLOW_SELECT = False  # a card is clicked, not selected

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.hover: int | None = None  # the index of the card under the mouse
        # Per card, its strips by what they depend on (see _card_strips); oldest first.
        self._memo: dict[tuple, tuple[StoreSummary, list[Line], list[Strip]]] = {}
        self._drawn: dict[int, list[Line]] = {}  # index -> the lines last drawn there
        self._shown: tuple[int, bool] | None = None  # (cursor, focus) last drawn
        self._updated_virtual = Size(-1, -1)  # the virtual size at the last size update
        self._version = 0  # counts the store lists shown (set_stores)
        self._row_memo: tuple[tuple, list[Strip]] | None = None  # the last row drawn
        self._windowed: tuple | None = None  # the window a data change last drew (_window)
        self._line_styles = LineStyles()  # the cards' span styles, kept between lines

    # -- geometry -----------------------------------------------------------------------------

    @property
    def columns(self) -> int:
        """How many cards fit side by side (at least one)."""
        return max(1, self._width() // CARD_MIN_WIDTH)

    def _width(self) -> int:
        """The width the cards share: the content's, without the scrollbar."""
        return self.scrollable_content_region.width

    @property
    def rows(self) -> int:
        return math.ceil(len(self.stores) / self.columns) if self.stores else 0

    def _column_edges(self, width: int) -> list[int]:
        """Where each column starts, and the end: the grid layout's `1fr` columns."""
        columns = self.columns
        return [width * column // columns for column in range(columns + 1)]

    def card_region(self, index: int) -> Region:
        """Where card `index` is, in the grid's content (scrolled) coordinates."""
        row, column = divmod(index, self.columns)
        edges = self._column_edges(self._width())
        return Region(edges[column], row * CARD_HEIGHT, edges[column + 1] - edges[column],
                      CARD_HEIGHT)

    def visible_indices(self) -> range:
        """The stores whose cards are (at least partly) on screen."""
        if not self.stores:
            return range(0)
        top = int(self.scroll_y)
        first = top // CARD_HEIGHT
        last = (top + max(self.scrollable_content_region.height, 1) - 1) // CARD_HEIGHT
        return range(first * self.columns,
                     min((last + 1) * self.columns, len(self.stores)))

    def index_at(self, x: int, y: int) -> int | None:
        """The store whose card is at (x, y) of the grid's content, if any."""
        if x < 0 or y < 0:
            return None
        edges = self._column_edges(self._width())
        column = next((c for c in range(self.columns) if edges[c] <= x < edges[c + 1]), None)
        if column is None:
            return None
        index = (y // CARD_HEIGHT) * self.columns + column
        return index if index < len(self.stores) else None

    def _update_geometry(self) -> None:
        self.virtual_size = Size(self._width(), self.rows * CARD_HEIGHT)

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size,
                      layout: bool = True) -> bool:
        # The compositor gives a ScrollView its scrollable region as `virtual_size`, not the
        # virtual size the view set, so every reflow (a screen popped over the dashboard, say)
        # looked like a change and repainted the scrollbar: only a size or a virtual size
        # that changed since the last update counts.
        updated, self._updated_virtual = self._updated_virtual, self.virtual_size
        return super()._size_updated(size, updated, container_size, layout)

    def on_resize(self, event: Resize) -> None:
        self._update_geometry()
        self._scroll_to_cursor()
        self.refresh()

    def _window(self) -> tuple:
        """What the grid shows: the stores on screen, where, the cursor and the focus."""
        return (self._width(), self.scrollable_content_region.height, int(self.scroll_y),
                self.cursor, self.has_focus, self.hover, len(self.stores),
                [self.stores[i] for i in self.visible_indices()])

    def _stores_replaced(self) -> None:
        self._version += 1
        self._update_geometry()
        self._scroll_to_cursor()
        if self.hover is not None and self.hover >= len(self.stores):
            self.hover = None
        window = self._window()
        if window != self._windowed:  # an unchanged fleet changes nothing on screen
            self._windowed = window
            self._drawn.clear()
            self._row_memo = None
            self.refresh()
        self._shown = (self.cursor, self.has_focus)

    # -- drawing ------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return getattr(self.app, "clock", utc_now)()

    def card_lines(self, index: int, width: int | None = None,
                   now: datetime | None = None) -> list[Content]:
        """Card `index` as it is drawn now: its eight lines, frame included."""
        if width is None:
            width = self.card_region(index).width
        return card_content(self.stores[index], width, now or self._now(),
                            cursor=index == self.cursor, focused=self.has_focus)

    def _card_rows(self, index: int, now: datetime) -> list[Line]:
        return card_rows(self.stores[index], self.card_region(index).width, now,
                         cursor=index == self.cursor, focused=self.has_focus)

    def card_strips(self, index: int) -> list[Strip]:
        """Card `index`'s eight lines as drawn (strips), at its width on screen."""
        return self._card_strips(index, self.card_region(index).width, self._now())

    def _card_strips(self, index: int, width: int, now: datetime) -> list[Strip]:
        summary = self.stores[index]
        cursor, focused, hover = index == self.cursor, self.has_focus, index == self.hover
        base = self.get_visual_style("card-grid--hover") if hover else self.visual_style
        # What the lines depend on: the store, the cursor, the width, the time (relative times
        # and ETAs are shown to the second at most) and the colours (the theme and the grid's
        # CSS style, compared by value).
        key = (id(summary), cursor, focused, width, now.replace(microsecond=0),
               self.app.theme, base)
        memo = self._memo.get(key)
        if memo is not None and memo[0] is summary:
            self._drawn[index] = memo[1]
            return memo[2]
        lines = card_rows(summary, width, now, cursor=cursor, focused=focused)
        blank, parse, theme = base.rich_style, self._get_style, self.app.theme
        # Plain styles, without the per-cell offsets text selection would read: equal styles
        # stay equal, so every style cache hits. A card is exactly its width (a narrower cell
        # than a card's least width crops it).
        segments = self._line_styles.pieces
        if width >= CARD_LEAST_WIDTH:
            strips = [Strip(segments(line, base, parse, theme), width) for line in lines]
        else:
            strips = [Strip(segments(line, base, parse, theme)).crop_extend(0, width, blank)
                      for line in lines]
        if len(self._memo) >= MEMO_SIZE:
            del self._memo[next(iter(self._memo))]  # the oldest
        self._memo[key] = (summary, lines, strips)
        self._drawn[index] = lines
        return strips

    def render_line(self, y: int) -> Strip:
        width = self._width()
        row, offset = divmod(int(self.scroll_y) + y, CARD_HEIGHT)
        columns = max(1, width // CARD_MIN_WIDTH)
        if row * columns >= len(self.stores):
            return Strip.blank(width, self.visual_style.rich_style)
        self.mark_drawn()
        return self._row_strips(row, width, columns)[offset]

    def _row_strips(self, row: int, width: int, columns: int) -> list[Strip]:
        """A row of cards as the grid's eight lines, kept for the row's other lines (and for a
        repaint of the row that changes nothing)."""
        now = self._now()
        start = row * columns
        stop = min(start + columns, len(self.stores))
        # Everything the row's cards depend on (see _card_strips), and which stores they show.
        key = (row, width, now.replace(microsecond=0), self._version,
               self.cursor if start <= self.cursor < stop else -1, self.has_focus,
               self.hover if self.hover is not None and start <= self.hover < stop else -1,
               self.app.theme, self.visual_style)
        if self._row_memo is not None and self._row_memo[0] == key:
            return self._row_memo[1]
        blank_style = self.visual_style.rich_style
        edges = self._column_edges(width)
        cards = []
        for column in range(columns):
            cell = edges[column + 1] - edges[column]
            if start + column < stop:
                cards.append(self._card_strips(start + column, cell, now))
            else:
                cards.append([Strip.blank(cell, blank_style)] * CARD_HEIGHT)
        strips = [Strip.join(parts).crop_extend(0, width, blank_style)
                  for parts in zip(*cards, strict=True)]
        self._row_memo = (key, strips)
        return strips

    def notify_style_update(self) -> None:
        self._memo.clear()  # a theme or CSS change: the same lines in other colours
        self._line_styles.clear()
        self._row_memo = None
        super().notify_style_update()

    def refresh_card(self, index: int) -> None:
        """Repaint card `index` (where it is on screen, if it is)."""
        if 0 <= index < len(self.stores):
            region = self.card_region(index).translate((0, -int(self.scroll_y)))
            self.refresh(region.intersection(Region(0, 0, *self.size)))

    def refresh_cards(self) -> None:
        """Repaint the visible cards whose relative times aged ("3 min ago" → "4 min ago"):
        a repaint of an unchanged card still costs its bytes on the terminal."""
        if not self.display or not self.stores:
            return
        now = self._now()
        for index in self.visible_indices():
            drawn = self._drawn.get(index)
            if drawn is None or self._card_rows(index, now) != drawn:
                self.refresh_card(index)

    def _redraw(self) -> None:
        """A cursor move repaints the two cards it changed; anything else the screenful."""
        shown, self._shown = self._shown, (self.cursor, self.has_focus)
        if shown is None or shown[1] != self._shown[1]:
            self.refresh()
            return
        if shown[0] != self.cursor:
            self.refresh_card(shown[0])
            self.refresh_card(self.cursor)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        self._drawn.clear()  # other cards are on screen
        self._row_memo = None
        super().watch_scroll_y(old_value, new_value)

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

    # -- mouse --------------------------------------------------------------------------------

    def _index_for(self, event: MouseMove | Click) -> int | None:
        offset = event.get_content_offset(self)
        if offset is None:
            return None
        return self.index_at(offset.x, offset.y + int(self.scroll_y))

    def on_click(self, event: Click) -> None:
        index = self._index_for(event)
        if index is None:
            return
        event.stop()
        self.focus()
        self._set_cursor(index)
        if event.chain >= 2:
            self.action_choose()

    def _set_hover(self, index: int | None) -> None:
        if index != self.hover:
            previous, self.hover = self.hover, index
            for card in (previous, index):
                if card is not None:
                    self.refresh_card(card)

    def on_mouse_move(self, event: MouseMove) -> None:
        self._set_hover(self._index_for(event))

    def on_leave(self, event: Leave) -> None:
        self._set_hover(None)
