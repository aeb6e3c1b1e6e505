"""Store cards draw through the line API and keep their last renders: what they draw must
always be what `card_lines` says for the store, the clock and the theme of the moment."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.tui.factories import FROZEN_NOW
from tests.tui.screen_helpers import settle
from tui.widgets.card_grid import CardGrid
from tui.widgets.store_card import StoreCard


def _text(card: StoreCard) -> list[str]:
    return [strip.text for strip in (card.render_line(y) for y in range(8))]


def _colours(card: StoreCard) -> set[str]:
    return {str(segment.style.color) for y in range(8) for segment in card.render_line(y)
            if segment.style is not None and segment.style.color is not None}


async def test_cards_draw_their_content_and_follow_the_clock_and_the_theme(
        make_app: Any, fleet: Any) -> None:
    now = [FROZEN_NOW]

    def clock() -> datetime:
        return now[0]

    app = make_app(clock=clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        grid = app.screen.query_one(CardGrid)
        card = next(c for c in grid.query(StoreCard) if c.summary and not c.cursor)
        assert card.summary is not None
        lines = _text(card)
        # The strips are the card's Content, line by line.
        assert lines == card.render().plain.split("\n")
        assert card.summary.name[:10] in lines[1]
        assert "synced 3 min ago" in "".join(lines)

        # The cursor moves onto the card and away again: the lines follow it each time.
        for _ in range(2):
            grid.select_store(card.summary.id)
            await settle(pilot)
            assert card.cursor and _text(card)[0].startswith("┏")
            grid.action_jump("first" if grid.cursor else "last")
            await settle(pilot)
            assert not card.cursor and _text(card) == lines

        # An hour later (a refresh, as the relative-time tick does): the times move.
        now[0] = FROZEN_NOW + timedelta(hours=1)
        grid.refresh_cards()
        await settle(pilot)
        assert "synced 1 h ago" in "".join(_text(card))

        # Another theme: other colours, not the ones kept from before.
        before = _colours(card)
        app.theme = "textual-light"
        await settle(pilot)
        after = _colours(card)
        assert after and after != before
        assert _text(card) == card.render().plain.split("\n")
