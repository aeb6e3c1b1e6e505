"""The count check (engine.sync.counts) against the simulator: Records match Shopify.

Local record counts of every enabled entity against Shopify's own counts, in the health check,
after every successful full sync, and as the scheduled "counts" job; the tolerance (deliveries
of the entity received in the last five minutes, or not yet applied); what is skipped (before the
initial sync, an entity that is off or syncing); the status rule (Error until a check finds the
records matching again, whatever incremental syncs do meanwhile).
"""

from __future__ import annotations

from datetime import timedelta

from engine import actions
from engine.domain.status import (
    COUNTS_NOT_CHECKED_INITIAL,
    ENTITY_ORDER,
    Check,
    Entity,
    Status,
)
from engine.persistence.models import EntitySync, Event, Store, WebhookReceipt, utcnow
from engine.sync import counts
from engine.sync.scheduler import Scheduler

FAST = {"bulk_rate": 500_000}
DRIFT = "Customers: 10 here, 11 in Shopify"


def synced_store(make_store, run_job, **shop):
    store = make_store(customers=10, orders=6, products=4, collections=2, **FAST, **shop)
    for entity in ENTITY_ORDER:
        view = run_job("sync", store, entity=entity.value)
        assert view.state == "done", view.error
    return Store.get_by_id(store.id)


def drift_customers(sim, store: Store) -> None:
    """Webhooks off; 2 customers deleted and 3 created in Shopify: 10 here, 11 there."""
    sim.patch(store.domain, webhooks_enabled=False)
    for numeric in sim.ids(store.domain, "customers")[:2]:
        sim.delete(store.domain, "customers", numeric)
    for n in range(3):
        sim.create(store.domain, "customers", first_name=f"Drift{n}")


def item(store: Store) -> dict:
    return Store.get_by_id(store.id).readiness[Check.RECORDS_MATCH.value]


def count_check(store: Store, entity: Entity) -> dict:
    return EntitySync.get((EntitySync.store == store.id)
                          & (EntitySync.entity == entity.value)).count_check


def test_a_fresh_store_has_nothing_to_compare(sim, make_store, run_job):
    store = make_store(**FAST)
    view = run_job("health", store)
    assert view.result == {"ok": True, "failed": []}
    assert item(store) == {"ok": None, "detail": COUNTS_NOT_CHECKED_INITIAL}
    assert Store.get_by_id(store.id).status == Status.CONNECTED.value
    counted = run_job("counts", store)
    assert counted.result == {"ok": None, "detail": COUNTS_NOT_CHECKED_INITIAL}


def test_the_initial_sync_ends_with_a_passing_count_check(sim, make_store, run_job):
    store = synced_store(make_store, run_job)
    assert item(store) == {"ok": True, "detail": None}
    assert store.counts_checked_at is not None
    assert count_check(store, Entity.ORDERS) == {
        **count_check(store, Entity.ORDERS), "here": 6, "shopify": 6, "mismatch": False}
    assert run_job("health", store).result == {"ok": True, "failed": []}
    # Consecutive checks: the previous Shopify count is kept for comparison.
    assert count_check(store, Entity.ORDERS)["previous_shopify"] == 6


def test_drift_fails_the_check_until_a_full_sync_repairs_it(sim, make_store, run_job):
    store = synced_store(make_store, run_job)
    drift_customers(sim, store)
    view = run_job("health", store)
    assert view.result == {"ok": False, "failed": [Check.RECORDS_MATCH.value]}
    assert item(store) == {"ok": False, "detail": DRIFT, "entities": {"customers": DRIFT}}
    store = Store.get_by_id(store.id)
    assert (store.status, store.status_detail) == (
        Status.ERROR.value, f"Records do not match Shopify: {DRIFT}")
    assert not store.health_failing  # its own fact, not the live probes'
    assert count_check(store, Entity.CUSTOMERS) == {
        **count_check(store, Entity.CUSTOMERS), "here": 10, "shopify": 11,
        "previous_shopify": 10, "slack": 0, "mismatch": True}
    messages = [e.message for e in Event.select().where(Event.store_id == store.id)]
    assert f"Records do not match Shopify: {DRIFT}" in messages
    # An incremental sync brings the new customers but not the deletes: still Error.
    assert run_job("sync", store, entity="customers",
                   params={"mode": "incremental"}).state == "done"
    assert Store.get_by_id(store.id).status == Status.ERROR.value
    # The full sync repairs the drift, and the check that follows it clears the Error.
    view = run_job("sync", store, entity="customers")
    assert view.state == "done" and view.result["records_match"] is True
    store = Store.get_by_id(store.id)
    assert (store.status, store.status_detail) == (Status.CONNECTED.value, None)
    assert item(store) == {"ok": True, "detail": None}
    assert counts.MATCH_AGAIN in [e.message for e in Event.select().where(
        Event.store_id == store.id)]


def test_several_entities_are_joined_with_thousands_separators(offline_runtime):
    readiness = counts.readiness_item({
        "orders": counts.EntityCount(Entity.ORDERS, 1200, 1250, 0).text,
        "customers": counts.EntityCount(Entity.CUSTOMERS, 250, 248, 0).text,
    }, compared=True)
    assert readiness["detail"] == (
        "Customers: 250 here, 248 in Shopify; Orders: 1,200 here, 1,250 in Shopify")


def test_the_scheduled_counts_job_finds_drift_and_retry_repairs_it(sim, make_store, run_job,
                                                                    runtime):
    store = synced_store(make_store, run_job)
    drift_customers(sim, store)
    view = run_job("counts", store)
    assert view.result == {"ok": False, "detail": DRIFT}
    assert Store.get_by_id(store.id).status == Status.ERROR.value
    # Retry (the card's r, `shopsync retry STORE`): the drifted entity's full sync, only it.
    actions.use_runtime(runtime)
    summary = actions.store_summary(store.id)
    assert actions.why_cannot(summary, "retry") is None
    [job] = actions.retry_failed(store.id)
    assert (job.entity, job.kind) == ("customers", "sync")


def test_deliveries_in_flight_are_tolerated(sim, make_store, run_job):
    store = synced_store(make_store, run_job)
    drift_customers(sim, store)  # a difference of 1
    receipt = WebhookReceipt.create(topic="customers/create", shop_domain=store.domain,
                                    store_id=store.id, body="{}", status="applied")
    assert run_job("counts", store).result == {"ok": True, "detail": None}
    assert count_check(store, Entity.CUSTOMERS)["slack"] == 1
    # Five minutes later that delivery no longer explains anything.
    WebhookReceipt.update(received_at=utcnow() - timedelta(minutes=6)).where(
        WebhookReceipt.id == receipt.id).execute()
    assert run_job("counts", store).result == {"ok": False, "detail": DRIFT}
    # A delivery still waiting to be applied is in flight whatever its age.
    WebhookReceipt.update(status="received").where(WebhookReceipt.id == receipt.id).execute()
    assert run_job("counts", store).result["ok"] is True
    # Another entity's deliveries explain nothing about customers.
    WebhookReceipt.update(topic="orders/create").where(WebhookReceipt.id == receipt.id).execute()
    assert run_job("counts", store).result["ok"] is False


def test_disabled_and_syncing_entities_are_skipped(sim, make_store, run_job, runtime):
    store = synced_store(make_store, run_job)
    drift_customers(sim, store)
    assert run_job("counts", store).result["ok"] is False
    # Syncing: not compared, and the earlier verdict stands.
    EntitySync.update(state="syncing").where(
        (EntitySync.store == store.id) & (EntitySync.entity == "customers")).execute()
    assert counts.comparable(Store.get_by_id(store.id)) == [
        Entity.ORDERS, Entity.PRODUCTS, Entity.COLLECTIONS]
    assert run_job("counts", store).result == {"ok": False, "detail": DRIFT}
    EntitySync.update(state="synced").where(
        (EntitySync.store == store.id) & (EntitySync.entity == "customers")).execute()
    # Off: the status and the readiness item clear at once, and the next check does not
    # compare it.
    actions.use_runtime(runtime)
    actions.update_settings(store.id, {"customers": False, "email_consent": False,
                                       "sms_consent": False})
    assert Store.get_by_id(store.id).status == Status.CONNECTED.value
    assert item(store) == {"ok": True, "detail": None}
    assert run_job("counts", store).result == {"ok": True, "detail": None}
    assert Entity.CUSTOMERS not in counts.comparable(Store.get_by_id(store.id))


def test_counts_that_cannot_be_read_leave_the_verdict_standing(sim, make_store, run_job):
    store = synced_store(make_store, run_job)
    drift_customers(sim, store)
    assert run_job("counts", store).result["ok"] is False
    sim.patch(store.domain, frozen=True)
    assert run_job("counts", store).result == {"ok": False, "detail": DRIFT}


def test_the_scheduler_queues_a_count_check_every_interval(offline_runtime):
    from tests.engine.livedata_support import mark_synced, store_row

    scheduler = Scheduler(offline_runtime.settings, sync_interval=10_000,
                          reconcile_interval=10_000, webhook_assert_interval=10_000,
                          count_check_interval=3600)
    fresh = store_row("fresh-count.myshopify.com", webhooks_registered_at=utcnow())
    store = store_row("count.myshopify.com", webhooks_registered_at=utcnow())
    now = utcnow()
    mark_synced(store, at=now - timedelta(minutes=30))
    assert scheduler.tick(now).counts == []  # an hour after the initial sync's own check
    assert scheduler.tick(now + timedelta(minutes=31)).counts == ["count.myshopify.com"]
    assert Store.get_by_id(store.id).counts_checked_at == now + timedelta(minutes=31)
    assert scheduler.tick(now + timedelta(minutes=60)).counts == []
    assert Store.get_by_id(fresh.id).counts_checked_at is None  # no initial sync: nothing


def test_metrics_count_the_mismatched_entities_and_each_stores_difference(sim, make_store,
                                                                          run_job, runtime):
    from engine.serve.metrics import render
    from tests.engine.test_server import samples

    store = synced_store(make_store, run_job)
    drift_customers(sim, store)
    assert run_job("counts", store).result["ok"] is False
    found = samples(render().decode())
    assert found[("shopsync_stores_records_mismatch", (("entity", "customers"),))] == 1
    assert found[("shopsync_stores_records_mismatch", (("entity", "orders"),))] == 0
    drift = "shopsync_record_count_drift"
    assert found[(drift, (("entity", "customers"), ("store", store.domain)))] == -1
    assert (drift, (("entity", "orders"), ("store", store.domain))) not in found  # matches
    assert found[("shopsync_count_checks_total", (("outcome", "mismatch"),))] >= 1
    # Per-store series only with SHOPSYNC_METRICS_PER_STORE on; the fleet gauge stays.
    without = samples(render(per_store=False).decode())
    assert not any(name == drift for name, _labels in without)
    assert without[("shopsync_stores_records_mismatch", (("entity", "customers"),))] == 1
    # Switched off: not a mismatch any more, in the gauges as in the status.
    actions.use_runtime(runtime)
    actions.update_settings(store.id, {"customers": False})
    found = samples(render().decode())
    assert found[("shopsync_stores_records_mismatch", (("entity", "customers"),))] == 0
    assert not any(name == drift for name, _labels in found)


def test_silent_webhooks_while_shopify_counts_move_is_a_finding(sim, make_store, run_job):
    """Issue 13: a subscribed entity's webhooks silent for 24 h while Shopify's count of it
    changed between two count checks → Troubleshoot says so, with the re-registration fix."""
    from engine.lifecycle.diagnosis import diagnose
    from engine.lifecycle.subscriptions import ALL_TOPICS

    store = synced_store(make_store, run_job)
    Store.update(webhook_topics=",".join(ALL_TOPICS), webhooks_registered_at=utcnow()).where(
        Store.id == store.id).execute()
    sim.patch(store.domain, webhooks_enabled=False)
    assert run_job("counts", store).result["ok"] is True  # nothing moved yet
    assert not [f for f in diagnose() if "silent for 24 h" in f.problem]
    for _ in range(3):
        sim.create(store.domain, "orders")
    run_job("counts", store)
    assert count_check(store, Entity.ORDERS)["changed"] is True
    [silent] = [f for f in diagnose() if "silent for 24 h" in f.problem]
    assert silent.problem == (
        "Orders webhooks silent for 24 h while Shopify's count changed (6 → 9)")
    assert (silent.severity, silent.action, silent.entity, silent.key) == (
        "warning", "register_webhooks", "orders", "enter")
    assert "Retry Orders" in silent.fix
    # A delivery of that entity in the last 24 h: not silent.
    WebhookReceipt.create(topic="orders/updated", shop_domain=store.domain, store_id=store.id,
                          body="{}", status="applied")
    assert not [f for f in diagnose() if "silent for 24 h" in f.problem]
    # Topics not subscribed at all are the other finding's business (webhook_problem).
    WebhookReceipt.delete().execute()
    Store.update(webhook_topics="CUSTOMERS_CREATE").where(Store.id == store.id).execute()
    assert not [f for f in diagnose() if "silent for 24 h" in f.problem]


def test_on_postgresql_the_verdict_metrics_and_silent_finding_read_the_stored_json(pg_runtime):
    """The LIKE filters over the stored JSON (metrics, diagnosis) and the verdict's writes on
    PostgreSQL: two readings recorded directly (Shopify's side is the simulator's elsewhere)."""
    from engine.lifecycle.diagnosis import silent_changes
    from engine.lifecycle.subscriptions import ALL_TOPICS
    from engine.serve.metrics import render
    from tests.engine.test_server import samples
    from tests.tui.factories import make_store

    store = make_store("pg-drift.myshopify.com", "PG Drift", records=0)
    Store.update(webhook_topics=",".join(ALL_TOPICS)).where(Store.id == store.id).execute()
    EntitySync.update(full_synced_at=utcnow()).where(EntitySync.store == store.id).execute()
    readings = {entity: 0 for entity in ENTITY_ORDER}
    assert counts.record(store.id, readings) == {"ok": True, "detail": None}
    second = counts.record(store.id, {**readings, Entity.CUSTOMERS: 3})
    assert second == {"ok": False, "detail": "Customers: 0 here, 3 in Shopify",
                      "entities": {"customers": "Customers: 0 here, 3 in Shopify"}}
    assert Store.get_by_id(store.id).status == Status.ERROR.value
    found = samples(render().decode())
    assert found[("shopsync_stores_records_mismatch", (("entity", "customers"),))] == 1
    assert found[("shopsync_record_count_drift",
                  (("entity", "customers"), ("store", store.domain)))] == -3
    [change] = silent_changes(utcnow())[store.id]
    assert (change.entity, change.previous, change.current) == (Entity.CUSTOMERS, 0, 3)
