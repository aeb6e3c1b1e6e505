"""Slow links: an idle screen sends nothing to the terminal, and going back repaints once.

The bytes are those the app hands its driver (what a terminal, or an SSH link, would carry);
the byte figures themselves are in tests/bench/test_bytes_pty.py (a real pseudo-terminal).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from textual.geometry import Region

from tests.support import wait_until
from tests.tui.factories import frozen_clock
from tests.tui.screen_helpers import settle, terminal_writes
from tui.screens.dashboard import DashboardScreen
from tui.screens.live import TIMES_EVERY
from tui.screens.store import StoreScreen
from tui.widgets.card_grid import CardGrid


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every write the app makes to its (headless) terminal."""
    return terminal_writes(monkeypatch, lambda data: len(data.encode()))


async def test_an_idle_store_screen_sends_nothing_over_a_covered_dashboard(
    make_app: Any, fleet: Any, written: list[int]
) -> None:
    """The dashboard under the store screen does not poll (a covered screen that handles any
    message makes Textual repaint the whole top screen); it re-reads when it is back."""
    app = make_app(poll=True, poll_interval=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        # The dashboard's start-up is over (the whole-fleet read after the first screenful,
        # which on a loaded machine can land after the store screen opened) before the idle
        # window starts.
        await wait_until(pilot, lambda: app.dashboard.fleet_loaded)
        await pilot.press("enter")
        await settle(pilot)
        store = app.screen
        assert isinstance(store, StoreScreen)
        started = store._live_started
        await wait_until(pilot, lambda: store._live_started > started + 4)
        await settle(pilot)
        polls = store._live_started
        written.clear()
        # More polls than TIMES_EVERY: the relative times are re-rendered once (frozen clock).
        await wait_until(pilot, lambda: store._live_started > polls + TIMES_EVERY + 2)
        await settle(pilot)
        assert sum(written) == 0
        assert app.dashboard._live_timer is None  # no timer while covered
        reads = app.dashboard._live_started
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert app.dashboard._live_started > reads  # back: it re-read at once
        await wait_until(pilot, lambda: app.dashboard._live_timer is not None)  # and polls


async def test_going_back_repaints_the_dashboard_no_more_than_textual_does(
    make_app: Any, fleet: Any, written: list[int]
) -> None:
    """Back costs the whole repaints Textual makes on a pop (one as the dashboard resumes, and
    the two refreshes after the store screen is removed, which land in one frame or two) and
    nothing more, whether the dashboard's re-read lands before or after them: an unchanged
    fleet changes nothing on screen."""
    app = make_app(poll=True, poll_interval=3600)
    backs: list[list[int]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        written.clear()
        app.screen.refresh(repaint=True)
        await settle(pilot)
        whole = sum(written)
        for _ in range(3):
            await pilot.press("enter")
            await settle(pilot)
            written.clear()
            await pilot.press("escape")
            await settle(pilot)
            await wait_until(pilot, lambda: app.dashboard._live_timer is not None)
            await settle(pilot)
            backs.append(list(written))
    assert whole > 5_000
    for back in backs:
        assert len(back) <= 3 and all(size <= whole for size in back), (back, whole)


async def test_cards_repaint_only_when_their_relative_time_ages(
    make_app: Any, fleet: Any, written: list[int]
) -> None:
    now = [frozen_clock()]
    app = make_app(clock=lambda: now[0])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        grid = app.screen.query_one(CardGrid)
        repainted: list[tuple[Region, ...]] = []

        def spy(*regions: Region, **_kw: Any) -> CardGrid:
            repainted.append(regions)
            return grid

        grid.refresh = spy  # type: ignore[method-assign]  # a spy
        app.dashboard.tick()
        assert repainted == []  # the same minute: every card would say the same
        now[0] += timedelta(days=1)  # "synced 4 d ago" → "5 d ago"
        app.dashboard.tick()
        # Each repaint is one card's region on screen, of a card that shows a store.
        top = int(grid.scroll_y)
        screen = Region(0, 0, *grid.size)
        cards = {grid.card_region(i).translate((0, -top)).intersection(screen)
                 for i in grid.visible_indices()}
        assert repainted and all(len(regions) == 1 and regions[0] in cards
                                 for regions in repainted), repainted
