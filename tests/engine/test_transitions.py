"""Issue 9: status transitions that tell the truth, against the simulator over HTTP.

Each test here failed before the change it names: Error cleared the moment a retry was queued;
a failed full sync vanished under the next successful incremental sync; Pending did not say
whether it was queued; a token reconnect left the older failed check's Error standing.
"""

from __future__ import annotations

from typing import Any

from engine import actions
from engine.domain.status import ENTITY_ORDER, EntityState, Status
from engine.persistence.models import EntitySync, Order, Store
from engine.persistence.reads import store_detail, store_summary
from engine.persistence.records import refresh_status

FAST = {"bulk_rate": 500_000}


def _state(store: Store, entity: str) -> EntitySync:
    return EntitySync.get(EntitySync.store == store.id, EntitySync.entity == entity)


def _synced(make_store: Any, run_job: Any, **shop: Any) -> Store:
    store = make_store(customers=20, orders=20, products=5, collections=2, **FAST, **shop)
    for entity in ENTITY_ORDER:
        assert run_job("sync", store, entity=entity.value).state == "done"
    return Store.get_by_id(store.id)


def test_error_clears_only_when_the_failed_sync_succeeds(sim, runtime, make_store, run_job):
    store = _synced(make_store, run_job)
    sim.patch(store.domain, fail_bulk={"orders": "INTERNAL_SERVER_ERROR"})
    assert run_job("sync", store, entity="orders").state == "failed"
    assert Store.get_by_id(store.id).status == Status.ERROR.value
    actions.use_runtime(runtime)
    actions.retry(store.id, "orders")  # queued, nothing ran yet
    summary = store_summary(store.id)
    assert summary.entity(ENTITY_ORDER[1]).state is EntityState.PENDING
    assert summary.status is Status.ERROR  # was: Connected in the same second as "Retry Orders"
    assert summary.status_detail.startswith("Orders sync failed")
    sim.patch(store.domain, fail_bulk={"orders": "INTERNAL_SERVER_ERROR"})
    assert run_job("sync", store, entity="orders").state == "failed"  # the retry fails too
    assert Store.get_by_id(store.id).status == Status.ERROR.value
    sim.patch(store.domain, fail_bulk={})
    assert run_job("sync", store, entity="orders").state == "done"
    assert Store.get_by_id(store.id).status == Status.CONNECTED.value


def test_a_failed_full_sync_stays_visible_under_later_incrementals(
    sim, runtime, make_store, run_job
):
    store = _synced(make_store, run_job)
    sim.patch(store.domain, fail_bulk={"customers": "INTERNAL_SERVER_ERROR"})
    assert run_job("sync", store, entity="customers", params={"mode": "full"}).state == "failed"
    sim.patch(store.domain, fail_bulk={})
    assert run_job("sync", store, entity="customers",
                   params={"mode": "incremental"}).state == "done"
    row = _state(store, "customers")
    assert row.state == EntityState.SYNCED.value and row.full_failed_at is not None
    summary = store_summary(store.id)
    customers = summary.entity(ENTITY_ORDER[0])
    assert customers.full_sync_failed is not None
    assert "Customers: last full sync failed at " in customers.full_sync_failed
    assert customers.full_sync_failed.endswith("incremental syncs continue; run Retry")
    assert summary.status is Status.ERROR  # was: Connected (Failed → Synced by the incremental)
    assert summary.status_detail == customers.full_sync_failed
    assert store_detail(store.id).latest_failure == customers.full_sync_failed
    json = summary.to_json()["entities"]["customers"]
    assert json["state"] == "synced" and json["full_sync_failed_at"] is not None
    findings = [f for f in actions.diagnose() if f.store_id == store.id and f.entity]
    assert [(f.problem, f.action, f.key, f.entity) for f in findings] == [
        (customers.full_sync_failed, "retry", "r", "customers")]
    # Retry (the TUI's r, the CLI's `retry STORE`) runs the full sync again; it clears the marker.
    actions.use_runtime(runtime)
    assert actions.can(summary, "retry")
    [view] = actions.retry_failed(store.id)
    assert view.entity == "customers"
    assert run_job("sync", store, entity="customers", params={"mode": "full"}).state == "done"
    assert _state(store, "customers").full_failed_at is None
    assert store_summary(store.id).status is Status.CONNECTED


def test_pending_says_not_started_or_queued(runtime, make_store):
    store = make_store(**FAST)
    refresh_status(store.id)
    summary = store_summary(store.id)
    assert summary.status is Status.CONNECTED
    assert {r.pending_detail for r in summary.entities} == {"Not started"}
    assert summary.to_json()["entities"]["orders"]["pending"] == "not_started"
    actions.use_runtime(runtime)
    actions.retry(store.id, "orders")
    summary = store_summary(store.id)
    assert summary.entity(ENTITY_ORDER[1]).pending_detail == "Queued"
    assert summary.entity(ENTITY_ORDER[0]).pending_detail == "Not started"
    assert summary.to_json()["entities"]["orders"]["pending"] == "queued"
    assert summary.status is Status.CONNECTED


def test_a_token_reconnect_takes_effect_at_once(runtime, make_store, run_job):
    """What a refused-token check leaves (re-auth needed, the check failed); reconnecting with a
    working token leaves no stale Error from that older check: the reconnect's probe just proved
    the grant, the token and the API."""
    store = _synced(make_store, run_job)
    token = runtime.vault.decrypt(store.token_enc)
    Store.update(needs_reauth=True, reauth_reason="Shopify rejected the access token (401)",
                 health_failing=True, health_detail="Health check failed: Token valid").where(
        Store.id == store.id).execute()
    refresh_status(store.id)
    assert Store.get_by_id(store.id).status == Status.RECONNECT_REQUIRED.value
    actions.use_runtime(runtime)
    summary = actions.reconnect_token(store.id, token)
    # Was: "Error · Health check failed: Token valid" until the next check ran.
    assert summary.status is Status.CONNECTED, summary.status_detail


def test_zero_yield_fails_the_sync_and_keeps_the_records(sim, make_store, run_job):
    """An export that completes with no rows while Shopify counts 1,200 orders is Failed, never
    Synced (its drift repair would have deleted every local order)."""
    store = make_store(customers=5, orders=1200, products=2, collections=1, **FAST)
    assert run_job("sync", store, entity="orders").state == "done"
    assert _state(store, "orders").records == 1200
    sim.patch(store.domain, empty_bulk=["orders"])
    view = run_job("sync", store, entity="orders", params={"mode": "full"})
    assert view.state == "failed"
    assert view.error == "Shopify reports 1,200 orders but the export returned none"
    row = _state(store, "orders")
    assert row.state == EntityState.FAILED.value and row.records == 1200
    assert Order.select().where(Order.store == store.id).count() == 1200  # nothing deleted
    assert Store.get_by_id(store.id).status == Status.ERROR.value
    # An incremental run that finds nothing new is fine; an empty shop is fine too.
    empty = make_store(domain="z" + store.domain, customers=0, orders=0, products=0,
                       collections=0, **FAST)
    sim.patch(empty.domain, empty_bulk=["orders"])
    assert run_job("sync", empty, entity="orders").state == "done"
