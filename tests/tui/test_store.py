"""The store screen: its keys, row retry, confirmations, live updates and snapshots."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from engine.domain.status import CHECKING, DISCONNECT_CONFIRM, HEALTH_COMPLETED, SYNC_RERUN_STARTED
from engine.persistence.models import EntitySync, Job, Store, utcnow
from engine.registry import make_runner
from tests.support import wait_until
from tests.tui.factories import add_event, make_store
from tests.tui.screen_helpers import (
    connect_and_sync,
    connect_sim_store,
    patch_shop,
    pressing,
    screen_text,
    settle,
    toasts,
)
from tui.screens.confirm import ConfirmScreen
from tui.screens.details import DetailsScreen
from tui.screens.store import StoreScreen
from tui.widgets.entity_table import EntityTable
from tui.widgets.event_log import EventLog

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


async def open_store(pilot: Any, store_id: int) -> StoreScreen:
    await settle(pilot)
    screen = StoreScreen(store_id)
    pilot.app.push_screen(screen)
    await settle(pilot)
    return screen


def sync_jobs(store_id: int) -> list[str]:
    return [j.entity for j in Job.select().where((Job.kind == "sync") & (Job.store_id == store_id)
                                                 & Job.state.in_(("queued", "running")))]


class TestStoreScreen:
    async def test_shows_breadcrumb_table_readiness_and_activity(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await open_store(pilot, fleet["failing"].id)
            text = screen_text(app)
        assert "Stores › Berlin Bikes" in text
        for title in ("Entity", "State", "Progress", "Records", "Last synced", "Detail"):
            assert title in text
        assert "✖ Failed" in text and "Bulk operation failed: INTERNAL_SERVER_ERROR" in text
        assert "✔ OAuth connected" in text and "Last checked 10 min ago" in text
        assert "Orders sync failed: Bulk operation failed" in text  # its activity

    async def test_untrusted_name_and_error_are_plain_text(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await open_store(pilot, fleet["escape"].id)
            text = screen_text(app)
            table = app.screen.query_one(EntityTable)
            table.move_cursor(row=0)
            await pilot.pause()
            detail = screen_text(app)
        assert "Stores › Evil ␛[31mRed␛[0m Shop" in text
        assert "\x1b" not in text and "[link=http://x]click[/link]" in detail

    async def test_escape_goes_back(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await open_store(pilot, fleet["healthy"].id)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, StoreScreen)

    async def test_help_lists_the_store_keys(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await open_store(pilot, fleet["failing"].id)
            await pilot.press("question_mark")
            await settle(pilot)
            text = screen_text(app)
        assert "Store keys" in text
        for description in ("Check", "Retry", "Re-sync", "Disconnect", "Delete", "Details",
                            "Settings", "Back"):
            assert description in text

    async def test_keys_that_cannot_run_are_dimmed(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_store(pilot, fleet["paused"].id)
            keys = {b.key: enabled for _k, (node, b, enabled, _t)
                    in screen.active_bindings.items() if node is screen}
        assert keys["x"] and keys["c"] and keys["D"] and keys["escape"]
        assert not keys["r"] and not keys["s"] and not keys["d"]


class TestRowRetry:
    async def test_enter_on_failed_row_retries_that_entity_only(self, make_app, fleet) -> None:
        store = fleet["failing"]
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_store(pilot, store.id)
            assert "enter or r: Retry" not in screen_text(app)
            await pilot.press("down")  # Orders: Failed
            await pilot.pause()
            assert "enter or r: Retry" in screen_text(app)
            await pilot.press("enter")
            await settle(pilot)
            assert sync_jobs(store.id) == ["orders"]
            assert any("Retry started: Orders" in t for t in toasts(app))
            states = {r.entity.value: r.state.value for r in screen.summary.entities}
        assert states == {"customers": "synced", "orders": "pending", "products": "synced",
                          "collections": "synced"}

    async def test_j_and_k_move_between_rows_like_the_arrows(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_store(pilot, fleet["failing"].id)
            table = screen.query_one(EntityTable)
            await pilot.press("j")  # Orders: Failed
            await pilot.pause()
            assert table.highlighted.entity.value == "orders"
            assert "enter or r: Retry" in screen_text(app)
            await pilot.press("j", "k", "k")
            await pilot.pause()
            assert table.highlighted.entity.value == "customers"

    async def test_retry_button_of_the_highlighted_failed_row(self, make_app, fleet) -> None:
        store = fleet["escape"]  # Customers failed
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await open_store(pilot, store.id)
            await pilot.click("#retry-row")
            await settle(pilot)
        assert sync_jobs(store.id) == ["customers"]

    async def test_r_on_a_synced_row_retries_every_failed_entity(self, make_app,
                                                                 offline_runtime) -> None:
        from engine.domain.status import Entity, EntityState

        store = make_store("two-fails.myshopify.com", "Two Fails", states={
            Entity.ORDERS: EntityState.FAILED, Entity.COLLECTIONS: EntityState.FAILED})
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await open_store(pilot, store.id)
            await pilot.press("r")  # cursor on Customers (Synced)
            await settle(pilot)
        assert sorted(sync_jobs(store.id)) == ["collections", "orders"]

    async def test_retry_against_the_simulator_turns_the_entity_synced(
        self, simulator, runtime, unique_domain
    ) -> None:
        from tui.app import ShopsyncApp

        store_id = await asyncio.to_thread(connect_sim_store, simulator, runtime, unique_domain,
                                           fail_bulk={"orders": "INTERNAL_SERVER_ERROR"})
        from engine import actions

        actions.start_initial_sync(store_id)
        runner = make_runner(runtime, kind="embedded").start_thread()
        try:
            app = ShopsyncApp(runtime, poll=True, poll_interval=0.1, embedded_runner=False,
                              theme="textual-dark")
            async with app.run_test(size=(120, 40)) as pilot:
                screen = await open_store(pilot, store_id)

                def state(entity: str) -> str | None:
                    row = next((r for r in (screen.summary.entities if screen.summary else ())
                                if r.entity.value == entity), None)
                    return row.state.value if row else None

                assert await wait_until(pilot, lambda: state("collections") == "synced", 30)
                assert state("orders") == "failed"
                patch_shop(simulator, unique_domain, fail_bulk={})
                await pilot.press("down", "r")
                assert await wait_until(pilot, lambda: state("orders") == "synced", 30)
                assert "Orders: " in screen_text(app)
        finally:
            runner.stop()


class TestStoreActions:
    async def test_health_check_shows_checking_then_the_result(
        self, simulator, runtime, unique_domain
    ) -> None:
        from tui.app import ShopsyncApp

        store_id = await asyncio.to_thread(connect_and_sync, simulator, runtime, unique_domain)
        app = ShopsyncApp(runtime, poll=True, poll_interval=0.1, embedded_runner=False,
                          theme="textual-dark")
        async with app.run_test(size=(120, 40)) as pilot:
            await open_store(pilot, store_id)
            await pilot.press("c")
            # No runner yet: the job waits, and the screen says so.
            assert await wait_until(pilot, lambda: CHECKING in screen_text(app))
            runner = make_runner(runtime, kind="embedded").start_thread()
            try:
                assert await wait_until(pilot, lambda: HEALTH_COMPLETED in toasts(app), 30)
                assert await wait_until(pilot, lambda: CHECKING not in screen_text(app))
                assert "Last checked just now" in screen_text(app)
            finally:
                runner.stop()

    async def test_resync_cancel_then_confirm(self, make_app, fleet) -> None:
        store = fleet["healthy"]
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await open_store(pilot, store.id)
            await pilot.press("s")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("escape")
            await settle(pilot)
            assert sync_jobs(store.id) == [] and isinstance(app.screen, StoreScreen)
            await pilot.press("s")
            await settle(pilot)
            await pilot.press("tab", "enter")
            await settle(pilot)
            assert sync_jobs(store.id) == ["customers", "orders", "products", "collections"]
            assert any(SYNC_RERUN_STARTED in t for t in toasts(app))

    async def test_disconnect_confirm_then_reconnect(self, make_app, fleet) -> None:
        store = fleet["healthy"]
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_store(pilot, store.id)
            await pilot.press("d")
            await settle(pilot)
            assert DISCONNECT_CONFIRM in screen_text(app)
            await pilot.press("enter")  # Cancel has the focus
            await settle(pilot)
            assert not Store.get_by_id(store.id).paused
            await pilot.press("d")
            await settle(pilot)
            await pilot.press("tab", "enter")
            await settle(pilot)
            assert Store.get_by_id(store.id).paused
            assert "○ Disconnected" in screen_text(app)
            assert screen.check_action("store_action", ("reconnect",))
            await pilot.press("x")
            await settle(pilot)
            assert not Store.get_by_id(store.id).paused
            assert "● Connected" in screen_text(app)


class TestLiveUpdates:
    async def test_updates_in_place_and_pauses_under_a_modal(self, make_app, fleet) -> None:
        store = fleet["syncing"]
        app = make_app(poll=True, poll_interval=0.05)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_store(pilot, store.id)
            table = screen.query_one(EntityTable)
            await pilot.press("down", "down")  # cursor on Products
            EntitySync.update(done=9_000, updated_at=utcnow()).where(
                (EntitySync.store == store.id) & (EntitySync.entity == "orders")).execute()
            assert await wait_until(pilot, lambda: " 90%" in screen_text(app))
            assert table.cursor_row == 2
            app.push_screen(DetailsScreen(store.id))
            await settle(pilot)
            EntitySync.update(done=9_500, updated_at=utcnow() + timedelta(seconds=1)).where(
                (EntitySync.store == store.id) & (EntitySync.entity == "orders")).execute()
            polls = screen._live_started
            screen._live_tick()  # what the poll timer does: under the drawer, it stops
            assert screen._live_started == polls and screen._live_timer is None
            await settle(pilot)
            assert screen.summary is not None and screen.summary.entity(
                screen.summary.entities[1].entity).done == 9_000  # paused under the drawer
            await pilot.press("escape")
            assert await wait_until(pilot, lambda: " 95%" in screen_text(app))
            assert table.cursor_row == 2

    async def test_new_events_appear_without_moving_a_scrolled_log(self, make_app,
                                                                   offline_runtime) -> None:
        store = make_store("busy-log.myshopify.com", "Busy Log")
        for i in range(40):
            add_event(store, f"event {i}", ago=timedelta(minutes=100 - i))
        app = make_app(poll=True, poll_interval=0.05)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_store(pilot, store.id)
            log = screen.query_one(EventLog)
            log.focus()
            await pilot.press("down", "down", "down")
            assert log.highlighted is not None and log.highlighted.message == "event 36"
            add_event(store, "fresh event", ago=timedelta(0))
            assert await wait_until(pilot, lambda: log.rows[0].message == "fresh event")
            assert log.highlighted.message == "event 36"

    async def test_unreadable_database_marks_the_screen_stale(self, make_app, fleet,
                                                             monkeypatch) -> None:
        import tui.screens.store as store_module

        app = make_app(poll=True, poll_interval=0.05)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_store(pilot, fleet["healthy"].id)

            def locked(_store_id: int) -> None:
                raise RuntimeError("database is locked")

            monkeypatch.setattr(store_module, "store_summary", locked)
            screen.refresh_now()
            assert await wait_until(pilot, lambda: "⚠ stale: RuntimeError: database is locked"
                                    in screen_text(app))
            assert "Acme Outdoor" in screen_text(app)  # the last data stays on screen
            monkeypatch.undo()
            assert await wait_until(pilot, lambda: "stale" not in screen_text(app))

    async def test_a_poll_timer_that_fired_before_a_forced_refresh_does_not_undo_it(
            self, make_app, fleet, monkeypatch) -> None:
        # The race behind a flaky CI run: the timer fires (its callback queued), then a forced
        # refresh starts; the queued tick must not start an unforced poll that cancels the
        # forced one, or an unchanged database is never read again (no stale marker here).
        import tui.screens.store as store_module

        app = make_app(poll=True, poll_interval=60)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_store(pilot, fleet["healthy"].id)
            await pilot.pause()
            armed = screen._live_started  # what the timer armed after the first read holds

            def locked(_store_id: int) -> None:
                raise RuntimeError("database is locked")

            monkeypatch.setattr(store_module, "store_summary", locked)
            screen.refresh_now()
            started = screen._live_started
            screen._live_tick(armed)  # the queued callback of the timer that had fired
            assert screen._live_started == started
            assert await wait_until(pilot, lambda: "⚠ stale: RuntimeError: database is locked"
                                    in screen_text(app))

    async def test_deleted_store_goes_back(self, make_app, fleet) -> None:
        store = fleet["healthy"]
        app = make_app(poll=True, poll_interval=0.05)
        async with app.run_test(size=(120, 40)) as pilot:
            await open_store(pilot, store.id)
            Store.delete_by_id(store.id)
            assert await wait_until(pilot, lambda: not isinstance(app.screen, StoreScreen))


@pytest.mark.parametrize("size", SIZES)
class TestStoreSnapshots:
    def test_syncing_failed_synced_off_rows(self, snap_compare, make_app, offline_runtime,
                                            size) -> None:
        from engine.domain.status import Category, Entity, EntityState

        store = make_store(
            "mixed-rows.myshopify.com", "Mixed Rows",
            states={Entity.ORDERS: EntityState.SYNCING, Entity.PRODUCTS: EntityState.FAILED},
            errors={Entity.PRODUCTS: "Bulk operation failed: ACCESS_DENIED for products"},
            categories={Category.CUSTOMERS: False}, progress=(4_500, 10_000))
        add_event(store, "Products sync failed: ACCESS_DENIED", kind="sync", level="error")
        add_event(store, "Retry Products", ago=timedelta(minutes=1))

        def setup(app: Any) -> None:
            app.push_screen(StoreScreen(store.id))

        assert snap_compare(make_app(), terminal_size=size,
                            run_before=pressing("down", "down", setup=setup))

    def test_reconnect_required_store(self, snap_compare, make_app, fleet, size) -> None:
        def setup(app: Any) -> None:
            app.push_screen(StoreScreen(fleet["uninstalled"].id))

        assert snap_compare(make_app(), terminal_size=size, run_before=pressing(setup=setup))


@pytest.mark.parametrize("size", SIZES)
class TestTruthfulStatusSnapshots:
    """Issue 9: a fresh store before its initial sync; a failed full sync under a later
    successful incremental one (the marker on the entity and the Error it keeps)."""

    def test_freshly_connected_before_the_initial_sync(self, snap_compare, make_app,
                                                        offline_runtime, size) -> None:
        from engine.domain.status import EntityState
        from tests.tui.factories import FROZEN_NOW

        store = make_store("fresh-start.myshopify.com", "Fresh Start",
                           states=EntityState.PENDING, initial_sync=False, health_ok=True,
                           records=0, now=FROZEN_NOW)

        def setup(app: Any) -> None:
            app.push_screen(StoreScreen(store.id))

        assert snap_compare(make_app(), terminal_size=size, run_before=pressing(setup=setup))

    def test_failed_full_sync_under_a_later_incremental(self, snap_compare, make_app,
                                                         offline_runtime, size) -> None:
        from engine.persistence.models import Event
        from engine.persistence.records import refresh_status
        from tests.tui.factories import FROZEN_NOW

        store = make_store("drifting-goods.myshopify.com", "Drifting Goods", now=FROZEN_NOW)
        EntitySync.update(full_failed_at=FROZEN_NOW - timedelta(hours=2),
                          full_error="Shopify bulk export failed: INTERNAL_SERVER_ERROR").where(
            (EntitySync.store == store.id) & (EntitySync.entity == "customers")).execute()
        refresh_status(store.id)  # the rule turns it Error; its event's real time is dropped
        Event.delete().where((Event.store_id == store.id) & (Event.kind == "status")).execute()
        add_event(store, "Customers sync failed: Shopify bulk export failed: "
                  "INTERNAL_SERVER_ERROR", kind="sync", level="error", ago=timedelta(hours=2))
        add_event(store, "Customers synced (incremental): 3 records", kind="sync",
                  ago=timedelta(minutes=3))

        def setup(app: Any) -> None:
            app.push_screen(StoreScreen(store.id))

        assert snap_compare(make_app(), terminal_size=size, run_before=pressing(setup=setup))
