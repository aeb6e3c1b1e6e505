"""One store as a card: a single widget that renders itself (no child widgets).

    Acme Outdoor
    acme-outdoor.myshopify.com
    ● Connected                   Checking…
    ✔ Customers  1,200 ✔ Orders       1,200
    ✔ Products   1,200 ✔ Collections    312
    4,800 records · synced 3 min ago

Cards live in a CardGrid, which recycles a small pool of them while scrolling: `show()` swaps
the store a card displays in place, so a card is never remounted when the data changes.
Every untrusted string (name, domain, status detail) goes through tui.safe_text.

A card draws itself with Textual's line API (`render_line`): its eight lines become eight strips
straight from their Content spans, with none of the wrapping, alignment and link passes a
general-purpose render goes through (a card never wraps), and are kept until the card is
refreshed. A dashboard paints a screenful of cards on its first frame and two on every cursor
move, so this is most of the dashboard's drawing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from rich.segment import Segment
from textual.content import Content
from textual.events import Click
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from engine.domain.progress import format_eta, format_rate
from engine.domain.status import CHECKING, EntityState, Status
from engine.domain.views import EntityRow, StoreSummary
from tui.clock import compact_count, relative, utc_now
from tui.safe_text import content
from tui.widgets.status_badge import STATE_STYLE, badge, state_glyph

CARD_HEIGHT = 8  # six lines of content in a frame
CARD_MIN_WIDTH = 39  # 35 cells of content: the two entity columns fit exactly
DELETING = "Deleting…"
MEMO_SIZE = 4  # renders a card keeps (see StoreCard._render_strips)


def entity_cell(row: EntityRow, width: int) -> Content:
    """"✔ Customers  1,200" in exactly `width` cells; the value says the state in words."""
    if row.state is EntityState.SYNCED:
        value = compact_count(row.records)
    elif row.state is EntityState.SYNCING:
        value = f"{row.done * 100 // row.total}%" if row.total else "syncing"
    else:
        value = row.state.label.lower()
    label = Content(f" {row.entity.label}")
    value_content = Content.styled(value, STATE_STYLE[row.state])
    room = width - 1 - value_content.cell_length - 1
    # A failed full sync under later successful incrementals keeps a marker on the entity.
    glyph = Content.styled("▲", "bold $text-error") if row.full_sync_failed \
        and row.state is EntityState.SYNCED else state_glyph(row.state)
    left = glyph + label.truncate(max(room, 0), ellipsis=True, pad=True)
    return left + Content(" ") + value_content


def sync_footer(summary: StoreSummary, now: datetime) -> str | None:
    """While an entity syncs with a measured rate: "Orders 45% · 1,234/s · ETA 2 min"
    (or "Orders exporting · ETA 8 s" while Shopify builds the file)."""
    for row in summary.entities:
        info = row.progress
        if row.state is not EntityState.SYNCING or info is None:
            continue
        eta = format_eta(info.eta_at(now), short=True)
        if info.phase == "export":
            return f"{row.entity.label} exporting · {format_rate(info.export_rate)} · {eta}"
        percent = f"{row.done * 100 // row.total}%" if row.total else f"{row.done:,}"
        return f"{row.entity.label} {percent} · {format_rate(info.rate)} · {eta}"
    return None


def card_lines(summary: StoreSummary, width: int, now: datetime, *, cursor: bool) -> list[Content]:
    """The card's six lines, each at most `width` cells."""
    name_style = "bold reverse" if cursor else "bold"
    name = content(summary.name, name_style).truncate(width, ellipsis=True)
    domain = content(summary.domain, "$foreground-muted").truncate(width, ellipsis=True)
    marker = DELETING if summary.deleting else CHECKING if summary.checking else ""
    status = badge(summary.status)
    if summary.status is not Status.CONNECTED and summary.status_detail and not marker:
        status += content(f" · {summary.status_detail}", "$foreground-muted")
    if marker:
        room = width - len(marker) - 1
        status = status.truncate(max(room, 0), ellipsis=True, pad=True)
        status += Content(" ") + Content.styled(marker, "bold $text-accent")
    status = status.truncate(width, ellipsis=True)
    half = min((width - 1) // 2, 16)  # "✔ Customers 48k" on the left, Collections on the right
    rows = summary.entities
    entities = [
        entity_cell(rows[0], half) + Content(" ") + entity_cell(rows[1], width - half - 1),
        entity_cell(rows[2], half) + Content(" ") + entity_cell(rows[3], width - half - 1),
    ]
    synced = relative(summary.last_synced_at, now, never="never synced")
    if summary.last_synced_at is not None:
        synced = f"synced {synced}"
    syncing = sync_footer(summary, now)
    footer = (Content.styled(syncing, "$text-accent") if syncing else Content.styled(
        f"{summary.records_total:,} records · {synced}", "$foreground-muted"
    )).truncate(width, ellipsis=True)
    return [name, domain, status, *entities, footer]


FRAMES = {"round": tuple("╭─╮│╰╯"), "heavy": tuple("┏━┓┃┗┛")}
FRAME_STYLE = {
    Status.CONNECTED: "$panel-lighten-2",
    Status.DISCONNECTED: "$panel-lighten-2",
    Status.ERROR: "$text-error 70%",
    Status.RECONNECT_REQUIRED: "$text-warning 70%",
}


def framed_lines(lines: list[Content], width: int, heavy: bool, style: str) -> list[Content]:
    """`lines` inside a box `width` cells wide (one space of padding on each side), a line
    each."""
    tl, h, tr, v, bl, br = FRAMES["heavy" if heavy else "round"]
    inner = width - 4
    edge = Content.styled(v, style)
    rows = [Content.styled(tl + h * (width - 2) + tr, style)]
    rows += [edge + Content(" ") + line.truncate(inner, pad=True) + Content(" ") + edge
             for line in lines]
    rows.append(Content.styled(bl + h * (width - 2) + br, style))
    return rows


def framed(lines: list[Content], width: int, heavy: bool, style: str) -> Content:
    """`lines` inside a box `width` cells wide, as one Content."""
    return Content("\n").join(framed_lines(lines, width, heavy, style))


class StoreCard(Widget):
    """A store's card: name, domain, badge, entity states, records and last sync.

    The card draws its own frame: the cursor card's heavy accent frame is part of the render,
    not a CSS border, so moving the cursor repaints two cards and never re-lays out the grid.
    """

    DEFAULT_CSS = """
    StoreCard {
        height: 8;
    }
    """
    ALLOW_SELECT = False  # see render_line

    class Clicked(Message):
        """The card was clicked: the grid moves its cursor here (and opens on a double click)."""

        def __init__(self, card: StoreCard, chain: int) -> None:
            super().__init__()
            self.card = card
            self.chain = chain

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.summary: StoreSummary | None = None
        self.index = -1
        self.cursor = False
        self.focused = False
        self._strips: list[Strip] | None = None  # the rendered lines, until the next refresh
        # The last few renders, by what they depend on: a cursor that moves away and back (or
        # a card scrolled out and in) within the same second reuses its lines.
        self._memo: dict[tuple, tuple[StoreSummary, list[Content], list[Strip]]] = {}
        self._drawn: list[Content] | None = None  # the lines on screen (refresh_if_aged)

    def show(self, summary: StoreSummary | None, index: int, cursor: bool,
             focused: bool = True) -> None:
        """Display `summary` (None hides the card); repaints only when something changed."""
        changed = (summary, cursor, focused) != (self.summary, self.cursor, self.focused)
        self.summary, self.index = summary, index
        self.cursor, self.focused = cursor, focused
        if self.display != (summary is not None):
            self.display = summary is not None
        if changed:  # a class change re-applies CSS: only when the cursor may have moved
            self.set_class(cursor, "-cursor")
        if changed and summary is not None:
            self.refresh()

    def _now(self) -> datetime:
        return getattr(self.app, "clock", utc_now)()

    def _lines(self, now: datetime | None = None) -> list[Content]:
        if self.summary is None:
            return []
        width = max(self.size.width, 12)
        lines = card_lines(self.summary, width - 4, now or self._now(), cursor=self.cursor)
        if self.cursor:
            style = "bold $accent" if self.focused else "$accent"
        else:
            style = FRAME_STYLE[self.summary.status]
        return framed_lines(lines, width, self.cursor and self.focused, style)

    def render(self) -> Content:
        return Content("\n").join(self._lines())

    def refresh_if_aged(self) -> None:
        """Repaint when the clock changed what the card says ("synced 3 min ago" → "4 min"):
        a repaint of an unchanged card still costs its bytes on the terminal."""
        if self.summary is not None and self.display and self._lines() != self._drawn:
            self.refresh()

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> Self:
        self._strips = None  # the data, the clock, the size or the theme changed: draw again
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def notify_style_update(self) -> None:
        self._strips = None  # a theme or CSS change: the same lines in other colours
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        strips = self._strips
        if strips is None or (strips and strips[0].cell_length != width):
            strips = self._strips = self._render_strips(width)
        if y < len(strips):
            return strips[y]
        return Strip.blank(width, self.visual_style.rich_style)

    def _render_strips(self, width: int) -> list[Strip]:
        now = self._now()
        base, parse = self.visual_style, self._get_style
        # What the lines depend on: the store, the cursor, the width, the time (relative times
        # and ETAs are shown to the second at most) and the colours (the theme and the card's
        # CSS style; a class change re-applies CSS, so the style is compared by value).
        key = (id(self.summary), self.cursor, self.focused, width, now.replace(microsecond=0),
               self.app.theme, base)
        memo = self._memo.get(key)
        if memo is not None and memo[0] is self.summary:
            self._drawn = memo[1]
            return memo[2]
        blank = base.rich_style
        # Plain styles, without the per-cell offsets text selection would read (a card is
        # clicked, not selected): equal styles stay equal, so every style cache hits.
        lines = self._drawn = self._lines(now)
        strips = [
            Strip([Segment(text, part.rich_style) for text, part
                   in line.render(base, end="", parse_style=parse)]
                  ).crop_extend(0, width, blank)
            for line in lines]
        if self.summary is not None:
            grid = self.parent.parent if self.parent is not None else None
            mark_drawn = getattr(grid, "mark_drawn", None)
            if mark_drawn is not None:
                mark_drawn()  # the grid has drawn a store
            if len(self._memo) >= MEMO_SIZE:
                del self._memo[next(iter(self._memo))]  # the oldest
            self._memo[key] = (self.summary, lines, strips)
        return strips

    def on_click(self, event: Click) -> None:
        event.stop()
        if self.summary is not None:
            self.post_message(self.Clicked(self, event.chain))
