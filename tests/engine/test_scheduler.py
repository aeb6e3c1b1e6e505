"""The scheduler: which stores get incremental syncs, reconciliations and webhook re-assertion."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from engine.persistence.models import EntitySync, Job, Store, utcnow
from engine.sync.scheduler import Scheduler
from tests.engine.livedata_support import mark_synced, store_row


@pytest.fixture
def scheduler(offline_runtime) -> Scheduler:  # type: ignore[no-untyped-def]
    return Scheduler(offline_runtime.settings, sync_interval=60, reconcile_interval=600,
                     webhook_assert_interval=300)


def jobs() -> list[tuple[str, str | None, str | None, str]]:
    return [(j.store_domain.split(".")[0], j.kind, j.entity, (j.params or {}).get("mode"))
            for j in Job.select().where(Job.state.in_(("queued", "running"))).order_by(Job.id)]


def finish_all() -> None:
    Job.update(state="done").where(Job.state.in_(("queued", "running"))).execute()


def test_incremental_syncs_for_enabled_entities_without_overlap(scheduler: Scheduler) -> None:
    store = store_row("alpha.myshopify.com", cat_catalogue=False,
                      webhooks_registered_at=utcnow())
    now = utcnow()
    mark_synced(store, at=now - timedelta(seconds=120))
    result = scheduler.tick(now)
    assert result.incremental == [("alpha.myshopify.com", "customers"),
                                  ("alpha.myshopify.com", "orders")]
    assert jobs() == [("alpha", "sync", "customers", "incremental"),
                      ("alpha", "sync", "orders", "incremental")]
    assert Store.get_by_id(store.id).last_incremental_at == now
    # Not due again yet; and when due, the runs still queued are not queued twice.
    assert scheduler.tick(now + timedelta(seconds=30)).queued == 0
    scheduler.tick(now + timedelta(seconds=61))
    assert len(jobs()) == 2
    finish_all()
    scheduler.tick(now + timedelta(seconds=122))
    assert len(jobs()) == 2
    assert Store.get_by_id(store.id).last_incremental_at == now + timedelta(seconds=122)


def test_a_sync_that_just_ran_postpones_the_next_incremental(scheduler: Scheduler) -> None:
    store = store_row("recent.myshopify.com", webhooks_registered_at=utcnow())
    now = utcnow()
    mark_synced(store, at=now - timedelta(seconds=20))
    assert scheduler.tick(now).incremental == []
    assert len(scheduler.tick(now + timedelta(seconds=41)).incremental) == 4


def test_entities_never_synced_wait_for_their_first_full_sync(scheduler: Scheduler) -> None:
    store = store_row("fresh.myshopify.com", webhooks_registered_at=utcnow())
    EntitySync.update(last_synced_at=utcnow() - timedelta(hours=1), state="synced").where(
        (EntitySync.store == store.id) & (EntitySync.entity == "customers")).execute()
    scheduler.tick()
    assert jobs() == [("fresh", "sync", "customers", "incremental")]


def test_stores_that_cannot_sync_get_nothing(scheduler: Scheduler) -> None:
    for name, fields in (("paused", {"paused": True}), ("reauth", {"needs_reauth": True}),
                         ("deleting", {"deleting": True}),
                         ("scopes", {"granted_scopes": "read_customers"})):
        mark_synced(store_row(f"{name}.myshopify.com", **fields))
    assert Store.get(Store.domain == "scopes.myshopify.com").status == "reconnect_required"
    result = scheduler.tick()
    assert result.queued == 0
    assert jobs() == []


def test_reconciliation_follows_the_initial_sync_and_takes_turns(scheduler: Scheduler) -> None:
    store = store_row("beta.myshopify.com", cat_customers=False, cat_catalogue=False,
                      webhooks_registered_at=utcnow())
    now = utcnow()
    mark_synced(store, at=now - timedelta(seconds=700))
    assert Store.get_by_id(store.id).initial_sync_completed_at == now - timedelta(seconds=700)
    first = scheduler.tick(now)
    # Both are due; the incremental run is the more overdue (640 s against 100 s) and goes
    # first; reconciliation is owed, not dropped.
    assert (first.incremental, first.reconcile) == ([("beta.myshopify.com", "orders")], [])
    assert Store.get_by_id(store.id).last_reconcile_at is None
    assert scheduler.tick(now + timedelta(seconds=1)).queued == 0  # slot still taken
    finish_all()
    second = scheduler.tick(now + timedelta(seconds=2))
    assert (second.incremental, second.reconcile) == ([], [("beta.myshopify.com", "orders")])
    assert Store.get_by_id(store.id).last_reconcile_at == now + timedelta(seconds=2)
    assert jobs() == [("beta", "sync", "orders", "reconcile")]
    # Runs that take longer than both intervals: the kinds alternate, neither starves.
    modes = []
    moment = now + timedelta(seconds=2)
    for _ in range(6):
        finish_all()
        moment += timedelta(seconds=700)
        tick = scheduler.tick(moment)
        modes.append("incremental" if tick.incremental else "reconcile")
    assert modes == ["incremental", "reconcile"] * 3


def test_webhook_subscriptions_are_re_asserted_on_their_interval(scheduler: Scheduler) -> None:
    unregistered = store_row("gamma.myshopify.com")
    recent = store_row("delta.myshopify.com", webhooks_registered_at=utcnow())
    now = utcnow()
    assert scheduler.tick(now).webhooks == ["gamma.myshopify.com"]
    assert [(j[0], j[1]) for j in jobs()] == [("gamma", "webhooks")]
    finish_all()
    # A failing registration is retried once per interval, not on every tick.
    assert scheduler.tick(now + timedelta(seconds=10)).webhooks == []
    later = scheduler.tick(now + timedelta(seconds=301))
    assert sorted(later.webhooks) == ["delta.myshopify.com", "gamma.myshopify.com"]
    assert {j.store_id for j in Job.select().where(Job.kind == "webhooks")} == {
        unregistered.id, recent.id}


async def test_run_loop_ticks_until_stopped(offline_runtime) -> None:  # type: ignore[no-untyped-def]
    mark_synced(store_row("loop.myshopify.com", webhooks_registered_at=utcnow()),
                at=utcnow() - timedelta(seconds=1))
    woken: list[bool] = []
    scheduler = Scheduler(offline_runtime.settings, notify=lambda: woken.append(True),
                          sync_interval=0.2, reconcile_interval=100, webhook_assert_interval=100)
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if woken:
            break
    stop.set()
    await asyncio.wait_for(task, 2.0)
    assert woken
    assert {job[3] for job in jobs()} == {"incremental"}
    assert len(jobs()) == 4


def test_a_tick_with_nothing_due_reads_the_fleet_in_a_constant_number_of_queries(
    scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every serve ticks every few seconds: over a fleet where nothing is due, the tick must
    not run queries per store (it ran two per store, ~20% of a serve's CPU at 300 stores)."""
    from engine.persistence.models import database

    now = utcnow()
    for index in range(12):
        store = store_row(f"quiet{index}.myshopify.com", webhooks_registered_at=now,
                          webhooks_asserted_at=now, counts_checked_at=now)
        mark_synced(store, at=now - timedelta(seconds=5))
    statements: list[str] = []
    real = database.obj  # the Proxy's database: its execute_sql runs every query
    execute_sql = real.execute_sql

    def counting(sql: str, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return execute_sql(sql, *args, **kwargs)

    monkeypatch.setattr(real, "execute_sql", counting)
    assert scheduler.tick(now).queued == 0
    assert len(statements) <= 3, statements
    # And the store that falls due is still found among them.
    monkeypatch.undo()
    due = scheduler.tick(now + timedelta(seconds=61))
    assert len(due.incremental) == 12 * 4
