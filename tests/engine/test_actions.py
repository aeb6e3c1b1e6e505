"""engine.actions against races with the runner, the webhook worker and the OAuth callback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engine import actions
from engine.domain.status import EntityState
from engine.persistence.database import write_transaction
from engine.persistence.models import EntitySync, Job, Store, utcnow
from engine.persistence.reads import store_summary
from engine.persistence.records import ensure_entity_rows, refresh_status
from engine.webhooks.apply import apply
from engine.webhooks.context import ApplyContext
from tests.support import wait_until


@pytest.fixture
def bound(offline_runtime: Any) -> Iterator[Any]:
    actions.use_runtime(offline_runtime)
    yield offline_runtime


def _store(domain: str = "acme.myshopify.com") -> Store:
    store = Store.create(domain=domain, name="Acme", granted_scopes="read_customers,"
                         "read_orders,read_products", auth_method="token")
    ensure_entity_rows(store)
    # Customers failed last time, Orders synced; Products and Collections never ran.
    EntitySync.update(state="failed", error="Shopify bulk export failed: TIMEOUT",
                      last_synced_at=utcnow()).where(
        (EntitySync.store == store.id) & (EntitySync.entity == "customers")).execute()
    EntitySync.update(state="synced", last_synced_at=utcnow(), records=5).where(
        (EntitySync.store == store.id) & (EntitySync.entity == "orders")).execute()
    refresh_status(store.id)
    return Store.get_by_id(store.id)


def _states(store_id: int) -> dict[str, EntityState]:
    return {row.entity.value: row.state for row in store_summary(store_id).entities}


def _active_jobs(store_id: int) -> int:
    return Job.select().where((Job.store_id == store_id)
                              & Job.state.in_(("queued", "running"))).count()


def test_cancelled_syncs_do_not_leave_entities_pending(bound: Any) -> None:
    """An uninstall cancels the queued re-sync: nothing may stay "Pending" (queued) with no
    job behind it, and a failure the re-sync did not get to fix is still shown."""
    store = _store()
    actions.resync(store.id)
    assert set(_states(store.id).values()) == {EntityState.PENDING}
    with write_transaction():
        apply(ApplyContext(), Store.get_by_id(store.id), "app/uninstalled", {}, None)
    assert _active_jobs(store.id) == 0
    assert _states(store.id) == {
        "customers": EntityState.FAILED, "orders": EntityState.SYNCED,
        "products": EntityState.PENDING, "collections": EntityState.PENDING,
    }


def test_disconnect_keeps_a_failed_entity_failed(bound: Any) -> None:
    store = _store()
    actions.retry(store.id, "customers")
    assert _states(store.id)["customers"] is EntityState.PENDING
    actions.disconnect(store.id)
    assert _active_jobs(store.id) == 0
    states = _states(store.id)
    assert states["customers"] is EntityState.FAILED
    assert states["orders"] is EntityState.SYNCED


def test_oauth_approval_arriving_during_a_delete_is_refused(runtime: Any, make_store: Any
                                                            ) -> None:
    """The operator starts a reconnect, then deletes the store; the merchant's approval comes
    back after that. It must not un-pause the store or store a grant the delete never revokes."""
    actions.use_runtime(runtime)
    store = make_store(oauth=True)
    start = actions.begin_reconnect(store.id)
    actions.delete(store.id)
    with pytest.raises(actions.ActionError, match="being deleted"):
        actions.simulate_approval(start)
    after = Store.get_by_id(store.id)
    assert after.deleting and after.token_enc == store.token_enc
    assert "being deleted" in (actions.oauth_status(start.state) or "")
    assert Job.select().where((Job.store_id == store.id) & (Job.kind != "delete")
                              & Job.state.in_(("queued", "running"))).count() == 0


@pytest.fixture
def slow_export(runtime: Any, make_store: Any) -> Iterator[tuple[Store, Any, Any]]:
    """A store whose Customers export sits at Shopify for a minute, syncing on a runner."""
    from engine.registry import make_runner

    actions.use_runtime(runtime)
    store = make_store(customers=50, bulk_delay_ms=60_000)
    runner = make_runner(runtime, poll_interval=0.05).start_thread()
    [view, *_rest] = actions.resync(store.id)
    runner.notify()
    wait_until(lambda: EntitySync.get(store=store.id, entity="customers").bulk_operation_id)
    yield store, view, runner
    runner.stop()


def test_disconnect_stops_the_running_sync(slow_export: Any) -> None:
    from engine.jobs.queue import wait_for_job

    store, view, _runner = slow_export
    actions.disconnect(store.id)
    final = wait_for_job(view.id, timeout=10, interval=0.05)
    assert final.state == "done" and final.result["skipped"] == (
        f"{store.name or store.domain} is disconnected; reconnect it first")
    row = EntitySync.get(store=store.id, entity="customers")
    assert (row.state, row.bulk_operation_id) == ("pending", None)
    summary = store_summary(store.id)
    assert summary.status.value == "disconnected" and not summary.busy


def test_delete_does_not_wait_for_the_running_sync(slow_export: Any) -> None:
    from engine.jobs.queue import wait_for_job

    store, _view, runner = slow_export
    deleted = actions.delete(store.id)
    runner.notify()
    final = wait_for_job(deleted.id, timeout=10, interval=0.05)
    assert final.state == "done"
    assert Store.get_or_none(Store.id == store.id) is None


def test_a_signed_callback_without_a_code_is_a_clear_error(runtime: Any, make_store: Any
                                                           ) -> None:
    from engine.lifecycle.connect import simulate_approval as approval_params
    from engine.shopify.oauth import sign
    from engine.simulator import DEMO_API_SECRET

    actions.use_runtime(runtime)
    store = make_store(oauth=True)
    start = actions.begin_reconnect(store.id)
    params = {k: v for k, v in approval_params(start).items() if k not in ("code", "hmac")}
    params["hmac"] = sign(params, DEMO_API_SECRET)
    with pytest.raises(actions.ActionError, match="carries no authorization code"):
        actions.complete_oauth(params)
    assert "no authorization code" in (actions.oauth_status(start.state) or "")
