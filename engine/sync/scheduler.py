"""The schedule of live data: incremental syncs, reconciliation, webhook re-assertion.

`Scheduler.tick()` is one pass over the fleet; `Scheduler.run(stop)` calls it in a loop (an
asyncio task inside `serve`, or anywhere else it is embedded). Per store that may sync
(engine.domain.policy.store_blocked: not deleting, not Disconnected, not Reconnect required):

- every `sync_interval` (counted from the last scheduled run, or from the last sync of any kind
  if that is later): an incremental "sync" job (params {"mode": "incremental"}) for every
  enabled entity that has synced once (the first import is the operator's full sync);
- every `reconcile_interval` (counted from the initial sync): a "reconcile" sync of the same
  entities, which deletes what Shopify no longer has;
- every `webhook_assert_interval`: a "webhooks" job re-creating missing subscriptions;
- every `count_check_interval` (default an hour, counted from the store's last count check of
  any kind, or from the initial sync: a health check and every successful full sync run one
  too): a "counts" job
  comparing local records with Shopify's counts (engine.sync.counts), once the initial sync is
  complete.

`engine.jobs.queue.enqueue` returns the active job instead of queueing a second one, so there are no
overlapping runs per store and entity, whatever the intervals; a run that found its slot taken
is owed and queued on a later tick, the most overdue kind first. `last_incremental_at` and
`last_reconcile_at` record when the store's last scheduled run of each kind was queued. Old
webhook receipts are pruned here too, once an hour.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.config import Settings
from engine.domain.jobs import JobKind
from engine.domain.policy import store_blocked
from engine.domain.status import enabled_entities
from engine.jobs.queue import enqueue
from engine.persistence.database import (
    release_session_lock,
    try_session_lock,
    write_transaction,
)
from engine.persistence.facts import store_facts
from engine.persistence.models import EntitySync, Store, utcnow
from engine.persistence.reads import categories_of

log = logging.getLogger("shopsync.scheduler")

PRUNE_EVERY = 3600.0
# What a tick reads of every store to tell what is due (engine.persistence.reads.categories_of
# reads the cat_ flags).
PLAN_FIELDS = (
    Store.id, Store.domain, Store.cat_customers, Store.cat_email_consent, Store.cat_sms_consent,
    Store.cat_orders, Store.cat_catalogue, Store.last_incremental_at, Store.last_reconcile_at,
    Store.initial_sync_completed_at, Store.webhooks_asserted_at, Store.webhooks_registered_at,
    Store.counts_checked_at,
)
SCHEDULER_LOCK = "shopsync:scheduler"


@dataclass
class TickResult:
    """What one pass queued: (store domain, entity or None) per job kind."""

    incremental: list[tuple[str, str]] = field(default_factory=list)
    reconcile: list[tuple[str, str]] = field(default_factory=list)
    webhooks: list[str] = field(default_factory=list)
    counts: list[str] = field(default_factory=list)

    @property
    def queued(self) -> int:
        return (len(self.incremental) + len(self.reconcile) + len(self.webhooks)
                + len(self.counts))


def syncable(store: Store) -> bool:
    """Whether scheduled work may run for the store (engine.domain.policy.store_blocked)."""
    return store_blocked(store_facts(store)) is None


def _due(last: datetime | None, interval: float, now: datetime) -> bool:
    return last is None or now - last >= timedelta(seconds=interval)


def _overdue(last: datetime | None, interval: float, now: datetime) -> float:
    """Seconds past due (infinite when it never ran)."""
    return float("inf") if last is None else (now - last).total_seconds() - interval


@dataclass(frozen=True, slots=True)
class _StorePlan:
    """What one tick owes a store: its synced entities, the sync modes due (most overdue
    first: (seconds overdue, mode, the Store column stamping it)), webhooks, counts."""

    entities: list[str]
    syncs: list[tuple[float, str, str]]
    webhooks: bool
    counts: bool

    @property
    def nothing(self) -> bool:
        return not self.syncs and not self.webhooks and not self.counts


class Scheduler:
    """Queues scheduled jobs; `notify` (e.g. Runner.notify) is called when something was queued."""

    def __init__(
        self,
        settings: Settings,
        *,
        notify: Callable[[], None] | None = None,
        sync_interval: float | None = None,
        reconcile_interval: float | None = None,
        webhook_assert_interval: float | None = None,
        count_check_interval: float | None = None,
    ) -> None:
        self.sync_interval = sync_interval or settings.sync_interval
        self.reconcile_interval = reconcile_interval or settings.reconcile_interval
        self.webhook_assert_interval = (
            webhook_assert_interval or settings.webhook_assert_interval
        )
        self.count_check_interval = count_check_interval or settings.count_check_interval
        self.notify = notify
        self._last_prune = 0.0

    @property
    def tick_seconds(self) -> float:
        shortest = min(self.sync_interval, self.reconcile_interval, self.webhook_assert_interval,
                       self.count_check_interval)
        return max(0.05, min(5.0, shortest / 4))

    def tick(self, now: datetime | None = None) -> TickResult:
        """One pass over the fleet; returns what was queued.

        Several serve processes may share the database: one of them ticks at a time (a lock
        on PostgreSQL), and everything a tick decides from is in the database.
        """
        if not try_session_lock(SCHEDULER_LOCK):
            return TickResult()
        try:
            return self._tick(now or utcnow())
        finally:
            release_session_lock(SCHEDULER_LOCK)

    def _tick(self, now: datetime) -> TickResult:
        result = TickResult()
        # Only the columns that say what is due (the wide row is read for a store that has
        # something due).
        stores = list(Store.select(*PLAN_FIELDS).where(
            (Store.paused == False) & (Store.needs_reauth == False)  # noqa: E712
            & (Store.deleting == False)  # noqa: E712
        ))
        # Every store's entity sync times in one read: a tick over a fleet where nothing is
        # due costs two queries, not two per store (the policy check, which reads the store's
        # entities in full, runs only for a store that has something due).
        synced_of: dict[int, dict[str, datetime]] = {}
        for store_id, entity, last_synced_at in EntitySync.select(
            EntitySync.store, EntitySync.entity, EntitySync.last_synced_at
        ).where(EntitySync.last_synced_at.is_null(False)).tuples().iterator():
            synced_of.setdefault(store_id, {})[entity] = last_synced_at
        for store in stores:
            try:
                plan = self._store_plan(store, synced_of.get(store.id, {}), now)
                if plan.nothing:
                    continue
                full = Store.get_or_none(Store.id == store.id)  # gone since: nothing to do
                if full is None or not syncable(full):
                    continue
                store = full
                self._store_tick(store, plan, now, result)
            except Exception:
                log.exception("scheduling for %s failed", store.domain)
        if result.queued and self.notify is not None:
            self.notify()
        if time.monotonic() - self._last_prune > PRUNE_EVERY:
            self._last_prune = time.monotonic()
            self._prune()
        return result

    def _store_plan(self, store: Store, synced: dict[str, datetime], now: datetime
                    ) -> _StorePlan:
        """What is due for the store (read from its row and its entities' sync times only)."""
        entities: list[str] = [
            e.value for e in enabled_entities(categories_of(store)) if e.value in synced
        ]
        # A sync that just ran (the initial one, an operator's re-sync) counts as the last
        # incremental run: the next one is due an interval after the oldest of them.
        oldest_sync = min((synced[e] for e in entities), default=None)
        last_incremental = max(
            (t for t in (store.last_incremental_at, oldest_sync) if t is not None), default=None
        )
        # Both kinds want the same per-entity slot (one active sync job per store and entity);
        # the one that is more overdue goes first, so neither can starve the other however
        # short the intervals are against the time a run takes.
        reference = store.last_reconcile_at or store.initial_sync_completed_at
        due: list[tuple[float, str, str]] = []
        if entities and _due(last_incremental, self.sync_interval, now):
            due.append((_overdue(last_incremental, self.sync_interval, now), "incremental",
                        "last_incremental_at"))
        if entities and reference is not None and _due(reference, self.reconcile_interval, now):
            due.append((_overdue(reference, self.reconcile_interval, now), "reconcile",
                        "last_reconcile_at"))
        # Paced: a store whose registration keeps failing is retried once per interval.
        last_assert = store.webhooks_asserted_at
        webhooks = _due(last_assert, self.webhook_assert_interval, now) and (
            last_assert is not None
            or _due(store.webhooks_registered_at, self.webhook_assert_interval, now)
        )
        counted = store.counts_checked_at or store.initial_sync_completed_at
        counts = counted is not None and _due(counted, self.count_check_interval, now)
        return _StorePlan(entities, sorted(due, key=lambda d: d[0], reverse=True), webhooks,
                          counts)

    def _store_tick(self, store: Store, plan: _StorePlan, now: datetime,
                    result: TickResult) -> None:
        for _late, mode, column in plan.syncs:
            queued = result.incremental if mode == "incremental" else result.reconcile
            if self._queue_syncs(store, plan.entities, mode, queued):
                Store.update(**{column: now}).where(Store.id == store.id).execute()
        if plan.webhooks:
            enqueue(JobKind.WEBHOOKS, store)
            Store.update(webhooks_asserted_at=now).where(Store.id == store.id).execute()
            result.webhooks.append(store.domain)
        if plan.counts:
            enqueue(JobKind.COUNTS, store)
            Store.update(counts_checked_at=now).where(Store.id == store.id).execute()
            result.counts.append(store.domain)

    @staticmethod
    def _queue_syncs(store: Store, entities: list[str], mode: str,
                     queued: list[tuple[str, str]]) -> bool:
        """Queue `mode` syncs; True when every entity now has one (or a full sync) active.

        An active sync of another mode takes the place of a new one (one active sync job per
        store and entity); then the run is owed and is queued again on a later tick.
        """
        covered = True
        with write_transaction():
            for entity in entities:
                job = enqueue(JobKind.SYNC, store, entity=entity, params={"mode": mode})
                job_mode = (job.params or {}).get("mode", "full")
                if job_mode in (mode, "full"):
                    queued.append((store.domain, entity))
                else:
                    covered = False
        return covered

    def _prune(self) -> None:
        from engine.webhooks.receipts import prune_receipts

        try:
            removed = prune_receipts()
        except Exception:
            log.exception("pruning webhook receipts failed")
            return
        if removed:
            log.info("pruned %d old webhook receipts", removed)

    async def run(self, stop: asyncio.Event | threading.Event) -> None:
        """Tick until `stop` is set; database work runs in a worker thread."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("scheduler tick failed")
            await _wait(stop, self.tick_seconds)


async def _wait(stop: asyncio.Event | threading.Event, seconds: float) -> None:
    if isinstance(stop, asyncio.Event):
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except TimeoutError:
            pass
    else:
        await asyncio.to_thread(stop.wait, seconds)
