"""The webhook worker: one thread that records deliveries and applies them right after.

`WebhookIngest.submit(delivery)` (awaited by the HTTP handler) returns once the delivery's
receipt is committed, so the 200 that follows is durable and fast. The worker group-commits
the receipts of concurrent requests in one transaction, then applies received deliveries in
batches (engine.webhooks.apply) off the request path; one thread owns this process's webhook
writes, so applying never competes with itself for SQLite's write lock.

Receipts come first. After a commit that answered n > 1 requests (concurrent requests: a
burst), applying waits while the next receipts arrive within n x LULL (at most MAX_LULL), so a
burst is answered at the speed of its receipts, with the event loop and the worker no longer
taking turns at the GIL for every batch, and applied in batches of up to `apply_batch` as soon
as it pauses. The lag is bounded: once the oldest unapplied delivery is MAX_LAG old, or the
unapplied bodies pass MAX_LAG_BYTES, applies run between receipt batches again, so a flood
that never pauses is answered at the speed receipts and applies reach together. Requests
that come one at a time (200/s: one every 5 ms) are applied right after their receipt.

`reject(shop, topic, reason)` (not awaited) queues a refused delivery for webhook health's
per-store counter (engine.webhooks.receipts.count_rejections); the worker writes a batch's
refusals in one transaction, so a flood of forgeries costs one small write per batch.

At start it applies whatever a crash left "received", and sweeps again every `sweep_interval`
(a batch whose transaction failed is retried that way). A receipt is settled with a guarded
UPDATE (status still "received") inside the apply's own savepoint, so two workers on one
PostgreSQL database never apply a delivery twice.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from peewee import Field, InterfaceError, OperationalError

from engine.domain.coerce import parse_time
from engine.persistence.counters import count_malformed
from engine.persistence.database import transaction_lock, write_transaction
from engine.persistence.models import RecordMark, Store, database, utcnow
from engine.webhooks.apply import CONFIRMED_TOPICS, ENTITY_TOPICS, apply
from engine.webhooks.claims import KNOWN_TOPICS
from engine.webhooks.confirm import Confirmer
from engine.webhooks.context import (
    TOMBSTONE_TTL,
    WEBHOOK_WRITES,
    ApplyContext,
    Outcome,
    add_counts,
    event_values,
    flush_record_counts,
    insert_rows,
    touch_stores,
)
from engine.webhooks.receipts import (
    Delivery,
    IngestUnavailable,
    Rejection,
    count_rejections,
    event_row,
    label,
    prune_rejections,
    received_deliveries,
    recent_deletions,
    record_receipts,
    settle,
)

log = logging.getLogger("shopsync.webhooks")

# A "received" receipt older than this that nobody holds in memory is applied by the sweep.
SWEEP_AGE = timedelta(seconds=5)
PRUNE_EVERY = 3600.0  # seconds between prunes of old record marks
# An apply batch ends early (commits what it applied, leaves the rest queued) once it has run
# this long while requests wait for their receipts: a 2xx never waits behind a whole batch.
APPLY_SLICE = 0.02
# After a receipt commit that answered n > 1 requests, applying waits while the next receipt
# arrives within n x LULL seconds (at most MAX_LULL: the answered requests come back as fast
# as the event loop gets through the answers), unless the backlog is MAX_LAG seconds old or
# holds MAX_LAG_BYTES of bodies.
LULL = 0.002
MAX_LULL = 0.1
MAX_LAG = 10.0
MAX_LAG_BYTES = 64 * 1024 * 1024
ENTITY_PREFIXES = frozenset(("customers", "orders", "products", "collections"))
# What applying an entity topic (engine.webhooks.apply) reads of its store: a batch of only
# those selects these columns, not the whole wide row.
ENTITY_STORE_FIELDS: tuple[Field, ...] = (
    Store.id, Store.domain, Store.deleting, Store.paused, Store.needs_reauth,
    Store.cat_customers, Store.cat_email_consent, Store.cat_sms_consent, Store.cat_orders,
    Store.cat_catalogue,
)
_STOP = object()


def entity_stores(domains: set[str]) -> dict[str, Store]:
    """The stores with these domains, only ENTITY_STORE_FIELDS read: plain SQL (building the
    peewee query cost more than a one-delivery transaction's writes)."""
    if not domains:
        return {}
    columns = ", ".join(f'"{field.column_name}"' for field in ENTITY_STORE_FIELDS)
    rows = database.execute_sql(
        f'SELECT {columns} FROM "store" WHERE "domain" IN '
        f'({", ".join([database.param] * len(domains))})', sorted(domains),
    ).fetchall()
    stores = {}
    for row in rows:
        store = Store(__no_default__=1, **{
            field.name: field.python_value(value)
            for field, value in zip(ENTITY_STORE_FIELDS, row, strict=True)
        })
        stores[store.domain] = store
    return stores


class _AlreadySettled(Exception):
    """The receipt was settled by someone else while this worker applied it."""


def _resolve(answers: list[tuple[asyncio.Future[str], str | BaseException]]) -> None:
    """Set each request's future from the worker thread: one call into each event loop for
    the whole batch (not one wake-up per request), skipping requests whose client left."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[str],
                                                          str | BaseException]]] = {}
    for future, value in answers:
        by_loop.setdefault(future.get_loop(), []).append((future, value))
    for loop, group in by_loop.items():
        try:
            loop.call_soon_threadsafe(_set_all, group)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _set_all(group: list[tuple[asyncio.Future[str], str | BaseException]]) -> None:
    for future, value in group:
        if future.done():
            continue
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)


class WebhookIngest:
    """Records deliveries durably and applies them, on one background thread."""

    def __init__(
        self,
        *,
        notify: Callable[[], None] | None = None,
        batch_size: int = 200,
        apply_batch: int = 100,
        sweep_interval: float = 10.0,
        confirm: Confirmer | None = None,
        known_topics: frozenset[str] = KNOWN_TOPICS,
    ) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        # (receipt id, delivery, time.monotonic() when it was queued), oldest first.
        self._work: deque[tuple[int, Delivery, float]] = deque()
        self._work_bytes = 0  # the bodies held in _work
        self._answered = 0  # receipts in the last committed batch
        self._inflight: set[int] = set()
        self.batch_size = batch_size
        self.apply_batch = apply_batch
        self.sweep_interval = sweep_interval
        self.ctx = ApplyContext(notify=notify)
        self.confirm = confirm
        self.known_topics = known_topics  # refusals are counted per store for these only
        self._stopping = threading.Event()
        self._deadline: float | None = None
        self._thread: threading.Thread | None = None
        self._busy = False
        self._last_prune = 0.0
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> WebhookIngest:
        self._thread = threading.Thread(target=self._main, name="shopsync-webhooks", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """Record what is queued, apply what fits in `timeout`, leave the rest for the sweep."""
        self._deadline = time.monotonic() + timeout
        self._stopping.set()
        self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout + 1.0)
        self._closed = True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._closed

    @property
    def backlog(self) -> int:
        return self._queue.qsize() + len(self._work)

    def idle(self) -> bool:
        """Nothing submitted is left unrecorded or unapplied."""
        return self._queue.unfinished_tasks == 0 and not self._work and not self._busy

    def wait_idle(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.01)
        return self.idle()

    async def submit(self, delivery: Delivery) -> str:
        """Record the delivery; returns "received" or "duplicate" once it is committed."""
        if not self.alive or self._stopping.is_set():
            raise IngestUnavailable("webhook worker is not running")
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._queue.put((delivery, future))
        return await future

    def reject(self, shop_domain: str | None, topic: str | None, reason: str) -> None:
        """Count a refused delivery against the store and topic it claims (webhook health),
        when the topic is one we subscribe to; the worker drops it unless the store exists."""
        domain = (shop_domain or "").strip().lower()
        if domain and topic in self.known_topics and self.alive and not self._stopping.is_set():
            self._queue.put(Rejection(domain, str(topic), reason))

    # -- the thread -----------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._load_tombstones()
            self._sweep(initial=True)
        except Exception:
            log.exception("webhook startup sweep failed")
        last_sweep = time.monotonic()
        try:
            while True:
                items = self._take(timeout=self._lull() if self._work else 0.2)
                rejections = [item for item in items if isinstance(item, Rejection)]
                if rejections:
                    self._busy = True
                    self._count_rejections(rejections)
                    items = [item for item in items if not isinstance(item, Rejection)]
                if items:
                    self._busy = True
                    self._write_receipts(items)
                self._answered = len(items)  # none: the pause came, apply until receipts do
                if self._work and not self._past_deadline() and (
                    not items or self._stopping.is_set() or self._lagging()
                ):
                    self._busy = True
                    self._apply_batch()
                self._busy = False
                if self._stopping.is_set() and self._queue.empty() and (
                    not self._work or self._past_deadline()
                ):
                    break
                if time.monotonic() - last_sweep > self.sweep_interval:
                    last_sweep = time.monotonic()
                    try:
                        self._sweep(initial=False)
                    except Exception:
                        log.exception("webhook sweep failed")
        finally:
            self._busy = False
            self._closed = True
            self._fail_pending()
            if self._work:
                log.info("webhook worker stopped with %d receipts left for the next start",
                         len(self._work))
            database.close()

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() > self._deadline

    def _lull(self) -> float:
        """How long a pause in the receipts must be before applying starts."""
        return 0.0 if self._answered <= 1 else min(LULL * self._answered, MAX_LULL)

    def _lagging(self) -> bool:
        """Whether the applies may no longer wait for the receipts to pause."""
        return (time.monotonic() - self._work[0][2] > MAX_LAG
                or self._work_bytes > MAX_LAG_BYTES)

    def _queue_work(self, receipt_id: int, delivery: Delivery) -> None:
        self._inflight.add(receipt_id)
        self._work.append((receipt_id, delivery, time.monotonic()))
        self._work_bytes += len(delivery.body)

    def _take(self, *, timeout: float) -> list[Any]:
        """What was submitted, waiting up to `timeout` seconds for the first of it."""
        items: list[Any] = []
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            return []
        if first is _STOP:
            self._queue.task_done()
        else:
            items.append(first)
        while len(items) < self.batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.task_done()
            else:
                items.append(item)
        return items

    def _fail_pending(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP and not isinstance(item, Rejection):
                _resolve([(item[1], IngestUnavailable("webhook worker stopped"))])
            self._queue.task_done()

    # -- refusals --------------------------------------------------------------------------------

    def _count_rejections(self, rejections: list[Rejection]) -> None:
        try:
            count_rejections(rejections, self.known_topics)
        except Exception:  # a counter: losing it must not stop the worker
            log.exception("counting %d refused webhook deliveries failed", len(rejections))
        finally:
            for _ in rejections:
                self._queue.task_done()

    # -- receipts -------------------------------------------------------------------------------

    def _write_receipts(self, items: list[tuple[Delivery, asyncio.Future[str]]]) -> None:
        try:
            results = record_receipts([delivery for delivery, _future in items])
        except Exception as error:
            log.exception("recording %d webhook deliveries failed", len(items))
            _resolve([(future, error) for _delivery, future in items])
            for _ in items:
                self._queue.task_done()
            return
        answers: list[tuple[asyncio.Future[str], str | BaseException]] = []
        for (delivery, future), (receipt_id, status) in zip(items, results, strict=True):
            if status == "received":
                self._queue_work(receipt_id, delivery)
            answers.append((future, status))
        _resolve(answers)  # committed: every waiting request may answer now
        for _ in items:
            self._queue.task_done()

    # -- applying -------------------------------------------------------------------------------

    def _apply_batch(self) -> None:
        queued = [self._work.popleft() for _ in range(min(self.apply_batch, len(self._work)))]
        batch = [(receipt_id, delivery) for receipt_id, delivery, _at in queued]
        self._work_bytes -= sum(len(delivery.body) for _rid, delivery in batch)
        done = batch
        try:
            self._ask_shopify(batch)
            applied = self._apply(batch)
            done, rest = batch[:applied], queued[applied:]
            self._work.extendleft(reversed(rest))  # next, in the same order
            self._work_bytes += sum(len(delivery.body) for _rid, delivery, _at in rest)
        except Exception:
            log.exception("applying %d webhook deliveries failed; the sweep retries them",
                          len(batch))
            self.ctx.forget_batch()
        finally:
            for receipt_id, _delivery in done:
                self._inflight.discard(receipt_id)
        for callback in list(self.ctx.after_commit):
            try:
                callback()
            except Exception:
                log.exception("webhook follow-up failed")
        self.ctx.forget_batch()

    def _ask_shopify(self, batch: list[tuple[int, Delivery]]) -> None:
        """Confirm the batch's uninstalls and shop redactions (before its transaction)."""
        if self.confirm is None:
            return
        domains = {d.shop_domain for _rid, d in batch if d.topic in CONFIRMED_TOPICS}
        if not domains:
            return
        for store in Store.select().where(Store.domain.in_(domains)):
            self.ctx.installs[store.id] = self.confirm(store)

    def _apply(self, batch: list[tuple[int, Delivery]]) -> int:
        """Apply the batch in one transaction; returns how many of it were applied (all, or
        fewer when receipts were waiting for more than APPLY_SLICE: the rest stay queued)."""
        ctx = self.ctx
        events: list[dict[str, Any]] = []
        counts: Counter[tuple[str, str]] = Counter()
        touched: set[int] = set()
        with write_transaction():
            transaction_lock(WEBHOOK_WRITES)
            # Entity topics read a few flags of the store; the rest may read any of it.
            domains = {d.shop_domain for _rid, d in batch}
            if all(d.topic in ENTITY_TOPICS for _rid, d in batch):
                stores = entity_stores(domains)
            else:
                stores = {s.domain: s for s in Store.select().where(Store.domain.in_(domains))}
            started = time.monotonic()
            applied = 0
            for receipt_id, delivery in batch:
                if (applied and not self._queue.empty()
                        and time.monotonic() - started > APPLY_SLICE):
                    break
                applied += 1
                store = stores.get(delivery.shop_domain)
                outcome = self._apply_one(receipt_id, delivery, store)
                if outcome is None:  # another worker got there first
                    continue
                if store is not None:
                    touched.add(store.id)
                    if delivery.topic.split("/")[0] not in ENTITY_PREFIXES:
                        stores[store.domain] = Store.get_by_id(store.id)  # flags may change
                counts[(delivery.topic, outcome.status)] += 1
                events.append(event_row(delivery, store.id if store else None, outcome.status,
                                     outcome.detail, outcome.level, label(delivery, outcome),
                                     receipt_id))
            flush_record_counts(ctx)
            touch_stores(touched, utcnow())
            insert_rows("event", event_values(events))
            add_counts("shopsync_webhooks_total", counts)
            malformed = count_malformed()
            if malformed:
                log.warning("webhooks: %d malformed values stored as empty", malformed)
        return applied

    def _apply_one(self, receipt_id: int, delivery: Delivery, store: Store | None
                   ) -> Outcome | None:
        if store is None:
            outcome = Outcome("ignored", "unknown shop")
        elif store.deleting:
            outcome = Outcome("ignored", "store being deleted")
        else:
            mark = self.ctx.checkpoint()
            try:
                with database.atomic():  # a savepoint: a failed delivery leaves no trace
                    outcome = apply(self.ctx, store, delivery.topic, delivery.payload,
                                    parse_time(delivery.triggered_at))
                    if not settle(receipt_id, outcome, store.id):
                        raise _AlreadySettled()
                return outcome
            except _AlreadySettled:
                self.ctx.rollback(mark)
                return None
            except (OperationalError, InterfaceError):
                raise  # the database, not the delivery: the batch is retried by the sweep
            except Exception as error:
                self.ctx.rollback(mark)
                log.exception("webhook %s for %s failed", delivery.topic, delivery.shop_domain)
                outcome = Outcome("failed", f"{type(error).__name__}: {error}", level="error")
        return outcome if settle(receipt_id, outcome, store.id if store else None) else None

    # -- recovery -------------------------------------------------------------------------------

    def _sweep(self, *, initial: bool) -> None:
        """Queue "received" receipts nobody holds: left by a crash, or by a failed batch."""
        found = 0
        for receipt_id, delivery in received_deliveries(
            older_than=None if initial else SWEEP_AGE
        ):
            if receipt_id in self._inflight:
                continue
            self._queue_work(receipt_id, delivery)
            found += 1
        if found:
            log.info("webhook sweep: %d received deliveries queued for applying", found)
        if time.monotonic() - self._last_prune > PRUNE_EVERY:
            self._last_prune = time.monotonic()
            self.ctx.prune_tombstones()
            with write_transaction():
                prune_rejections()

    def _load_tombstones(self) -> None:
        """Once, after an upgrade from tombstones kept in memory: the deletions of the last
        TOMBSTONE_TTL, from the receipts, so a late older update cannot resurrect them."""
        if RecordMark.select().where(RecordMark.deleted_at.is_null(False)).exists():
            return
        with write_transaction():
            for key, at in recent_deletions(TOMBSTONE_TTL):
                self.ctx.tombstone(key, at)
