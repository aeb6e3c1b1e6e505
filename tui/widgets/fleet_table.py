"""The fleet as a table: one line per store, drawn with the Line API so 10,000 rows cost nothing.

Only the visible lines are rendered (`render_line`), so a refresh of the whole fleet replaces
one list and redraws a screenful. The cursor follows the store by id across refreshes, like the
card grid's, so toggling between the two views keeps the same store selected.

    Name               Domain                 Status               Cu Or Pr Co  Records  Last sync

A click on a column header asks the dashboard to sort by that column (`SortRequested`); the
sorted column's header carries ↓ (or ↑ reversed) unless the order is the default one.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.domain.status import CHECKING
from engine.domain.views import StoreSummary
from tui.clock import relative, utc_now
from tui.safe_text import safe
from tui.widgets.line_styles import LineStyles
from tui.widgets.status_badge import STATE_GLYPH, STATE_STYLE, STATUS_GLYPH, STATUS_STYLE
from tui.widgets.store_card import DELETING, MUTED, Line, truncate
from tui.widgets.store_cursor import StoreCursor, cursor_bindings

STATUS_WIDTH = 21
ENTITIES_WIDTH = 12
RECORDS_WIDTH = 9
SYNC_WIDTH = 11
WIDE = 100  # narrower than this, the domain column is dropped


class FleetTable(StoreCursor, ScrollView, can_focus=True):
    """A virtual table of stores with a row cursor (up/down/j/k, page keys, enter opens)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False, id="table.up"),
        Binding("down,j", "move(1)", "Down", show=False, id="table.down"),
        *cursor_bindings("table"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "fleet-table--header", "fleet-table--cursor", "fleet-table--cursor-blurred",
    }

    DEFAULT_CSS = """
    FleetTable {
        height: 1fr;
        & > .fleet-table--header { text-style: bold; color: $text-muted; }
        & > .fleet-table--cursor { background: $block-cursor-background;
                                    color: $block-cursor-foreground; text-style: bold; }
        & > .fleet-table--cursor-blurred { background: $block-cursor-blurred-background; }
    }
    """

    class SortRequested(Message):
        """A click on a column header: sort the fleet by that column."""

        def __init__(self, sort: str) -> None:
            super().__init__()
            self.sort = sort

    sorted_by: tuple[str, bool] = ("name", False)
    """(sort, reversed) the dashboard shows the fleet in: the header marks that column."""

    _drawn: tuple[int, int, bool] | None = None  # (cursor, scroll row, focus) last drawn

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._line_styles = LineStyles()  # the rows' span styles, kept between lines

    def _stores_replaced(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.stores) + 1)
        self._scroll_to_cursor()
        self._drawn = None
        self.refresh()

    # -- columns ------------------------------------------------------------------------------

    def _name_widths(self, width: int) -> tuple[int, int]:
        fixed = 2 + STATUS_WIDTH + ENTITIES_WIDTH + RECORDS_WIDTH + SYNC_WIDTH + 4
        free = max(width - fixed, 8)
        if width < WIDE:
            return free, 0
        name = free * 9 // 20
        return name, free - name - 1

    def _cells(self, name: Line, domain: Line, status: Line, entities: Line, records: str,
               synced: str, width: int) -> Line:
        """A row's cells as pieces (tui/widgets/store_card.py), a space between cells: what
        Content's truncate, right and join made of the same spans (tests/tui/
        test_card_rendering.py compares them)."""
        name_w, domain_w = self._name_widths(width)
        line = truncate(name, name_w, ellipsis=True, pad=True)
        if domain_w:
            line += [(" ", ""), *truncate(domain, domain_w, ellipsis=True, pad=True)]
        return [*line, (" ", ""), *truncate(status, STATUS_WIDTH, ellipsis=True, pad=True),
                (" ", ""), *truncate(entities, ENTITIES_WIDTH, pad=True),
                (" ", ""), (_right(records, RECORDS_WIDTH), ""),
                (" ", ""), (_right(synced, SYNC_WIDTH), "")]

    def _header(self, width: int) -> Line:
        sort, reverse = self.sorted_by
        marked = sort != "name" or reverse

        def title(text: str, column: str) -> str:
            if marked and column == sort:
                return f"{text} {'↑' if reverse else '↓'}"
            return text

        return self._cells([(title("  Name", "name"), "")], [(title("Domain", "domain"), "")],
                           [(title("Status", "status"), "")], [("Cu Or Pr Co", "")],
                           title("Records", "records"), title("Last sync", "synced"), width)

    def column_at(self, x: int, width: int) -> str | None:
        """The sort a click at `x` on the header row asks for (None: not a sortable column)."""
        name_w, domain_w = self._name_widths(width)
        columns = [("name", name_w)] + ([("domain", domain_w)] if domain_w else []) + [
            ("status", STATUS_WIDTH), ("", ENTITIES_WIDTH), ("records", RECORDS_WIDTH),
            ("synced", SYNC_WIDTH)]
        start = 0
        for column, size in columns:
            if start <= x < start + size:
                return column or None
            start += size + 1
        return None

    def _row(self, store: StoreSummary, width: int, now: datetime, cursor: bool) -> Line:
        marker = DELETING if store.deleting else CHECKING if store.checking else ""
        status = (f"{STATUS_GLYPH[store.status]} {marker or store.status.label}",
                  "bold $text-accent" if marker else STATUS_STYLE[store.status])
        entities: Line = []
        for row in store.entities:  # "✔ " per entity, a space between
            if entities:
                entities.append((" ", ""))
            entities += [(STATE_GLYPH[row.state], STATE_STYLE[row.state]), (" ", "")]
        synced = relative(store.last_synced_at, now, never="never")
        return self._cells([("▶ " if cursor else "  ", ""), (safe(store.name), "bold")],
                           [(safe(store.domain), MUTED)], [status], entities,
                           f"{store.records_total:,}", synced, width)

    # -- rendering ----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            line = self._header(width)
            style = self.get_visual_style("fleet-table--header")
        else:
            index = int(self.scroll_y) + y - 1
            if index >= len(self.stores):
                return Strip.blank(width, base)
            cursor = index == self.cursor
            self.mark_drawn()
            now = getattr(self.app, "clock", utc_now)()
            line = self._row(self.stores[index], width, now, cursor)
            component = "fleet-table--cursor" if self.has_focus else "fleet-table--cursor-blurred"
            style = self.get_visual_style(component) if cursor else self.visual_style
        # _get_style resolves the theme variables ($text-success …) of the spans.
        segments = self._line_styles.pieces(line, style, self._get_style, self.app.theme)
        return Strip(segments).crop_extend(0, width, style.rich_style)

    def notify_style_update(self) -> None:
        self._line_styles.clear()  # a theme or CSS change: the same lines in other colours
        super().notify_style_update()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.stores) + 1)
        self._scroll_to_cursor()

    def _redraw(self) -> None:
        """A cursor move repaints the two lines it changed (the old and the new cursor row),
        not the screenful: every line is a row of spans to build and render."""
        drawn, self._drawn = self._drawn, (self.cursor, int(self.scroll_y), self.has_focus)
        if drawn is None or drawn[1:] != self._drawn[1:]:
            self.refresh()  # scrolled, or the focus changed how the cursor row looks
            return
        width = self.size.width
        top = int(self.scroll_y)
        for index in {drawn[0], self.cursor}:
            self.refresh(Region(0, index - top + 1, width, 1))

    # -- cursor -------------------------------------------------------------------------------

    def _scroll_to_cursor(self) -> None:
        rows = max(self.size.height - 1, 1)
        if self.cursor < self.scroll_y:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= self.scroll_y + rows:
            self.scroll_to(y=self.cursor - rows + 1, animate=False, immediate=True)

    def action_move(self, delta: int) -> None:
        self._set_cursor(self.cursor + delta)

    def _page_size(self) -> int:
        return max(self.size.height - 2, 1)

    def on_click(self, event: Click) -> None:
        if event.y < 1:
            column = self.column_at(event.x, self.size.width)
            if column is not None:
                self.post_message(self.SortRequested(column))
            return
        index = int(self.scroll_y) + event.y - 1
        if index < len(self.stores):
            self._set_cursor(index)
            if event.chain >= 2:
                self.action_choose()


def _right(text: str, width: int) -> str:
    """Plain `text` right-aligned in `width` cells (cut to them): Content.right."""
    text = text.rstrip()
    if cell_len(text) > width:
        text = set_cell_size(text, width)
    return " " * (width - cell_len(text)) + text
