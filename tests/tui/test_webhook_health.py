"""The Details drawer's webhook health: per topic, subscribed, deliveries and duplicates in the
last 24 h, rejections by reason, lag median / worst, last delivery, and a subscription found at
another URL (the clock frozen)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.tui.factories import FROZEN_NOW
from tests.tui.operator_fixtures import OTHER, with_deliveries
from tests.tui.screen_helpers import pressing, screen_text, settle
from tui.screens.details import DetailsScreen, topic_line

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]
async def test_details_shows_per_topic_health(make_app, offline_runtime) -> None:
    store = with_deliveries()
    app = make_app()
    async with app.run_test(size=(140, 80)) as pilot:
        await settle(pilot)
        app.push_screen(DetailsScreen(store.id))
        await settle(pilot)
        text = screen_text(app)
        screen = app.screen
        assert isinstance(screen, DetailsScreen)
        lines = {t.topic: topic_line(t, FROZEN_NOW).plain for t in screen.health}
    assert lines["orders/create"].split() == (
        "✔ orders/create 4 · 1 dup · 1 rejected (1 signature) · lag 1.0 s / 12 min · last 2 "
        f"min ago ⚠ also registered at {OTHER}").split()
    assert lines["orders/updated"].endswith("1 · lag 2.0 s / 2.0 s · last 5 min ago")
    assert lines["customers/update"].split()[-4:] == ["last", "3", "d", "ago"]
    assert " 0 · last 3 d ago" in lines["customers/update"]
    # On screen (the drawer wraps long lines): the same figures.
    for fragment in ("orders/create", "4 · 1 dup", "1 rejected (1", "lag 1.0 s / 12 min",
                     "⚠ also registered at", "orders/updated", "lag 2.0 s / 2.0 s"):
        assert fragment in text, fragment


@pytest.mark.parametrize("size", SIZES)
def test_webhook_health_snapshot(snap_compare, make_app, offline_runtime, size) -> None:
    store = with_deliveries()

    def setup(app: Any) -> None:
        app.push_screen(DetailsScreen(store.id))

    assert snap_compare(make_app(), terminal_size=size,
                        run_before=pressing("end", setup=setup))
