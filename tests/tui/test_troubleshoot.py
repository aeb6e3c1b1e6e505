"""Troubleshoot: findings grouped by store with fix and key; enter runs the fix."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from typing import Any

import pytest
from textual.widgets import OptionList

from engine.domain.status import SYNC_RERUN_STARTED, Entity, EntityState
from engine.persistence.models import EntitySync, Job, Store
from tests.tui.factories import FROZEN_NOW, make_store
from tests.tui.screen_helpers import (
    open_troubleshoot,
    pressing,
    screen_text,
    settle,
    toasts,
    webhooks_healthy,
)
from tui.screens.confirm import ConfirmScreen
from tui.screens.settings import SettingsScreen
from tui.screens.troubleshoot import CLEAN, TroubleshootScreen, finding_id

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


@pytest.fixture
def troubled_fleet(fleet: dict[str, Any]) -> dict[str, Any]:
    """The demo fleet (webhooks in place) plus a store stuck in Syncing for 40 minutes."""
    stuck = make_store("stuck-sync.myshopify.com", "Stuck Sync",
                       states={Entity.ORDERS: EntityState.SYNCING})
    EntitySync.update(progress_at=FROZEN_NOW - timedelta(minutes=40)).where(
        (EntitySync.store == stuck.id) & (EntitySync.entity == "orders")).execute()
    webhooks_healthy()
    return fleet | {"stuck": stuck}


async def highlight(pilot: Any, screen: TroubleshootScreen, store_id: int, action: str) -> None:
    finding = next(f for f in screen.findings if f.store_id == store_id and f.action == action)
    options = screen.query_one(OptionList)
    options.highlighted = options.get_option_index(finding_id(finding))
    await pilot.pause()


class TestTroubleshoot:
    async def test_findings_grouped_by_store_with_fix_and_key(self, make_app,
                                                              troubled_fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 80)) as pilot:
            screen = await open_troubleshoot(pilot)
            text = screen_text(app)
        assert "8 problems in 8 stores" in text
        order = [f.store_id for f in screen.findings]
        groups = [store_id for store_id, _ in itertools.groupby(order)]
        assert len(groups) == len(set(groups)) == 8  # each store's findings together
        assert "Orders stuck in Syncing (no progress for 40 min)" in text
        flat = re.sub(r" +", " ", text)
        assert "Orders sync failed" in flat and "Key: r Retry" in flat
        assert "Missing scopes: read_orders" in flat and "Key: x Reconnect" in flat
        assert "Readiness failed: API responding" in flat and "Key: c Check health" in flat
        assert "Categories off: Product catalogue" in flat and "Key: e Sync settings" in flat
        assert "Disconnected: syncs and webhooks are paused" in flat
        assert "Fix: Run Re-sync, which restarts the bulk import" in flat
        assert "Evil ␛[31mRed␛[0m Shop" in text and "\x1b" not in text

    async def test_clean_fleet_says_so(self, make_app, offline_runtime) -> None:
        make_store("all-good.myshopify.com", "All Good")
        webhooks_healthy()
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await open_troubleshoot(pilot)
            text = screen_text(app)
        assert CLEAN in text and "all clear" in text

    async def test_enter_on_a_stuck_entity_resyncs_after_confirm(self, make_app,
                                                                 troubled_fleet) -> None:
        stuck = troubled_fleet["stuck"]
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_troubleshoot(pilot)
            await highlight(pilot, screen, stuck.id, "resync")
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("tab", "enter")
            await settle(pilot)
            assert SYNC_RERUN_STARTED in toasts(app)
            jobs = [j.entity for j in Job.select().where(Job.store_id == stuck.id)]
            assert jobs == ["customers", "orders", "products", "collections"]

    async def test_enter_on_a_failed_entity_retries_only_it(self, make_app,
                                                            troubled_fleet) -> None:
        failing = troubled_fleet["failing"]
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_troubleshoot(pilot)
            await highlight(pilot, screen, failing.id, "retry")
            await pilot.press("enter")
            await settle(pilot)
        assert [j.entity for j in Job.select().where(Job.store_id == failing.id)] == ["orders"]

    async def test_settings_finding_opens_the_drawer(self, make_app, troubled_fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_troubleshoot(pilot)
            await highlight(pilot, screen, troubled_fleet["catalogue_off"].id, "settings")
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, SettingsScreen)
            assert app.screen.store_id == troubled_fleet["catalogue_off"].id

    async def test_store_keys_follow_the_highlighted_finding(self, make_app,
                                                             troubled_fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_troubleshoot(pilot)
            await highlight(pilot, screen, troubled_fleet["paused"].id, "reconnect")
            assert screen.check_action("store_action", ("reconnect",))
            assert not screen.check_action("store_action", ("resync",))
            await pilot.press("x")
            await settle(pilot)
            assert not Store.get_by_id(troubled_fleet["paused"].id).paused
            assert all(f.store_id != troubled_fleet["paused"].id for f in screen.findings)


@pytest.mark.parametrize("size", SIZES)
class TestTroubleshootSnapshots:
    def test_findings(self, snap_compare, make_app, troubled_fleet, size) -> None:
        assert snap_compare(make_app(), terminal_size=size, run_before=pressing("t"))

    def test_clean_fleet(self, snap_compare, make_app, offline_runtime, size) -> None:
        make_store("all-good.myshopify.com", "All Good")
        webhooks_healthy()
        assert snap_compare(make_app(), terminal_size=size, run_before=pressing("t"))
