"""Snapshots of the dashboard at 120x40 and 80x24: every status and entity state, both views,
filter, empty fleet, card menu and help. Frozen clock, no polling, fixed theme.

Update (only these) with: pytest tests/tui/test_dashboard_snapshots.py --snapshot-update
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.tui.screen_helpers import settle

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


def pressing(*keys: str) -> Callable[[Any], Awaitable[None]]:
    """A run_before that waits for the first load, presses `keys`, then lets workers finish."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


def on_store(name: str, *keys: str) -> Callable[[Any], Awaitable[None]]:
    """A run_before that puts the cursor on the store called `name`, then presses `keys`."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        screen.select_store(next(s.id for s in screen.all_stores if s.name == name))
        await settle(pilot)
        await pressing(*keys)(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
class TestGridSnapshots:
    def test_cards(self, snap_compare, make_app, fleet, size) -> None:
        assert snap_compare(make_app(), terminal_size=size, run_before=pressing())

    def test_cards_scrolled_to_the_last_store(self, snap_compare, make_app, fleet, size) -> None:
        assert snap_compare(make_app(), terminal_size=size, run_before=pressing("end"))


@pytest.mark.parametrize("size", SIZES)
class TestTableSnapshots:
    def test_table_view(self, snap_compare, make_app, fleet, size) -> None:
        assert snap_compare(make_app(), terminal_size=size,
                            run_before=on_store("Berlin Bikes", "v"))


@pytest.mark.parametrize("size", SIZES)
class TestFilterSnapshots:
    def test_filter_by_text_and_status(self, snap_compare, make_app, fleet, size) -> None:
        assert snap_compare(make_app(), terminal_size=size,
                            run_before=pressing("f", "f", "f", "slash", "r"))


@pytest.mark.parametrize("size", SIZES)
class TestEmptySnapshots:
    def test_empty_fleet(self, snap_compare, make_app, offline_runtime, size) -> None:
        assert snap_compare(make_app(), terminal_size=size, run_before=pressing())


@pytest.mark.parametrize("size", SIZES)
class TestCardMenuSnapshots:
    def test_card_menu_open(self, snap_compare, make_app, fleet, size) -> None:
        assert snap_compare(make_app(), terminal_size=size,
                            run_before=on_store("Paused Pottery", "m"))


@pytest.mark.parametrize("size", SIZES)
class TestHelpSnapshots:
    def test_help_open(self, snap_compare, make_app, fleet, size) -> None:
        assert snap_compare(make_app(), terminal_size=size,
                            run_before=pressing("question_mark"))
