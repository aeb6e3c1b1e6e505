"""Entity sync against the simulator: initial sync, re-sync drift repair, failures, resume,
incremental and reconcile runs, throttling and injected 5xx. Each test has its own database."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from engine.domain.coerce import gid_number
from engine.domain.status import ENTITY_ORDER, EntityState, Status
from engine.jobs.queue import enqueue, get_job, wait_for_job
from engine.jobs.runner import JobContext, JobInterrupted
from engine.jobs.wakeups import wake
from engine.persistence.models import (
    Collection,
    CollectionMembership,
    Customer,
    EntitySync,
    Event,
    Metric,
    Order,
    OrderLineItem,
    Product,
    ProductVariant,
    Store,
    utcnow,
)
from engine.persistence.records import refresh_status
from engine.registry import make_runner
from engine.sync.bulk_operations import our_operations
from engine.sync.job import run_sync
from tests.engine.conftest import enqueue_now

MODELS = {"customers": Customer, "orders": Order, "products": Product, "collections": Collection}
FAST = {"bulk_rate": 500_000}  # simulated objects per second of a bulk export


def ids(store: Store, model: Any) -> list[int]:
    return sorted(r.shopify_id for r in model.select(model.shopify_id).where(
        model.store == store.id))


def row(store: Store, entity: str) -> EntitySync:
    return EntitySync.get(EntitySync.store == store.id, EntitySync.entity == entity)


def sync_events(store: Store) -> list[Event]:
    return list(Event.select().where((Event.store_id == store.id) & (Event.kind == "sync"))
                .order_by(Event.id))


def sync_all(run_job, store: Store, timeout: float = 60) -> dict[str, Any]:
    views = {}
    for entity in ENTITY_ORDER:
        views[entity.value] = run_job("sync", store, entity=entity.value, timeout=timeout)
    return views


def assert_matches_simulator(sim, store: Store) -> None:
    for entity, model in MODELS.items():
        truth = sorted(sim.ids(store.domain, entity))
        assert ids(store, model) == truth, entity
        assert row(store, entity).records == len(truth)


# -- acceptance (2): a large initial sync ---------------------------------------------------------

@pytest.mark.slow
def test_initial_sync_of_a_large_shop(runtime, sim, make_store) -> None:

    store = make_store(customers=5000, orders=20_000, products=2000, collections=100, **FAST)
    runner = make_runner(runtime).start_thread()
    try:
        jobs = [enqueue_now("sync", store, entity=e.value) for e in ENTITY_ORDER]
        runner.notify()
        views = [wait_for_job(job.id, timeout=120, interval=0.05) for job in jobs]
    finally:
        runner.stop()
    assert [v.state for v in views] == ["done"] * 4, [v.error for v in views]
    assert_matches_simulator(sim, store)
    orders = set(ids(store, Order))
    items = list(OrderLineItem.select().where(OrderLineItem.store == store.id))
    assert len(items) >= len(orders)
    assert {i.order_id for i in items} == orders  # every order has its line items
    assert ProductVariant.select().where(ProductVariant.store == store.id).count() >= 2000
    members = CollectionMembership.select().where(CollectionMembership.store == store.id)
    assert members.count() > 0
    assert {m.collection_id for m in members} <= set(ids(store, Collection))
    store = Store.get_by_id(store.id)
    for entity in MODELS:
        sync = row(store, entity)
        assert sync.state == EntityState.SYNCED.value
        assert sync.last_synced_at is not None and sync.bulk_operation_id is None
    assert store.initial_sync_completed_at is not None
    assert store.status == Status.CONNECTED.value
    order_event = next(e for e in sync_events(store) if e.message.startswith("Orders synced"))
    assert order_event.message.startswith(
        "Orders synced: 20,000 records (20,000 created, 0 updated, 0 removed) in ")
    assert order_event.data["rows_per_s"] > 0
    imported = Metric.get((Metric.name == "shopsync_import_rows_total")
                          & (Metric.labels == "entity=orders"))
    assert imported.value == 20_000 + len(items)


# -- acceptance (3): re-sync repairs drift, never duplicates --------------------------------------

def test_resync_updates_changed_removes_deleted_and_never_duplicates(sim, make_store, run_job):
    store = make_store(customers=40, orders=300, products=30, collections=3, **FAST)
    assert run_job("sync", store, entity="orders").state == "done"
    assert run_job("sync", store, entity="customers").state == "done"
    first = sync_events(store)[0]
    assert first.data["created"] == 300 and first.data["removed"] == 0
    order_ids = sim.ids(store.domain, "orders")
    changed, deleted = order_ids[5], order_ids[7]
    sim.update(store.domain, "orders", changed, email="changed@example.com", note="x")
    sim.delete(store.domain, "orders", deleted)
    deleted_items = OrderLineItem.select().where(
        (OrderLineItem.store == store.id) & (OrderLineItem.order_id == deleted)).count()
    assert deleted_items >= 1

    assert run_job("sync", store, entity="orders").state == "done"
    event = sync_events(store)[-1]
    assert event.message.startswith(
        "Orders synced: 299 records (0 created, 1 updated, 1 removed) in ")
    assert (event.data["created"], event.data["updated"], event.data["removed"]) == (0, 1, 1)
    assert Order.get(Order.store == store.id, Order.shopify_id == changed).email == \
        "changed@example.com"
    assert not OrderLineItem.select().where(
        (OrderLineItem.store == store.id) & (OrderLineItem.order_id == deleted)).exists()

    assert run_job("sync", store, entity="orders").state == "done"
    again = sync_events(store)[-1]
    assert (again.data["created"], again.data["updated"], again.data["removed"]) == (0, 0, 0)
    assert ids(store, Order) == sorted(sim.ids(store.domain, "orders"))
    assert len(ids(store, Order)) == len(set(ids(store, Order))) == 299
    # Customers were not touched by the order runs.
    assert ids(store, Customer) == sorted(sim.ids(store.domain, "customers"))


# -- acceptance (4): one entity fails, the others keep working ------------------------------------

def test_failed_bulk_export_fails_one_entity_and_retry_recovers(sim, make_store, run_job):
    store = make_store(customers=20, orders=50, products=10, collections=2, **FAST)
    sim.patch(store.domain, fail_bulk={"orders": "INTERNAL_SERVER_ERROR"})
    views = sync_all(run_job, store)
    assert views["orders"].state == "failed"
    assert "Shopify bulk export failed: INTERNAL_SERVER_ERROR" in views["orders"].error
    store = Store.get_by_id(store.id)
    assert row(store, "orders").state == EntityState.FAILED.value
    assert "INTERNAL_SERVER_ERROR" in row(store, "orders").error
    assert row(store, "orders").bulk_operation_id is None
    for entity in ("customers", "products", "collections"):
        assert views[entity].state == "done"
        assert row(store, entity).state == EntityState.SYNCED.value
    assert store.status == Status.ERROR.value
    assert store.status_detail.startswith("Orders sync failed: Shopify bulk export failed")
    failure = [e for e in sync_events(store) if e.level == "error"]
    assert failure and failure[0].message.startswith("Orders sync failed: ")
    before = {e: row(store, e).last_synced_at for e in ("customers", "products", "collections")}

    sim.patch(store.domain, fail_bulk={})
    assert run_job("sync", store, entity="orders").state == "done"
    store = Store.get_by_id(store.id)
    assert row(store, "orders").state == EntityState.SYNCED.value
    assert row(store, "orders").error is None
    assert store.status == Status.CONNECTED.value
    assert {e: row(store, e).last_synced_at for e in before} == before
    assert ids(store, Order) == sorted(sim.ids(store.domain, "orders"))


# -- acceptance (8): throttling and injected 5xx ------------------------------------------------

def test_sync_completes_exactly_under_throttling_and_errors(runtime, sim, make_store, run_job):
    # A fixed domain: the simulator draws its 5xx from an RNG seeded by (seed, domain), so this
    # shop's third Admin API request is a 503 on every run and the backoff path is exercised.
    store = make_store(domain="flaky-throttled.myshopify.com", customers=300, orders=1500,
                       products=100, collections=5, bulk_rate=50_000)
    # A 10-point bucket refilling at 10/s: a bulk start (10 points) empties it for 1 s, so the
    # next entity's start (a document whose cost the client has not seen) is THROTTLED and
    # polls wait for the bucket. At 20/s the bucket was full again 0.5 s later, and on a
    # loaded box the next start came later than that: no THROTTLED at all.
    sim.patch(store.domain, throttle={"maximum": 10, "restore_rate": 10}, error_rate=0.1)
    views = sync_all(run_job, store, timeout=90)
    assert {e: v.state for e, v in views.items()} == dict.fromkeys(MODELS, "done"), \
        {e: v.error for e, v in views.items()}
    sim.patch(store.domain, throttle=False, error_rate=0)
    assert_matches_simulator(sim, store)
    waits = {m.labels: m.value for m in Metric.select().where(
        Metric.name == "shopsync_throttle_waits_total")}
    assert waits.get("reason=throttled", 0) + waits.get("reason=bucket", 0) > 0, waits
    assert waits.get("reason=backoff", 0) > 0, waits
    seconds = Metric.get((Metric.name == "shopsync_throttle_wait_seconds_total")
                         & (Metric.labels == "reason=throttled"))
    assert seconds.value > 0


# -- crash safety: resume adopts the stored bulk operation ---------------------------------------

class _Runner:
    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.lease_seconds = 30.0
        self.owner = "test"


class StopOnceImporting(JobContext):
    """check_stop raises as soon as the first batch of orders is in the database."""

    def check_stop(self) -> None:
        if Order.select().where(Order.store == self.job.store_id).exists():
            raise JobInterrupted()


async def test_interrupted_import_resumes_the_same_operation_without_duplicates(
    runtime, sim, make_store
) -> None:
    store = make_store(orders=3000, customers=10, **FAST)
    job = enqueue("sync", store, entity="orders")
    with pytest.raises(JobInterrupted):
        await run_sync(StopOnceImporting(runtime, job, _Runner()))  # type: ignore[arg-type]
    interrupted = row(store, "orders")
    # Requeued, nothing importing it now: Pending (queued) until a runner resumes it.
    assert interrupted.state == EntityState.PENDING.value
    assert interrupted.bulk_operation_id
    partial = len(ids(store, Order))
    assert 0 < partial < 3000

    result = await run_sync(JobContext(runtime, job, _Runner()))  # type: ignore[arg-type]
    assert result["adopted"] is True
    assert result["bulk_operation_id"] == interrupted.bulk_operation_id
    assert (result["created"], result["updated"], result["removed"]) == (3000, 0, 0)
    assert ids(store, Order) == sorted(sim.ids(store.domain, "orders"))
    assert row(store, "orders").bulk_operation_id is None
    assert row(store, "orders").run_id == interrupted.run_id
    # The bulk-operation view shows the take-over (engine.sync.bulk_operations).
    ours = our_operations(store.id)[interrupted.bulk_operation_id]
    assert (ours.entity, ours.role) == ("orders", "adopted after a restart")
    assert any("resumed bulk operation" in e.message for e in sync_events(store))


# -- incremental and reconcile ------------------------------------------------------------------

def test_incremental_picks_up_changes_and_reconcile_removes_deletions(sim, make_store, run_job):
    store = make_store(orders=200, customers=20, **FAST)
    assert run_job("sync", store, entity="orders").state == "done"
    cursor = row(store, "orders").cursor_updated_at
    assert cursor is not None
    order_ids = sim.ids(store.domain, "orders")
    created = sim.create(store.domain, "orders", email="new@example.com")
    sim.update(store.domain, "orders", order_ids[3], email="edited@example.com")
    view = run_job("sync", store, entity="orders", params={"mode": "incremental"})
    assert view.state == "done", view.error
    assert (view.result["created"], view.result["updated"], view.result["removed"]) == (1, 1, 0)
    assert "Orders synced (incremental): " in sync_events(store)[-1].message
    assert row(store, "orders").cursor_updated_at > cursor
    new_id = int(str(created.get("id", created.get("admin_graphql_api_id", ""))).rsplit("/")[-1])
    assert Order.get(Order.store == store.id, Order.shopify_id == new_id).email == \
        "new@example.com"

    sim.delete(store.domain, "orders", order_ids[9])
    last_synced = row(store, "orders").last_synced_at
    view = run_job("sync", store, entity="orders", params={"mode": "reconcile"})
    assert view.state == "done", view.error
    assert sync_events(store)[-1].message == "Orders reconciled: 1 removed"
    assert ids(store, Order) == sorted(sim.ids(store.domain, "orders"))
    assert not OrderLineItem.select().where(
        (OrderLineItem.store == store.id) & (OrderLineItem.order_id == order_ids[9])).exists()
    assert row(store, "orders").last_synced_at == last_synced  # reconcile is not "Last synced"


# -- settings and skips -------------------------------------------------------------------------

def test_consent_is_stored_only_while_its_category_is_on(sim, make_store, run_job):
    store = make_store(customers=200, orders=0, **FAST)
    Store.update(cat_sms_consent=False).where(Store.id == store.id).execute()
    assert run_job("sync", store, entity="customers").state == "done"
    customers = list(Customer.select().where(Customer.store == store.id))
    assert any(c.email_marketing_state for c in customers)
    assert any(c.phone for c in customers)
    assert all(c.sms_marketing_state is None and c.sms_opt_in_level is None for c in customers)

    Store.update(cat_sms_consent=True, cat_email_consent=False).where(
        Store.id == store.id).execute()
    assert run_job("sync", store, entity="customers").state == "done"
    customers = list(Customer.select().where(Customer.store == store.id))
    assert all(c.email_marketing_state is None for c in customers)
    assert any(c.sms_marketing_state for c in customers)


def test_skips_paused_stores_and_categories_that_are_off(make_store, run_job):
    store = make_store(**FAST)
    Store.update(cat_orders=False).where(Store.id == store.id).execute()
    assert run_job("sync", store, entity="orders").result == {
        "skipped": "Orders is Off: turn on Orders, checkouts, and carts in sync settings"}
    Store.update(paused=True).where(Store.id == store.id).execute()
    assert run_job("sync", store, entity="customers").result == {
        "skipped": f"{store.name or store.domain} is disconnected; reconnect it first"}
    assert row(store, "customers").state == EntityState.PENDING.value


def test_auth_failure_marks_reconnect_required(sim, make_store, run_job):
    store = make_store(**FAST)
    sim.patch(store.domain, installed=False)
    view = run_job("sync", store, entity="customers")
    assert view.state == "failed" and "401" in view.error
    store = Store.get_by_id(store.id)
    assert store.needs_reauth and store.status == Status.RECONNECT_REQUIRED.value
    assert row(store, "customers").state == EntityState.FAILED.value


def test_missing_scope_fails_the_entity_and_asks_for_reconnect(sim, make_store, run_job):
    store = make_store(**FAST)
    sim.patch(store.domain, scopes=["read_customers", "read_products"])
    view = run_job("sync", store, entity="orders")
    assert view.state == "failed" and view.error == "Missing scope read_orders"
    store = Store.get_by_id(store.id)
    assert "read_orders" not in store.granted_scopes.split(",")
    assert store.status == Status.RECONNECT_REQUIRED.value
    assert row(store, "orders").error == "Missing scope read_orders"
    # Turning the category off removes the need for the scope.
    Store.update(cat_orders=False).where(Store.id == store.id).execute()
    assert refresh_status(store.id)[0] is Status.CONNECTED


def test_expired_token_refreshes_silently_during_a_sync(runtime, sim, make_store, run_job):
    store = make_store(oauth=True, **FAST)
    before = (store.token_enc, store.refresh_token_enc)
    sim.patch(store.domain, token_expired=True)
    view = run_job("sync", store, entity="products")
    assert view.state == "done", view.error
    store = Store.get_by_id(store.id)
    assert (store.token_enc, store.refresh_token_enc) != before
    assert store.token_expires_at > utcnow() + timedelta(minutes=10)
    assert store.status == Status.CONNECTED.value and not store.needs_reauth


def test_short_lived_tokens_are_refreshed_during_a_long_sync(sim, make_store, run_job):
    # One-second tokens and an export that takes longer: the token is rotated (proactively,
    # half-way through its life) while polling, without a refresh storm, and nothing fails.
    store = make_store(oauth=True, orders=2000, customers=5, token_ttl=1, bulk_rate=4000)
    first = Store.get_by_id(store.id).token_enc
    view = run_job("sync", store, entity="orders")
    assert view.state == "done", view.error
    assert ids(store, Order) == sorted(sim.ids(store.domain, "orders"))
    assert Store.get_by_id(store.id).token_enc != first
    assert not Store.get_by_id(store.id).needs_reauth


def test_gid_numbers() -> None:
    assert gid_number("gid://shopify/Order/5000000000001") == 5000000000001
    assert gid_number("gid://shopify/LineItem/7?line=2") == 7
    assert gid_number("gid://shopify/Order/") is None
    assert gid_number(None) is None and gid_number(12) is None


def test_wake_makes_a_waiting_sync_poll_at_once(runtime, sim, make_store):

    runtime.settings.bulk_poll_interval = 60.0  # without wake() the job would sit a minute
    store = make_store(orders=20, bulk_rate=200)  # the export runs ~¼ s: the sync must wait
    assert wake(store.id) is False  # nobody is waiting yet
    runner = make_runner(runtime).start_thread()
    try:
        job = enqueue_now("sync", store, entity="orders")
        runner.notify()
        woke = False
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and get_job(job.id).state not in ("done", "failed"):
            woke = wake(store.id, "orders") or woke
            time.sleep(0.05)
        view = wait_for_job(job.id, timeout=1)
    finally:
        runner.stop()
    assert woke and view.state == "done", view.error
    assert ids(store, Order) == sorted(sim.ids(store.domain, "orders"))


def test_an_unknown_mode_fails_cleanly(make_store, run_job):
    store = make_store(**FAST)
    view = run_job("sync", store, entity="orders", params={"mode": "sideways"})
    assert view.state == "failed" and "Unknown sync mode" in view.error
