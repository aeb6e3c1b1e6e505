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
