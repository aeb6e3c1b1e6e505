"""The card grid draws each card through the line API and keeps its strips: what it draws must
always be what `card_content` says for the store, the cursor, the clock and the theme of the
moment, and a screen line of the grid is the same line of every card in that row."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.tui.factories import FROZEN_NOW
from tests.tui.screen_helpers import settle
from tui.widgets.card_grid import CardGrid
from tui.widgets.store_card import CARD_HEIGHT


def _text(grid: CardGrid, index: int) -> list[str]:
    return [strip.text for strip in grid.card_strips(index)]


def _colours(grid: CardGrid, index: int) -> set[str]:
    return {str(segment.style.color) for strip in grid.card_strips(index) for segment in strip
            if segment.style is not None and segment.style.color is not None}


def _screen_text(grid: CardGrid, index: int) -> list[str]:
    """Card `index` as the grid draws it on screen (its columns of the grid's lines)."""
    region = grid.card_region(index)
    top = region.y - int(grid.scroll_y)
    return [grid.render_line(y).text[region.x:region.right]
            for y in range(top, top + CARD_HEIGHT)]


async def test_cards_draw_their_content_and_follow_the_clock_and_the_theme(
        make_app: Any, fleet: Any) -> None:
    now = [FROZEN_NOW]

    def clock() -> datetime:
        return now[0]

    app = make_app(clock=clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        grid = app.screen.query_one(CardGrid)
        index = next(i for i in grid.visible_indices() if i != grid.cursor)
        store = grid.stores[index]
        lines = _text(grid, index)
        # The strips are the card's Content, line by line, and the grid's lines show them.
        assert lines == [line.plain for line in grid.card_lines(index)]
        assert _screen_text(grid, index) == lines
        assert store.name[:10] in lines[1]
        assert "synced 3 min ago" in "".join(lines)

        # The cursor moves onto the card and away again: the lines follow it each time.
        for _ in range(2):
            grid.select_store(store.id)
            await settle(pilot)
            assert grid.cursor == index and _text(grid, index)[0].startswith("┏")
            assert _screen_text(grid, index)[0].startswith("┏")
            grid.action_jump("first" if grid.cursor else "last")
            await settle(pilot)
            assert grid.cursor != index and _text(grid, index) == lines
        grid.action_jump("first")
        await settle(pilot)
        assert _screen_text(grid, index) == lines

        # An hour later (a refresh, as the relative-time tick does): the times move.
        now[0] = FROZEN_NOW + timedelta(hours=1)
        grid.refresh_cards()
        await settle(pilot)
        assert "synced 1 h ago" in "".join(_text(grid, index))
        assert "synced 1 h ago" in "".join(_screen_text(grid, index))

        # Another theme: other colours, not the ones kept from before.
        before = _colours(grid, index)
        app.theme = "textual-light"
        await settle(pilot)
        after = _colours(grid, index)
        assert after and after != before
        assert _text(grid, index) == [line.plain for line in grid.card_lines(index)]


def test_line_styles_draw_what_content_render_draws() -> None:
    """The kept span styles (tui/widgets/line_styles.py) give every cell the style
    `Content.render` gives it: pieces joined end to end, a line without spans, and (by the
    fallback) spans that overlap; a second drawing, from the kept styles, is the same."""
    from textual.content import Content
    from textual.style import Style

    from tui.widgets.line_styles import LineStyles

    def cells(segments: list[Any]) -> list[tuple[str, Any]]:
        return [(char, segment.style) for segment in segments for char in segment.text]

    base = Style.parse("white on #202020")
    lines = [
        Content.styled("● Connected", "bold green") + Content(" · ")
        + Content.styled("3 min ago", "dim") + Content("  "),
        Content("no spans at all"),
        Content("overlapping spans").stylize("bold", 0, 11).stylize("italic", 5, 17),
        Content.styled("Acme", "reverse").pad_right(6) + Content.styled("x", "red on blue"),
    ]
    styles = LineStyles()
    for line in lines:
        expected = [(char, style.rich_style) for text, style
                    in line.render(base, end="", parse_style=Style.parse) for char in text]
        assert cells(styles.segments(line, base, Style.parse, "theme")) == expected
        assert cells(styles.segments(line, base, Style.parse, "theme")) == expected


# The card as it was built before the grid drew pieces: Textual Content joined with `+` and
# cut with Content.truncate. The pieces (tui/widgets/store_card.py) must draw exactly this.
def _content_entity_cell(row: Any, width: int) -> Any:
    from textual.content import Content

    from engine.domain.status import EntityState
    from tui.clock import compact_count
    from tui.widgets.status_badge import STATE_STYLE, state_glyph

    if row.state is EntityState.SYNCED:
        value = compact_count(row.records)
    elif row.state is EntityState.SYNCING:
        value = f"{row.done * 100 // row.total}%" if row.total else "syncing"
    else:
        value = row.state.label.lower()
    label = Content(f" {row.entity.label}")
    value_content = Content.styled(value, STATE_STYLE[row.state])
    room = width - 1 - value_content.cell_length - 1
    glyph = Content.styled("▲", "bold $text-error") if row.full_sync_failed \
        and row.state is EntityState.SYNCED else state_glyph(row.state)
    left = glyph + label.truncate(max(room, 0), ellipsis=True, pad=True)
    return left + Content(" ") + value_content


def _content_card(summary: Any, width: int, now: datetime, *, cursor: bool,
                  focused: bool) -> list[Any]:
    from textual.content import Content

    from engine.domain.status import CHECKING, Status
    from tui.clock import relative
    from tui.safe_text import content
    from tui.widgets.status_badge import badge
    from tui.widgets.store_card import DELETING, FRAME_STYLE, FRAMES, sync_footer

    width = max(width, 12)
    inner_width = width - 4
    name = content(summary.name, "bold reverse" if cursor else "bold").truncate(
        inner_width, ellipsis=True)
    domain = content(summary.domain, "$foreground-muted").truncate(inner_width, ellipsis=True)
    marker = DELETING if summary.deleting else CHECKING if summary.checking else ""
    status = badge(summary.status)
    if summary.status is not Status.CONNECTED and summary.status_detail and not marker:
        status += content(f" · {summary.status_detail}", "$foreground-muted")
    if marker:
        room = inner_width - len(marker) - 1
        status = status.truncate(max(room, 0), ellipsis=True, pad=True)
        status += Content(" ") + Content.styled(marker, "bold $text-accent")
    status = status.truncate(inner_width, ellipsis=True)
    half = min((inner_width - 1) // 2, 16)
    rows = summary.entities
    entities = [
        _content_entity_cell(rows[0], half) + Content(" ")
        + _content_entity_cell(rows[1], inner_width - half - 1),
        _content_entity_cell(rows[2], half) + Content(" ")
        + _content_entity_cell(rows[3], inner_width - half - 1),
    ]
    synced = relative(summary.last_synced_at, now, never="never synced")
    if summary.last_synced_at is not None:
        synced = f"synced {synced}"
    syncing = sync_footer(summary, now)
    footer = (Content.styled(syncing, "$text-accent") if syncing else Content.styled(
        f"{summary.records_total:,} records · {synced}", "$foreground-muted"
    )).truncate(inner_width, ellipsis=True)
    accent = "bold $accent" if focused else "$accent"
    style = accent if cursor else FRAME_STYLE[summary.status]
    tl, h, tr, v, bl, br = FRAMES["heavy" if cursor and focused else "round"]
    edge = Content.styled(v, style)
    lines = [Content.styled(tl + h * (width - 2) + tr, style)]
    lines += [edge + Content(" ") + line.truncate(inner_width, pad=True) + Content(" ") + edge
              for line in [name, domain, status, *entities, footer]]
    lines.append(Content.styled(bl + h * (width - 2) + br, style))
    return lines


def _variants(stores: list[Any]) -> list[Any]:
    """The fleet's summaries and harder ones: untrusted names (wide, combining, control and
    bidi characters, markup, empty, long), every marker, syncing entities with and without a
    total and a rate, a failed full sync, never synced."""
    from engine.domain.progress import SyncProgress
    from engine.domain.status import EntityState, Status

    names = ["", "A", "x" * 80, "店舗テスト" * 6, "🛒 Cart 🛒" * 5, "e\u0301te\u0301 cafe\u0301",
             "\x1b[31mred\x07\x00bell", "\u202eevil\u200bname", "[bold]markup[/]",
             "Tab\tand\nnewline", "wide 店 at the edge xxxxxxxxxxxxxxxxx店"]
    details = [None, "", "Token revoked by the merchant", "店舗" * 30, "\x1b]8;;x\x07link"]
    base = stores[0]
    variants = list(stores)
    for number, name in enumerate(names):
        status = list(Status)[number % len(Status)]
        variants.append(base._replace(name=name, domain=name + ".myshopify.com", status=status,
                                      status_detail=details[number % len(details)]))
    for status in Status:
        for detail in details:
            variants.append(base._replace(status=status, status_detail=detail))
            variants.append(base._replace(status=status, status_detail=detail, checking=True))
            variants.append(base._replace(status=status, status_detail=detail, deleting=True))
    rows = base.entities
    progress = [None, SyncProgress("import", 1234.5, 95.0),
                SyncProgress("export", None, None, 10, 5, 100, 20.0, 8.0)]
    for number, state in enumerate(EntityState):
        changed = tuple(row._replace(state=state, done=37 * number, total=(None, 0, 1000)[
            number % 3], progress=progress[number % 3], full_failed_at=FROZEN_NOW)
            for row in rows)
        variants.append(base._replace(entities=changed, last_synced_at=None,
                                      records_total=10 ** (number + 3)))
    return variants


async def test_cards_drawn_from_pieces_are_the_content_cards_cell_for_cell(
        make_app: Any, fleet: Any) -> None:
    """The grid draws a card from pieces (text, style) laid end to end; drawn through the
    grid's styles, every line is the Content-built card's line: the same segments (hence the
    same cells, characters and styles), at every width, with and without the cursor and the
    focus, and in both themes."""
    from tui.widgets.line_styles import LineStyles
    from tui.widgets.store_card import card_content, card_rows, cells

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        grid = app.screen.query_one(CardGrid)
        variants = _variants(list(grid.stores))
        compared = 0
        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            await settle(pilot)
            base, parse = grid.visual_style, grid._get_style
            for summary in variants:
                for width in (5, 12, 20, 39, 40, 47, 61):
                    for cursor, focused in ((False, False), (True, False), (True, True)):
                        old = _content_card(summary, width, FROZEN_NOW, cursor=cursor,
                                            focused=focused)
                        new = card_rows(summary, width, FROZEN_NOW, cursor=cursor,
                                        focused=focused)
                        assert len(new) == len(old) == CARD_HEIGHT
                        # Exactly the card's width (the grid gives its strips that length).
                        assert {cells(line) for line in new} == {max(width, 12)}
                        for old_line, new_line in zip(old, new, strict=True):
                            assert LineStyles().pieces(new_line, base, parse, theme) \
                                == LineStyles().segments(old_line, base, parse, theme), (
                                    summary.name, width, cursor, focused)
                        assert [line.plain for line in card_content(
                            summary, width, FROZEN_NOW, cursor=cursor, focused=focused)] \
                            == [line.plain for line in old]
                        compared += 1
        assert compared == 2 * len(variants) * 7 * 3


def _content_table_cells(table: Any, name: Any, domain: Any, status: Any, entities: Any,
                         records: Any, synced: Any, width: int) -> Any:
    """The table's line as it was built from Content (the reference for its pieces)."""
    from textual.content import Content

    from tui.widgets.fleet_table import ENTITIES_WIDTH, RECORDS_WIDTH, STATUS_WIDTH, SYNC_WIDTH

    name_w, domain_w = table._name_widths(width)
    parts = [name.truncate(name_w, ellipsis=True, pad=True)]
    if domain_w:
        parts.append(domain.truncate(domain_w, ellipsis=True, pad=True))
    parts += [status.truncate(STATUS_WIDTH, ellipsis=True, pad=True),
              entities.truncate(ENTITIES_WIDTH, pad=True), records.right(RECORDS_WIDTH),
              synced.right(SYNC_WIDTH)]
    return Content(" ").join(parts)


def _content_table_row(table: Any, store: Any, width: int, now: datetime, cursor: bool) -> Any:
    from textual.content import Content

    from engine.domain.status import CHECKING
    from tui.clock import relative
    from tui.safe_text import content
    from tui.widgets.status_badge import STATUS_GLYPH, STATUS_STYLE, state_glyph
    from tui.widgets.store_card import DELETING

    pointer = Content("▶ " if cursor else "  ")
    marker = DELETING if store.deleting else CHECKING if store.checking else ""
    status = Content.styled(f"{STATUS_GLYPH[store.status]} {marker or store.status.label}",
                            "bold $text-accent" if marker else STATUS_STYLE[store.status])
    entities = Content(" ").join(state_glyph(row.state) + Content(" ") for row in store.entities)
    synced = relative(store.last_synced_at, now, never="never")
    return _content_table_cells(table, pointer + content(store.name, "bold"),
                                content(store.domain, "$foreground-muted"), status, entities,
                                Content(f"{store.records_total:,}"), Content(synced), width)


def _content_table_header(table: Any, width: int) -> Any:
    from textual.content import Content

    sort, reverse = table.sorted_by
    marked = sort != "name" or reverse

    def title(text: str, column: str) -> Content:
        if marked and column == sort:
            return Content(f"{text} {'↑' if reverse else '↓'}")
        return Content(text)

    return _content_table_cells(table, title("  Name", "name"), title("Domain", "domain"),
                                title("Status", "status"), Content("Cu Or Pr Co"),
                                title("Records", "records"), title("Last sync", "synced"),
                                width)


async def test_table_rows_drawn_from_pieces_are_the_content_rows(make_app: Any,
                                                                 fleet: Any) -> None:
    """The fleet table draws its header and rows from pieces too: the same segments as the
    Content-built line, for the card variants, narrow and wide (with the domain column), with
    and without the cursor, every sorted header."""
    from tui.widgets.fleet_table import FleetTable
    from tui.widgets.line_styles import LineStyles

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        table = app.screen.query_one(FleetTable)
        base, parse, theme = table.visual_style, table._get_style, app.theme
        compared = 0
        for summary in _variants(list(table.stores)):
            for width in (40, 99, 100, 120, 181):
                for cursor in (False, True):
                    old = _content_table_row(table, summary, width, FROZEN_NOW, cursor)
                    new = table._row(summary, width, FROZEN_NOW, cursor)
                    assert LineStyles().pieces(new, base, parse, theme) == LineStyles(
                        ).segments(old, base, parse, theme), (summary.name, width, cursor)
                    compared += 1
        for sort in ("name", "domain", "status", "records", "synced", "problems"):
            for reverse in (False, True):
                table.sorted_by = (sort, reverse)
                for width in (40, 99, 100, 120):
                    assert LineStyles().pieces(table._header(width), base, parse, theme) \
                        == LineStyles().segments(_content_table_header(table, width), base,
                                                 parse, theme)
        assert compared > 500
