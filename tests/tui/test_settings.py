"""The Sync settings drawer: category switches, the initial sync, Sync status, Re-sync."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from textual.widgets import Button, ProgressBar, Switch

from engine.domain.status import SYNC_RERUN_STARTED
from engine.persistence.models import EntitySync, Job, Store
from engine.registry import make_runner
from tests.support import wait_until
from tests.tui.screen_helpers import connect_sim_store, pressing, screen_text, settle, toasts
from tui.screens.confirm import ConfirmScreen
from tui.screens.settings import JUST_CONNECTED, SettingsScreen
from tui.widgets.entity_table import EntityTable

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


async def open_settings(pilot: Any, store_id: int, **kw: Any) -> SettingsScreen:
    await settle(pilot)
    screen = SettingsScreen(store_id, **kw)
    pilot.app.push_screen(screen)
    await settle(pilot)
    return screen


def queued(store_id: int) -> list[str]:
    return [j.entity for j in Job.select().where(
        (Job.store_id == store_id) & (Job.kind == "sync") & (Job.state == "queued"))]


class TestCategorySwitches:
    async def test_labels_are_exact(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await open_settings(pilot, fleet["healthy"].id)
            text = screen_text(app)
        for label in ("Customer profiles", "Email marketing consent", "SMS marketing consent",
                      "Orders, checkouts, and carts", "Product catalogue"):
            assert re.search(rf"\bon +{re.escape(label)}", text), label

    async def test_toggle_is_persisted_and_back(self, make_app, fleet) -> None:
        store = fleet["healthy"]
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_settings(pilot, store.id)
            switch = screen.query_one("#cat-orders", Switch)
            switch.focus()
            await pilot.press("space")
            await settle(pilot)
            assert Store.get_by_id(store.id).cat_orders is False
            assert "Orders, checkouts, and carts off" in toasts(app)
            assert re.search(r"\boff +Orders, checkouts, and carts", screen_text(app))
            orders = screen.query_one(EntityTable).row_of(next(
                r.entity for r in screen.detail.summary.entities if r.entity.value == "orders"))
            assert orders is not None and orders.state.value == "off"
            await pilot.press("space")
            await settle(pilot)
            assert Store.get_by_id(store.id).cat_orders is True
            assert queued(store.id) == ["orders"]  # turned back on: it catches up

    async def test_deleting_store_cannot_be_changed(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_settings(pilot, fleet["deleting"].id)
            assert all(s.disabled for s in screen.query(Switch))


class TestSyncStatus:
    async def test_retry_on_a_failed_row(self, make_app, fleet) -> None:
        store = fleet["failing"]
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_settings(pilot, store.id)
            table = screen.query_one(EntityTable)
            table.focus()
            await pilot.press("down", "enter")
            await settle(pilot)
        assert queued(store.id) == ["orders"]

    async def test_the_highlighted_row_is_explained_in_full(self, make_app, fleet) -> None:
        store = fleet["failing"]
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_settings(pilot, store.id)
            table = screen.query_one(EntityTable)
            table.focus()
            await pilot.press("down")
            await settle(pilot)
            line = str(screen.query_one("#row-detail").render())
            failed = Store.get_by_id(store.id).entity_syncs.where(
                EntitySync.entity == "orders").get().error
        assert line == f"Orders: {failed}"  # whole, though the Detail column cuts it

    async def test_resync_button_confirms_then_toasts(self, make_app, fleet) -> None:
        store = fleet["healthy"]
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_settings(pilot, store.id)
            screen.query_one("#resync", Button).press()
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("tab", "enter")
            await settle(pilot)
            assert SYNC_RERUN_STARTED in toasts(app)
            assert queued(store.id) == ["customers", "orders", "products", "collections"]

    async def test_resync_disabled_for_a_paused_store(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_settings(pilot, fleet["paused"].id)
            assert screen.query_one("#resync", Button).disabled


class TestInitialSync:
    async def test_start_becomes_progress_then_completes(self, simulator, runtime,
                                                         unique_domain) -> None:
        from tui.app import ShopsyncApp

        store_id = await asyncio.to_thread(connect_sim_store, simulator, runtime, unique_domain)
        app = ShopsyncApp(runtime, poll=True, poll_interval=0.05, embedded_runner=False,
                          theme="textual-dark")
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_settings(pilot, store_id, initial_sync=True)
            assert JUST_CONNECTED in screen_text(app)
            start = screen.query_one("#start-sync", Button)
            assert app.focused is start
            # Choose what to sync first: no catalogue.
            screen.query_one("#cat-catalogue", Switch).toggle()
            await settle(pilot)
            start.focus()
            await pilot.press("enter")
            bar = screen.query_one(ProgressBar)
            assert await wait_until(pilot, lambda: bar.display and not bar.has_class("-hidden"))
            assert start.has_class("-hidden")
            assert "Queued: Customers, Orders · 0 of 2 done" in screen_text(app)
            assert queued(store_id) == ["customers", "orders"]
            runner = make_runner(runtime, kind="embedded").start_thread()
            try:
                assert await wait_until(
                    pilot, lambda: "Initial sync complete" in screen_text(app), 30)
            finally:
                runner.stop()
            assert bar.has_class("-hidden")
            states = {r.entity.value: r.state.value for r in screen.detail.summary.entities}
        assert states == {"customers": "synced", "orders": "synced", "products": "off",
                          "collections": "off"}


@pytest.mark.parametrize("size", SIZES)
class TestSettingsSnapshots:
    def test_category_off(self, snap_compare, make_app, fleet, size) -> None:
        def setup(app: Any) -> None:
            app.push_screen(SettingsScreen(fleet["catalogue_off"].id))

        assert snap_compare(make_app(), terminal_size=size, run_before=pressing(setup=setup))

    def test_just_connected_with_sync_running(self, snap_compare, make_app, fleet,
                                              size) -> None:
        store = fleet["syncing"]
        Job.create(kind="sync", store_id=store.id, store_domain=store.domain, entity="orders")
        Store.update(initial_sync_completed_at=None).where(Store.id == store.id).execute()

        def setup(app: Any) -> None:
            app.push_screen(SettingsScreen(store.id, initial_sync=True))

        assert snap_compare(make_app(), terminal_size=size, run_before=pressing(setup=setup))

    def test_not_synced_yet(self, snap_compare, make_app, fleet, size) -> None:
        def setup(app: Any) -> None:
            app.push_screen(SettingsScreen(fleet["new"].id, initial_sync=True))

        assert snap_compare(make_app(), terminal_size=size, run_before=pressing(setup=setup))
