"""The count check's finding in the TUI: "Records match Shopify" failing in Details (with cause
and fix) and in Troubleshoot (one finding per entity, its key r retries that entity's full sync).

Update (only these) with: pytest tests/tui/test_drift.py --snapshot-update
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from engine.domain.status import Check, Entity, Status
from engine.persistence.models import EntitySync, Job, Store
from tests.tui.factories import _derive, make_store
from tests.tui.screen_helpers import (
    open_troubleshoot,
    pressing,
    screen_text,
    settle,
    webhooks_healthy,
)
from tui.screens.details import DetailsScreen
from tui.screens.store import StoreScreen

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]
DRIFT = "Customers: 250 here, 248 in Shopify"
ORDERS = "Orders: 1,200 here, 1,250 in Shopify"


@pytest.fixture
def drifted(offline_runtime: Any) -> Store:
    """A store whose last count check found Customers and Orders not matching Shopify."""
    store = make_store("drift-goods.myshopify.com", "Drift Goods",
                       records={Entity.CUSTOMERS: 250, Entity.ORDERS: 1200,
                                Entity.PRODUCTS: 40, Entity.COLLECTIONS: 6})
    readiness = dict(store.readiness)
    readiness[Check.RECORDS_MATCH.value] = {
        "ok": False, "detail": f"{DRIFT}; {ORDERS}",
        "entities": {"customers": DRIFT, "orders": ORDERS}}
    Store.update(readiness=readiness).where(Store.id == store.id).execute()
    for entity, here, shopify in (("customers", 250, 248), ("orders", 1200, 1250)):
        EntitySync.update(count_check={
            "here": here, "shopify": shopify, "previous_shopify": here, "slack": 0,
            "mismatch": True, "at": "2026-11-27T09:50:00"}).where(
            (EntitySync.store == store.id) & (EntitySync.entity == entity)).execute()
    webhooks_healthy()
    _derive(store)
    return Store.get_by_id(store.id)


class TestDrift:
    def test_the_store_is_error_with_the_numbers(self, drifted) -> None:
        assert drifted.status == Status.ERROR.value
        assert drifted.status_detail == f"Records do not match Shopify: {DRIFT}; {ORDERS}"

    async def test_details_names_the_numbers_cause_and_fix(self, make_app, drifted) -> None:
        app = make_app()
        async with app.run_test(size=(120, 60)) as pilot:
            await settle(pilot)
            app.push_screen(DetailsScreen(drifted.id))
            await settle(pilot)
            text = re.sub(r" +", " ", screen_text(app))
        assert "✖ Records match Shopify · Customers: 250 here, 248 in" in text
        assert "Shopify; Orders: 1,200 here, 1,250 in Shopify" in text
        assert "Cause: Records changed in Shopify without reaching" in text
        assert f"Fix: {Check.RECORDS_MATCH.fix}" in text

    async def test_troubleshoot_lists_each_entity_with_its_retry_key(self, make_app,
                                                                    drifted) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_troubleshoot(pilot)
            text = re.sub(r" +", " ", screen_text(app))
            assert f"Records do not match Shopify: {DRIFT}" in text
            assert f"Records do not match Shopify: {ORDERS}" in text
            assert "Key: r Retry" in text
            assert [(f.action, f.entity, f.key) for f in screen.findings] == [
                ("retry", "customers", "r"), ("retry", "orders", "r")]
            await pilot.press("r")  # the highlighted (first) finding: Customers only
            await settle(pilot)
        jobs = [(j.kind, j.entity, (j.params or {}).get("mode")) for j in Job.select()]
        assert jobs == [("sync", "customers", "full")]


@pytest.mark.parametrize("size", SIZES)
class TestDriftSnapshots:
    def test_details(self, snap_compare, make_app, drifted, size) -> None:
        """Scrolled to the readiness list (below the fold at 80x24)."""
        def setup(app: Any) -> None:
            app.push_screen(StoreScreen(drifted.id))
            app.push_screen(DetailsScreen(drifted.id))

        async def run_before(pilot: Any) -> None:
            await pressing(setup=setup)(pilot)
            readiness = pilot.app.screen.query_one("#readiness")
            pilot.app.screen.query_one("#body").scroll_to_widget(
                readiness, animate=False, top=True, immediate=True)
            await settle(pilot)

        assert snap_compare(make_app(), terminal_size=size, run_before=run_before)

    def test_troubleshoot(self, snap_compare, make_app, drifted, size) -> None:
        assert snap_compare(make_app(), terminal_size=size, run_before=pressing("t"))
