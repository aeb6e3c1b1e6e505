"""Backfill progress on screen: the store screen's Detail and row line, the card's footer while
it syncs (rate and ETA, the clock frozen), and the export phase's own progress."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine.domain.progress import RateWindow, SyncProgress, describe, format_eta, format_rate
from engine.persistence.reads import store_summary
from tests.tui.factories import FROZEN_NOW
from tests.tui.operator_fixtures import mid_backfill
from tests.tui.screen_helpers import pressing, screen_text, settle
from tui.screens.store import StoreScreen
from tui.widgets.store_card import sync_footer

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


class TestWords:
    def test_import_and_export_phases(self) -> None:
        info = SyncProgress("import", 1234.4, 145.0, updated_at=FROZEN_NOW)
        assert describe(35_679, 210_236, info, FROZEN_NOW + timedelta(seconds=4)) == (
            "Importing: 35,679 of 210,236 · 1,234/s · ETA 2 min 21 s")
        export = SyncProgress("export", None, None, 14_400, 7_200, 12_000, 2_400.0, 6.0,
                              FROZEN_NOW)
        assert describe(0, 12_000, export, FROZEN_NOW) == (
            "Exporting at Shopify: 14,400 objects (7,200 of 12,000) · 2,400/s · ETA 6 s")
        assert describe(10, None, None, None) == "Importing: 10"
        assert format_eta(None) == "ETA —" and format_rate(None) == "—/s"
        assert format_eta(4000) == "ETA 1 h 6 min"
        assert SyncProgress.from_json(info.to_json()) == SyncProgress(
            "import", 1234.4, 145.0, updated_at=FROZEN_NOW)
        assert SyncProgress.from_json({"phase": "?"}) is None
        assert SyncProgress.from_json("garbage") is None

    def test_rate_window_slides_and_restarts(self) -> None:
        window = RateWindow(window=10)
        assert window.rate() is None
        for second in range(0, 31):  # 100/s for 20 s, then 1,000/s
            window.add(float(second), second * 100 if second <= 20 else
                       2000 + (second - 20) * 1000)
        assert window.rate() == pytest.approx(1000, rel=0.01)  # the old pace has slid out
        assert window.eta(5000) == pytest.approx(5.0, rel=0.01)
        assert window.eta(0) == 0.0
        window.add(31.0, 10)  # the count started over: measure afresh
        assert window.rate() is None


def test_card_footer_while_syncing(offline_runtime) -> None:
    store = mid_backfill()
    footer = sync_footer(store_summary(store.id), FROZEN_NOW)
    assert footer == "Orders 16% · 1,234/s · ETA 2 min"


async def test_store_screen_shows_rate_and_eta(make_app, offline_runtime) -> None:
    store = mid_backfill()
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.push_screen(StoreScreen(store.id))
        await settle(pilot)
        await pilot.press("down")  # the row line says the highlighted entity in full
        await settle(pilot)
        orders = screen_text(app)
        await pilot.press("down")
        await settle(pilot)
        products = screen_text(app)
    # Written 4 s before the frozen now: the ETA has aged by those 4 s.
    assert "Orders: Importing: 35,679 of 210,236 · 1,234/s · ETA 2 min 21 s" in orders
    assert ("Products: Exporting at Shopify: 14,400 objects (7,200 of 12,000) · 2,400/s · "
            "ETA 2 s") in products


@pytest.mark.parametrize("size", SIZES)
def test_mid_backfill_snapshot(snap_compare, make_app, offline_runtime, size) -> None:
    store = mid_backfill()

    def setup(app: Any) -> None:
        app.push_screen(StoreScreen(store.id))

    assert snap_compare(make_app(), terminal_size=size,
                        run_before=pressing("down", setup=setup))


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_card_mid_backfill_snapshot(snap_compare, make_app, offline_runtime,
                                              size) -> None:
    mid_backfill()
    assert snap_compare(make_app(), terminal_size=size, run_before=pressing())
