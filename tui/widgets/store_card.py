"""One store as a card: what the card grid (tui/widgets/card_grid.py) draws for a store.

    Acme Outdoor
    acme-outdoor.myshopify.com
    ● Connected                   Checking…
    ✔ Customers  1,200 ✔ Orders       1,200
    ✔ Products   1,200 ✔ Collections    312
    4,800 records · synced 3 min ago

The grid draws a card's lines itself (no widget per card) and keeps the strips it made from
them; every untrusted string (name, domain, status detail) goes through tui.safe_text.

A line is built as pieces, (text, style) pairs laid end to end (a style of "" is none), not as
Textual `Content`: a card is some thirty pieces, and building them as Content (a new Content,
its spans shifted, for every `+`, and control codes stripped again each time) was most of the
CPU of drawing a card, the bulk of the dashboard's first frame. The pieces are the spans the
Content would have had, so the grid's segments are the same (tests/tui/test_card_rendering.py
compares them with a Content-built card, cell for cell); `card_content` gives the Content.
"""

from __future__ import annotations

from datetime import datetime

from rich.cells import cell_len, set_cell_size
from textual.content import Content

from engine.domain.progress import format_eta, format_rate
from engine.domain.status import CHECKING, EntityState, Status
from engine.domain.views import EntityRow, StoreSummary
from tui.clock import compact_count, relative
from tui.safe_text import safe
from tui.widgets.status_badge import STATE_GLYPH, STATE_STYLE, STATUS_GLYPH, STATUS_STYLE

CARD_HEIGHT = 8  # six lines of content in a frame
CARD_MIN_WIDTH = 39  # 35 cells of content: the two entity columns fit exactly
CARD_LEAST_WIDTH = 12  # a card is drawn at least this wide (the grid crops a narrower cell)
DELETING = "Deleting…"
MUTED = "$foreground-muted"

Piece = tuple[str, str]  # a piece of a line: its text and its style ("" for none)
Line = list[Piece]


def cells(line: Line) -> int:
    """The line's width in cells."""
    return sum(cell_len(text) for text, _ in line)


def truncate(line: Line, width: int, *, ellipsis: bool = False, pad: bool = False) -> Line:
    """`line` cut to `width` cells (ending in "…" with `ellipsis`), or padded with spaces to
    `width` with `pad`: what `Content.truncate` does to the same spans."""
    length = cells(line)
    if length == width:
        return line
    if pad and length < width:
        return [*line, (" " * (width - length), "")]
    if length < width:
        return line
    plain = "".join(text for text, _ in line)
    text = (set_cell_size(plain, width - 1) + "…" if ellipsis and width
            else set_cell_size(plain, width))
    cut: Line = []
    position = 0
    for piece, style in line:  # each piece keeps what is left of its characters
        end = position + len(piece)
        kept = text[position:end]
        if kept:
            cut.append((kept, style))
        position = end
    return cut


def entity_cell(row: EntityRow, width: int) -> Line:
    """"✔ Customers  1,200" in exactly `width` cells; the value says the state in words."""
    if row.state is EntityState.SYNCED:
        value = compact_count(row.records)
    elif row.state is EntityState.SYNCING:
        value = f"{row.done * 100 // row.total}%" if row.total else "syncing"
    else:
        value = row.state.label.lower()
    room = width - 1 - cell_len(value) - 1
    # A failed full sync under later successful incrementals keeps a marker on the entity.
    glyph = ("▲", "bold $text-error") if row.full_sync_failed \
        and row.state is EntityState.SYNCED else (STATE_GLYPH[row.state], STATE_STYLE[row.state])
    label = truncate([(f" {row.entity.label}", "")], max(room, 0), ellipsis=True, pad=True)
    return [glyph, *label, (" ", ""), (value, STATE_STYLE[row.state])]


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


def card_lines(summary: StoreSummary, width: int, now: datetime, *, cursor: bool) -> list[Line]:
    """The card's six lines, each at most `width` cells."""
    name_style = "bold reverse" if cursor else "bold"
    name = truncate([(safe(summary.name), name_style)], width, ellipsis=True)
    domain = truncate([(safe(summary.domain), MUTED)], width, ellipsis=True)
    marker = DELETING if summary.deleting else CHECKING if summary.checking else ""
    status: Line = [(f"{STATUS_GLYPH[summary.status]} {summary.status.label}",
                     STATUS_STYLE[summary.status])]
    if summary.status is not Status.CONNECTED and summary.status_detail and not marker:
        status.append((safe(f" · {summary.status_detail}"), MUTED))
    if marker:
        status = truncate(status, max(width - len(marker) - 1, 0), ellipsis=True, pad=True)
        status += [(" ", ""), (marker, "bold $text-accent")]
    status = truncate(status, width, ellipsis=True)
    half = min((width - 1) // 2, 16)  # "✔ Customers 48k" on the left, Collections on the right
    rows = summary.entities
    entities = [
        [*entity_cell(rows[0], half), (" ", ""), *entity_cell(rows[1], width - half - 1)],
        [*entity_cell(rows[2], half), (" ", ""), *entity_cell(rows[3], width - half - 1)],
    ]
    synced = relative(summary.last_synced_at, now, never="never synced")
    if summary.last_synced_at is not None:
        synced = f"synced {synced}"
    syncing = sync_footer(summary, now)
    footer = truncate([(syncing, "$text-accent")] if syncing else [
        (f"{summary.records_total:,} records · {synced}", MUTED)], width, ellipsis=True)
    return [name, domain, status, *entities, footer]


FRAMES = {"round": tuple("╭─╮│╰╯"), "heavy": tuple("┏━┓┃┗┛")}
FRAME_STYLE = {
    Status.CONNECTED: "$panel-lighten-2",
    Status.DISCONNECTED: "$panel-lighten-2",
    Status.ERROR: "$text-error 70%",
    Status.RECONNECT_REQUIRED: "$text-warning 70%",
}


def framed_lines(lines: list[Line], width: int, heavy: bool, style: str) -> list[Line]:
    """`lines` inside a box `width` cells wide (one space of padding on each side), a line
    each."""
    tl, h, tr, v, bl, br = FRAMES["heavy" if heavy else "round"]
    inner = width - 4
    edge = (v, style)
    rows = [[(tl + h * (width - 2) + tr, style)]]
    rows += [[edge, (" ", ""), *truncate(line, inner, pad=True), (" ", ""), edge]
             for line in lines]
    rows.append([(bl + h * (width - 2) + br, style)])
    return rows


def card_rows(summary: StoreSummary, width: int, now: datetime, *, cursor: bool,
              focused: bool) -> list[Line]:
    """A card `width` cells wide, frame included, as pieces, a line each (CARD_HEIGHT lines).

    The card draws its own frame: the cursor card's frame is the accent colour (heavy while
    the grid has the focus), so moving the cursor redraws two cards and never re-lays out."""
    width = max(width, CARD_LEAST_WIDTH)
    lines = card_lines(summary, width - 4, now, cursor=cursor)
    accent = "bold $accent" if focused else "$accent"
    style = accent if cursor else FRAME_STYLE[summary.status]
    return framed_lines(lines, width, cursor and focused, style)


def line_content(line: Line) -> Content:
    """A line of pieces as Content (the same text and spans)."""
    return Content("").join(Content.styled(text, style) for text, style in line)


def card_content(summary: StoreSummary, width: int, now: datetime, *, cursor: bool,
                 focused: bool) -> list[Content]:
    """A card `width` cells wide, frame included, a Content per line (CARD_HEIGHT lines)."""
    return [line_content(line)
            for line in card_rows(summary, width, now, cursor=cursor, focused=focused)]
