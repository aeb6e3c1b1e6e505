"""The bulk-operation view: reached from the Troubleshoot finding (and the store screen's `b`),
it tells ours from someone else's, cancels one behind a confirmation that names it (Cancel
focused, enter never confirms) and retries the blocked sync once a slot is free."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from textual.widgets import DataTable, OptionList

from engine.persistence.models import EntitySync, Job
from engine.shopify.documents import BULK_CANCEL, BULK_RUN, bulk_query
from tests.support import HTTP, wait_until
from tests.tui.factories import make_store
from tests.tui.operator_fixtures import bulk_listing
from tests.tui.screen_helpers import pressing, screen_text, settle, sim_shop, toasts
from tui.screens.bulk import BulkScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.store import StoreScreen
from tui.screens.troubleshoot import TroubleshootScreen, finding_id

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]
LIMIT = 5


def graphql(settings: Any, domain: str, token: str, document: str, variables: dict) -> dict:
    url = f"{settings.shop_origin(domain)}/admin/api/{settings.api_version}/graphql.json"
    response = HTTP.post(url, headers={"X-Shopify-Access-Token": token},
                         json={"query": document, "variables": variables}, timeout=30)
    return response.json()["data"]  # type: ignore[no-any-return]


def orders_row(store_id: int) -> EntitySync:
    return EntitySync.get(EntitySync.store == store_id, EntitySync.entity == "orders")


def blocked_store(simulator: Any, runtime: Any, settings: Any, domain: str) -> tuple[int, list[str],
                                                                                     str]:
    """A connected store whose Orders sync failed because 5 foreign exports hold every slot."""
    from engine import actions
    from engine.jobs.queue import wait_for_job
    from engine.registry import make_runner

    actions.use_runtime(runtime)
    shop, token = sim_shop(simulator, domain, customers=2000, orders=20, products=2,
                           collections=1, bulk_rate=20)
    store_id = actions.connect_token(shop, token).id
    foreign = []
    for _ in range(LIMIT):
        data = graphql(settings, shop, token, BULK_RUN, {"query": bulk_query("customers")})
        foreign.append(data["bulkOperationRunQuery"]["bulkOperation"]["id"])
    view = actions.retry(store_id, "orders")
    runner = make_runner(runtime, kind="embedded").start_thread()
    try:
        assert wait_for_job(view.id, timeout=30).state == "failed"
    finally:
        runner.stop()
    return store_id, foreign, token


class TestBulkFlow:
    async def test_from_the_troubleshoot_finding_cancel_one_then_retry(
        self, simulator, runtime, settings, unique_domain
    ) -> None:
        from engine.registry import make_runner
        from tui.app import ShopsyncApp

        store_id, foreign, token = await asyncio.to_thread(
            blocked_store, simulator, runtime, settings, unique_domain)
        app = ShopsyncApp(runtime, poll=True, poll_interval=0.1, embedded_runner=False,
                          theme="textual-dark")
        runner = None
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await settle(pilot)
                await pilot.press("t")
                assert await wait_until(pilot, lambda: isinstance(app.screen, TroubleshootScreen)
                                        and app.screen.findings)
                troubleshoot = app.screen
                assert isinstance(troubleshoot, TroubleshootScreen)
                finding = next(f for f in troubleshoot.findings if f.store_id == store_id
                               and f.action == "bulk_operations")
                assert finding.problem.startswith("Other bulk operations fill this store's limit")
                options = troubleshoot.query_one(OptionList)
                options.highlighted = options.get_option_index(finding_id(finding))
                await pilot.pause()
                assert "b Bulk operations" in screen_text(app)
                await pilot.press(finding.key)  # "b": the finding's key opens the view
                assert await wait_until(pilot, lambda: isinstance(app.screen, BulkScreen)
                                        and app.screen.listing is not None, 60)
                bulk = app.screen
                assert isinstance(bulk, BulkScreen)
                # The summary line and the table's rows are drawn in separate frames.
                assert await wait_until(
                    pilot, lambda: screen_text(app).count("theirs · Customers") == LIMIT, 30
                ), screen_text(app)
                text = screen_text(app)
                assert "5 of 5 slots in use · full · blocked: Orders" in text
                assert "someone else's (Customers), exports customers" in text  # the row line
                assert token not in text

                # Cancel the highlighted (newest) one: the dialog names it; enter only cancels.
                target = bulk.highlighted
                assert target is not None and target.id in foreign and not target.ours
                await pilot.press("c")
                await settle(pilot)
                assert isinstance(app.screen, ConfirmScreen)
                assert f"Cancel bulk operation {target.short_id}?" in screen_text(app)
                assert "someone else's" in screen_text(app)
                await pilot.press("enter")  # Cancel is focused: nothing happens
                await settle(pilot)
                assert isinstance(app.screen, BulkScreen)
                assert all(op.status == "RUNNING" for op in bulk.listing.operations)  # type: ignore[union-attr]
                await pilot.press("c")
                await settle(pilot)
                await pilot.press("tab", "enter")  # the explicit choice: the confirm button
                assert await wait_until(pilot, lambda: bulk.listing is not None
                                        and bulk.listing.way_clear, 60)
                assert any("Bulk operation " in t for t in toasts(app)), toasts(app)
                cancelled = next(op for op in bulk.listing.operations if op.id == target.id)  # type: ignore[union-attr]
                assert cancelled.status == "CANCELED"
                assert "4 of 5 slots in use · a slot is free · blocked: Orders" in screen_text(app)

                runner = make_runner(runtime, kind="embedded").start_thread()
                await pilot.press("r")  # retry the blocked sync
                assert await wait_until(pilot, lambda: orders_row(store_id).state == "synced",
                                        60)
                assert orders_row(store_id).records == 20
                assert await wait_until(pilot, lambda: "blocked:" not in screen_text(app)
                                        and "ours · Orders" in screen_text(app)
                                        and "ours (Orders, earlier run)" in screen_text(app),
                                        60), screen_text(app)
        finally:
            if runner is not None:
                runner.stop()
            for gid in foreign:
                await asyncio.to_thread(graphql, settings, unique_domain, token, BULK_CANCEL,
                                        {"id": gid})

    async def test_store_screen_b_opens_it_and_read_only_dims_the_writes(
        self, simulator, runtime, settings, unique_domain
    ) -> None:
        from engine import actions
        from tui.app import ShopsyncApp

        actions.use_runtime(runtime)
        shop, token = sim_shop(simulator, unique_domain)
        store_id = (await asyncio.to_thread(actions.connect_token, shop, token)).id
        app = ShopsyncApp(runtime, poll=False, embedded_runner=False, theme="textual-dark",
                          read_only=True)
        jobs = Job.select().where(Job.store_id == store_id).count()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.push_screen(StoreScreen(store_id))
            await settle(pilot)
            await pilot.press("b")
            assert await wait_until(pilot, lambda: isinstance(app.screen, BulkScreen)
                                    and app.screen.listing is not None, 60)
            assert "No bulk operations at Shopify." in screen_text(app)
            assert app.screen.check_action("retry_blocked", ()) is None
            assert app.screen.check_action("cancel_operation", ()) is None
            assert Job.select().where(Job.store_id == store_id).count() == jobs


fixture_listing = bulk_listing


@pytest.mark.parametrize("size", SIZES)
def test_bulk_view_snapshot(snap_compare, make_app, offline_runtime, size) -> None:
    store = make_store("acme-outdoor.myshopify.com", "Acme Outdoor")

    def setup(app: Any) -> None:
        app.push_screen(BulkScreen(store.id, listing=fixture_listing(store.id)))

    assert snap_compare(make_app(), terminal_size=size, run_before=pressing(setup=setup))


async def test_escape_goes_back_and_enter_on_the_table_never_cancels(make_app,
                                                                      offline_runtime) -> None:
    store = make_store("acme-outdoor.myshopify.com", "Acme Outdoor")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.push_screen(BulkScreen(store.id, listing=fixture_listing(store.id)))
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, BulkScreen)
        assert app.screen.query_one(DataTable).has_focus
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, BulkScreen)
