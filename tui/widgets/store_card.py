"""One store as a card: what the card grid (tui/widgets/card_grid.py) draws for a store.

    Acme Outdoor
    acme-outdoor.myshopify.com
    ● Connected                   Checking…
    ✔ Customers  1,200 ✔ Orders       1,200
    ✔ Products   1,200 ✔ Collections    312
    4,800 records · synced 3 min ago

The grid draws a card's lines itself (no widget per card) and keeps the strips it made from
them; every untrusted string (name, domain, status detail) goes through tui.safe_text.
"""

from __future__ import annotations

from datetime import datetime

from textual.content import Content

from engine.domain.progress import format_eta, format_rate
from engine.domain.status import CHECKING, EntityState, Status
from engine.domain.views import EntityRow, StoreSummary
from tui.clock import compact_count, relative
from tui.safe_text import content
from tui.widgets.status_badge import STATE_STYLE, badge, state_glyph

CARD_HEIGHT = 8  # six lines of content in a frame
CARD_MIN_WIDTH = 39  # 35 cells of content: the two entity columns fit exactly
DELETING = "Deleting…"


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


def card_content(summary: StoreSummary, width: int, now: datetime, *, cursor: bool,
                 focused: bool) -> list[Content]:
    """A card `width` cells wide, frame included, a Content per line (CARD_HEIGHT lines).

    The card draws its own frame: the cursor card's frame is the accent colour (heavy while
    the grid has the focus), so moving the cursor redraws two cards and never re-lays out."""
    width = max(width, 12)
    lines = card_lines(summary, width - 4, now, cursor=cursor)
    accent = "bold $accent" if focused else "$accent"
    style = accent if cursor else FRAME_STYLE[summary.status]
    return framed_lines(lines, width, cursor and focused, style)
