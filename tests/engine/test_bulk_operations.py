"""The bulk-operation control room against the simulator: someone else's operations filling the
shop's limit make a sync fail fast naming them; the listing tells ours from theirs; cancelling
one clears the way and the retried sync succeeds."""

from __future__ import annotations

import time
from typing import Any

from engine import actions
from engine.domain.bulk import SLOTS_TAKEN, short_id
from engine.lifecycle.diagnosis import diagnose
from engine.persistence.models import EntitySync, Store
from engine.shopify.documents import BULK_RUN, bulk_query
from engine.sync.bulk_operations import check_slots
from tests.engine.conftest import run_coroutine
from tests.support import HTTP

LIMIT = 5  # bulk queries at once on 2026-07


def start_foreign(settings: Any, store: Store, token: str, count: int) -> list[str]:
    """Start `count` bulk exports with the store's token, as another tool would."""
    url = f"{settings.shop_origin(store.domain)}/admin/api/{settings.api_version}/graphql.json"
    ids = []
    for _ in range(count):
        response = HTTP.post(url, headers={"X-Shopify-Access-Token": token}, json={
            "query": BULK_RUN, "variables": {"query": bulk_query("customers")}}, timeout=30)
        payload = response.json()["data"]["bulkOperationRunQuery"]
        assert payload["userErrors"] == [], payload
        ids.append(payload["bulkOperation"]["id"])
    return ids


def entity_row(store: Store, entity: str) -> EntitySync:
    return EntitySync.get(EntitySync.store == store.id, EntitySync.entity == entity)


def test_foreign_operations_fail_the_sync_fast_then_cancel_clears_the_way(
    runtime, sim, make_store, run_job, settings
) -> None:
    # Slow exports: someone else's customer exports run for minutes; our 20 orders take ~1 s.
    store = make_store(customers=2000, orders=20, products=2, collections=1, bulk_rate=20)
    token = runtime.vault.decrypt(store.token_enc)
    foreign = start_foreign(settings, store, token, LIMIT)
    actions.use_runtime(runtime)

    started = time.monotonic()
    view = run_job("sync", store, entity="orders", timeout=30)
    elapsed = time.monotonic() - started
    assert view.state == "failed"
    assert elapsed < 5, f"the blocked sync took {elapsed:.1f} s to fail"
    detail = entity_row(store, "orders").error or ""
    assert detail.startswith(SLOTS_TAKEN)
    for operation in foreign:
        assert short_id(operation) in detail

    findings = [f for f in diagnose() if f.store_id == store.id]
    [finding] = [f for f in findings if f.action == "bulk_operations"]
    assert not [f for f in findings if f.action == "retry"]  # Retry alone would fail again
    assert (finding.action, finding.key, finding.entity) == ("bulk_operations", "b", "orders")
    assert finding.problem == detail
    assert "Orders cannot start" in finding.cause

    listing = actions.bulk_operations(store.id)
    assert listing.blocked == ("orders",)
    assert not listing.way_clear
    active = {op.id: op for op in listing.operations if op.active}
    assert set(active) == set(foreign)
    assert all(not op.ours and op.entity == "customers" for op in active.values())
    assert all(op.to_json()["ours"] is False for op in active.values())

    cancelled = actions.cancel_bulk_operation(store.id, short_id(foreign[0]))
    assert (cancelled.id, cancelled.status) == (foreign[0], "CANCELED")
    assert actions.bulk_operations(store.id).way_clear

    view = run_job("sync", store, entity="orders", timeout=60)
    assert view.state == "done", view.error
    assert entity_row(store, "orders").records == 20
    listing = actions.bulk_operations(store.id)
    [ours] = [op for op in listing.operations if op.ours]
    assert (ours.entity, ours.status, ours.role) == ("orders", "COMPLETED", "earlier run")
    assert listing.blocked == ()
    for operation in foreign[1:]:  # leave the simulator's clock-driven tasks nothing to do
        actions.cancel_bulk_operation(store.id, operation)


def test_a_busy_shop_with_one_of_ours_running_keeps_waiting(
    runtime, make_store, settings
) -> None:
    from engine.credentials import open_client

    store = make_store(customers=2000, orders=5, bulk_rate=20)
    token = runtime.vault.decrypt(store.token_enc)
    foreign = start_foreign(settings, store, token, LIMIT)
    # One of them is ours: the customers sync stored it (as a crash would leave it).
    EntitySync.update(bulk_operation_id=foreign[2]).where(
        (EntitySync.store == store.id) & (EntitySync.entity == "customers")).execute()

    async def check() -> None:
        async with open_client(runtime, store) as client:
            await check_slots(client, store.id)

    run_coroutine(check())  # no BulkSlotsTaken: our own export frees a slot when it ends
    actions.use_runtime(runtime)
    listing = actions.bulk_operations(store.id)
    [ours] = [op for op in listing.operations if op.ours]
    assert (ours.id, ours.entity, ours.role) == (foreign[2], "customers", "current run")
    for operation in foreign:
        actions.cancel_bulk_operation(store.id, operation)


def test_cancel_refuses_bad_ids_and_finished_operations(runtime, make_store, run_job) -> None:
    import pytest

    store = make_store(customers=3, orders=3, products=1, collections=1)
    actions.use_runtime(runtime)
    with pytest.raises(actions.InvalidInput, match="not a bulk operation id"):
        actions.cancel_bulk_operation(store.id, "gid://shopify/Order/1")
    with pytest.raises(actions.InvalidInput, match="has no bulk operation 999"):
        actions.cancel_bulk_operation(store.id, "999")
    assert run_job("sync", store, entity="orders").state == "done"
    [ours] = actions.bulk_operations(store.id).operations
    with pytest.raises(actions.NotAllowed, match="cannot be canceled when it is completed"):
        actions.cancel_bulk_operation(store.id, ours.id)
