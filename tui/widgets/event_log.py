"""The activity log: events newest first, in a Line-API view that never jumps.

    11-27 09:56:00  Berlin Bikes   sync     Orders sync failed: Bulk operation failed

`show_latest(rows)` merges freshly read events: ones newer than the top row are inserted above
it. While the operator is reading older entries (scrolled down or with the cursor below the
top), the scroll position and the cursor stay on the same entries; at the top, the new events
simply appear. `append_older(rows)` adds a page of history below (load more with before_id).
When the cursor or the scroll comes near the end, the log posts `NeedMore` once per page.
Messages and domains are untrusted and rendered as plain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.domain.views import EventRow
from tui.safe_text import content
from tui.widgets.progress_cell import to_rich

LEVEL_STYLE = {"error": "$text-error", "warning": "$text-warning", "info": ""}
TIME_WIDTH, KIND_WIDTH, STORE_WIDTH = 16, 9, 26
NARROW_STORE_WIDTH = 18


def header_line(*, show_store: bool, width: int) -> Content:
    """The column titles matching `event_line` at this width."""
    store_width = STORE_WIDTH if width >= 100 else NARROW_STORE_WIDTH
    line = "Time (UTC)".ljust(TIME_WIDTH) + ("Store".ljust(store_width) if show_store else "")
    return Content(line + "Kind".ljust(KIND_WIDTH) + "Message")


def event_line(row: EventRow, *, show_store: bool, store_width: int = STORE_WIDTH) -> Content:
    """One event as a line of Content (time, store, kind, message)."""
    when = Content.styled(row.at.strftime("%m-%d %H:%M:%S").ljust(TIME_WIDTH), "$foreground-muted")
    parts = [when]
    if show_store:
        store = content(row.store_domain or "—").truncate(store_width - 1, ellipsis=True)
        parts.append(store.pad_right(store_width - store.cell_length))
    parts.append(Content.styled(row.kind[: KIND_WIDTH - 1].ljust(KIND_WIDTH), "bold"))
    parts.append(content(row.message, LEVEL_STYLE.get(row.level, "")))
    if row.actor:
        parts.append(content(f" · {row.actor}", "$foreground-muted"))
    return Content("").join(parts)


class EventLog(ScrollView, can_focus=True):
    """A scrollable, cursor-driven list of activity events, newest first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="events.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="events.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="events.pageup"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="events.pagedown"),
        Binding("home", "first", "Newest", show=False, id="events.home"),
        Binding("end", "last", "Oldest", show=False, id="events.end"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"event-log--cursor", "event-log--empty"}

    DEFAULT_CSS = """
    EventLog {
        height: 1fr;
        overflow-x: hidden;
        & > .event-log--cursor { background: $block-cursor-blurred-background; }
        &:focus > .event-log--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
        }
        & > .event-log--empty { color: $text-muted; }
    }
    """

    cursor: reactive[int] = reactive(0, always_update=True)
    """Index of the highlighted event (0 is the newest)."""

    class Highlighted(Message):
        """The highlighted event changed (None when the log is empty)."""

        def __init__(self, row: EventRow | None) -> None:
            super().__init__()
            self.row = row

    class NeedMore(Message):
        """The operator reached the end of what is loaded: load events older than `before_id`."""

        def __init__(self, before_id: int) -> None:
            super().__init__()
            self.before_id = before_id

    def __init__(
        self, *, show_store: bool = True, empty: str = "No activity yet",
        id: str | None = None, classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.show_store = show_store
        self.empty_text = empty
        self.rows: list[EventRow] = []
        self.exhausted = False  # no older events exist
        self._asked_before: int | None = None

    # -- data ---------------------------------------------------------------------------------

    def reset(self, rows: Sequence[EventRow], *, exhausted: bool = False) -> None:
        """Replace everything (a new filter): back to the newest entry."""
        self.rows = list(rows)
        self.exhausted = exhausted
        self._asked_before = None
        self.scroll_to(y=0, animate=False, immediate=True)
        self._resize()
        self.cursor = 0

    def show_latest(self, rows: Sequence[EventRow]) -> int:
        """Insert the events newer than the top one; returns how many were new."""
        top = self.rows[0].id if self.rows else -1
        fresh = [row for row in rows if row.id > top]
        if not fresh:
            return 0
        following = self.cursor == 0 and self.scroll_y == 0
        self.rows[:0] = fresh
        self._resize()
        if not following:
            self.set_reactive(EventLog.cursor, self.cursor + len(fresh))
            self.scroll_to(y=self.scroll_y + len(fresh), animate=False, immediate=True)
        else:
            self.post_message(self.Highlighted(self.highlighted))
        self.refresh()
        return len(fresh)

    def append_older(self, rows: Sequence[EventRow], *, exhausted: bool = False) -> None:
        """Add a page of older events below the loaded ones."""
        bottom = self.rows[-1].id if self.rows else None
        self.rows.extend(row for row in rows if bottom is None or row.id < bottom)
        self.exhausted = exhausted
        self._resize()
        self.refresh()

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, max(len(self.rows), 1))

    @property
    def highlighted(self) -> EventRow | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    # -- navigation ---------------------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.rows) - 1)) if self.rows else 0

    def watch_cursor(self, old: int, new: int) -> None:
        if self.is_mounted:
            self._scroll_cursor_into_view()
            self.refresh()
            self._maybe_need_more()
        self.post_message(self.Highlighted(self.highlighted))

    def _scroll_cursor_into_view(self) -> None:
        height = self.scrollable_content_region.height
        if height <= 0:
            return
        if self.cursor < self.scroll_y:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= self.scroll_y + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._maybe_need_more()

    def _maybe_need_more(self) -> None:
        if self.exhausted or not self.rows:
            return
        height = max(self.scrollable_content_region.height, 1)
        near_end = self.cursor >= len(self.rows) - 3 or self.scroll_y + height >= len(self.rows)
        oldest = self.rows[-1].id
        if near_end and self._asked_before != oldest:
            self._asked_before = oldest
            self.post_message(self.NeedMore(oldest))

    def action_cursor(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(self.scrollable_content_region.height - 1, 1)

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self.rows) - 1

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None:
            self.cursor = int(self.scroll_y) + offset.y

    def on_resize(self, event: events.Resize) -> None:
        self._resize()

    # -- rendering ----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        index = int(self.scroll_y) + y
        if not self.rows:
            if y == 0:
                style = self.get_component_rich_style("event-log--empty")
                return Strip([Segment(self.empty_text, base + style)]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        store_width = STORE_WIDTH if width >= 100 else NARROW_STORE_WIDTH
        line = event_line(self.rows[index], show_store=self.show_store, store_width=store_width)
        text = to_rich(line.truncate(width, ellipsis=True, pad=True), self.visual_style)
        text.stylize_before(base)
        if index == self.cursor:
            text.stylize(self.get_component_rich_style("event-log--cursor"))
        strip = Strip(list(text.render(self.app.console)), text.cell_len)
        return strip.crop_extend(0, width, base)
