"""The "sync" job: one entity of one store, by bulk export → streamed JSONL → batched upserts.

Job params: `{"mode": "full" | "incremental" | "reconcile"}` (default full).

- full:        exports everything; every row seen gets this run's id; after a COMPLETE export the
               rows not seen are deleted (drift repair). One event reports created / updated /
               removed. Sets "Last synced" and counts towards "Initial sync complete".
- incremental: exports records updated since the watermark minus `incremental_overlap`; upserts
               only, then advances `cursor_updated_at` to the newest updatedAt seen.
- reconcile:   ids-only export; local rows (and their children) Shopify no longer lists are deleted.

Crash safety: the bulk operation id is stored on the EntitySync row as soon as Shopify returns
it. A runner that takes over the job finds it there and polls that same operation (adopts it)
instead of starting another; an interrupted import just re-streams the file, because the upserts
and the created/updated bookkeeping are idempotent (engine.sync.importer).

Polling sleeps `bulk_poll_interval` between polls, or less when `wake(store_id, entity)` is called
(the webhook receiver does so on bulk_operations/finish). Database work runs in threads so one
store's import never stalls another store's HTTP on the shared event loop.

This module is the async orchestration; engine.sync.state holds the run's database side
(prepare, progress, outcomes), engine.sync.importer the batched upserts, engine.sync.rows the
mapping of exported objects to rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import NoReturn

from engine.credentials import WaitMeter, open_client
from engine.domain.progress import RateWindow, SyncProgress
from engine.domain.status import CATEGORY_SCOPE, ENTITY_CATEGORY, Entity
from engine.jobs import wakeups
from engine.jobs.runner import JobContext, JobFailed, JobInterrupted
from engine.persistence import counters as metrics
from engine.persistence.database import database_fault
from engine.persistence.models import Store, utcnow
from engine.shopify import bulk
from engine.shopify.bulk import BulkStatus
from engine.shopify.client import ShopifyClient
from engine.shopify.documents import bulk_query, count_query
from engine.shopify.errors import (
    BulkNotFound,
    PermanentError,
    ScopeError,
    ShopifyError,
    TransientError,
)
from engine.shopify.oauth import access_scopes
from engine.sync.bulk_operations import check_slots
from engine.sync.counts import check_counts
from engine.sync.importer import IdMarker, Importer, Sink, stream_into
from engine.sync.state import (
    Plan,
    RunInfo,
    all_fully_synced,
    mark_interrupted,
    prepare,
    record_adoption,
    record_failure,
    record_stopped,
    record_success,
    restart_run,
    set_operation,
    skip_reason,
    write_progress,
)

__all__ = ["MODES", "all_fully_synced", "run_sync"]

log = logging.getLogger("shopsync.sync")

MODES = ("full", "incremental", "reconcile")
RESTREAMS = 2  # a download that breaks off mid-file is started over this many times
PROGRESS_EVERY = 0.25  # seconds between progress writes
STORE_CHECK_EVERY = 1.0  # seconds between checks that the store may still sync


class SyncStopped(Exception):
    """The operator disconnected or is deleting the store (or switched the category off, or
    the grant went) while this run was under way: it ends now, cleanly, importing no more."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- the run --------------------------------------------------------------------------------------

class SyncRun:
    """One run of one entity: export (start or adopt, poll), import, record the outcome."""

    def __init__(self, ctx: JobContext, entity: Entity, mode: str, plan: Plan) -> None:
        self.ctx = ctx
        self.entity = entity
        self.mode = mode
        self.plan = plan
        self.store = plan.store
        self.sync = plan.sync
        self.settings = ctx.runtime.settings
        self.meter = WaitMeter()
        self.operation_id: str | None = plan.adopt_id
        self.adopted = False
        self.operation_finished = False  # the operation reached a terminal state
        self._last_progress = 0.0
        self._moved = False  # something moved since the last progress write
        self.export_objects = RateWindow()  # objectCount per second while Shopify exports
        self.export_roots = RateWindow()  # rootObjectCount per second: the export's ETA
        self._export_seen = -1
        self.import_window = RateWindow()  # root records imported per second
        self.import_done = 0
        self.import_total: int | None = None  # rootObjectCount of the finished export
        self._last_store_check = time.monotonic()

    # -- orchestration ----------------------------------------------------------------------------

    async def execute(self) -> dict:
        try:
            async with open_client(self.ctx.runtime, self.store, on_wait=self.meter) as client:
                try:
                    status = await self._export(client)
                    import_started = time.monotonic()
                    sink = await self._import(status)
                    if self.mode != "incremental":  # an incremental run may well find nothing
                        await self._check_yield(client, sink)
                    seconds = time.monotonic() - import_started
                except ShopifyError as error:
                    await self._fail(error, client)
                except SyncStopped as stop:
                    if self.operation_id is not None and not self.operation_finished:
                        await self._cancel_quietly(client, self.operation_id)
                    return await asyncio.to_thread(record_stopped, self._info(), stop.reason)
                result = await asyncio.to_thread(
                    record_success, self._info(), sink, seconds, self.sync.run_base or 0
                )
                if self.mode == "full":  # drift repaired: does the store match Shopify now?
                    await self._check_counts(result, client)  # this run's client: no other
            return result
        except ShopifyError as error:  # open_client itself: no usable token
            await self._fail(error, None)
        except JobInterrupted:
            # Back in the queue, adopting its operation when resumed: not Syncing meanwhile.
            await asyncio.to_thread(mark_interrupted, self.sync.id)
            raise
        except JobFailed:
            raise
        except Exception as error:  # a bug or a database error: never leave "syncing" behind
            detail = database_fault(error)  # a full disk is said as such, not as a crash
            if detail is None:
                log.exception("sync of %s %s crashed", self.store.domain, self.entity.value)
                detail = f"Internal error: {type(error).__name__}: {error}"
            else:
                log.error("sync of %s %s stopped: %s", self.store.domain, self.entity.value,
                          detail)
            await self._fail(PermanentError(detail), None)
        finally:
            await asyncio.to_thread(self.meter.flush)

    async def _check_counts(self, result: dict, client: ShopifyClient) -> None:
        """The count check after a successful full sync (engine.sync.counts); its failure is
        logged, never the sync's."""
        try:
            item = await check_counts(self.ctx.runtime, self.store.id, client)
        except Exception:
            log.exception("count check after the %s sync of %s failed", self.entity.value,
                          self.store.domain)
            return
        if item is not None:
            result["records_match"] = item.get("ok")

    async def _export(self, client: ShopifyClient) -> BulkStatus:
        """Start (or adopt) the bulk operation and poll it until it completes."""
        status: BulkStatus | None = None
        if self.operation_id is not None:
            try:
                status = await bulk.poll(client, self.operation_id)
            except BulkNotFound:
                status = None
            if status is None or status.status in ("CANCELED", "CANCELING", "EXPIRED"):
                # Nothing left to adopt: a fresh operation needs a fresh run id, or rows the
                # old one saw would count as seen by the new one.
                self.sync = await asyncio.to_thread(restart_run, self.sync.id, self.mode)
                self.operation_id, status = None, None
            else:
                self.adopted = True
                await asyncio.to_thread(
                    record_adoption, self.store.id, self.entity, self.operation_id
                )
        if self.operation_id is None:
            if self.plan.stale_id:
                await self._cancel_quietly(client, self.plan.stale_id)
            since = None
            if self.mode == "incremental" and self.sync.cursor_updated_at is not None:
                since = self.sync.cursor_updated_at - timedelta(
                    seconds=self.settings.incremental_overlap
                )
            query = bulk_query(self.entity.value, since=since, ids_only=self.mode == "reconcile")
            store_id = self.store.id

            async def on_busy(_message: str) -> None:
                await check_slots(client, store_id)

            self.operation_id = await bulk.start(client, query, on_busy=on_busy)
            await asyncio.to_thread(set_operation, self.sync.id, self.operation_id)
        roots = await self._count_roots(client)
        # An operation started just now is not finished yet: the first poll waits an interval
        # (or the finish webhook) rather than asking at once for an answer known in advance.
        started = status is None
        with wakeups.waiter(self.store.id, self.entity.value) as event:
            while True:
                if started:
                    started = False
                    await self._wait_for_poll(event)
                if status is None:
                    status = await bulk.poll(client, self.operation_id)
                # While Shopify exports, the export phase reports its own progress (objectCount
                # and rootObjectCount against the record count); nothing is imported yet.
                await self._export_progress(status, roots)
                if status.status == "COMPLETED":
                    self.operation_finished = True
                    return status
                if status.finished:
                    self.operation_finished = True
                    raise self._bulk_failure(status)
                event.clear()
                await self._wait_for_poll(event)
                status = None

    async def _wait_for_poll(self, event: asyncio.Event) -> None:
        """Between polls: the run may go on; then `bulk_poll_interval`, or less on a wake-up."""
        self.ctx.check_stop()
        await self._check_store()
        try:
            await asyncio.wait_for(event.wait(), self.settings.bulk_poll_interval)
        except TimeoutError:
            pass
        self.ctx.check_stop()

    async def _count_roots(self, client: ShopifyClient) -> int | None:
        """How many root records the export will hold, for a real progress bar; None when
        Shopify cannot say (the export itself does not need it)."""
        since = None
        if self.mode == "incremental" and self.sync.cursor_updated_at is not None:
            since = self.sync.cursor_updated_at - timedelta(
                seconds=self.settings.incremental_overlap
            )
        try:
            data = await client.graphql(count_query(self.entity.value, since=since))
        except ShopifyError as error:
            log.info("no record count for %s %s: %s", self.store.domain, self.entity.value,
                     error)
            return None
        count = (data.get(f"{self.entity.value}Count") or {}).get("count")
        return count if isinstance(count, int) and count > 0 else None

    async def _check_yield(self, client: ShopifyClient, sink: Importer | IdMarker) -> None:
        """Zero-yield alarm: a full run (or reconciliation) that found no records while Shopify
        counts some fails, never succeeds — its drift repair would delete every local record."""
        seen = sink.roots if isinstance(sink, Importer) else sink.lines
        if seen:
            return
        name = self.entity.value
        try:
            data = await client.graphql(count_query(name))
        except ShopifyError as error:
            raise TransientError(f"The export returned no {name} and Shopify's count could not "
                                 f"be read to confirm it: {error.detail}") from None
        count = (data.get(f"{name}Count") or {}).get("count")
        if isinstance(count, int) and count > 0:
            raise PermanentError(f"Shopify reports {count:,} {name} but the export returned none")

    def _bulk_failure(self, status: BulkStatus) -> ShopifyError:
        if status.status == "FAILED":
            code = status.error_code or "UNKNOWN"
            if code == "ACCESS_DENIED":
                scope = CATEGORY_SCOPE[ENTITY_CATEGORY[self.entity]]
                return ScopeError("Shopify bulk export failed: ACCESS_DENIED", [scope])
            partial = " (partial data discarded)" if status.partial_data_url else ""
            return PermanentError(f"Shopify bulk export failed: {code}{partial}")
        return PermanentError(f"Shopify bulk export ended {status.status.lower()}")

    async def _cancel_quietly(self, client: ShopifyClient, operation_id: str) -> None:
        try:
            await bulk.cancel(client, operation_id)
        except ShopifyError as error:  # it may be long finished; a new export matters more
            log.info("could not cancel stale bulk operation %s: %s", operation_id, error)

    async def _import(self, status: BulkStatus) -> Importer | IdMarker:
        """Stream the result file into the tables; the file must hold every exported object.

        Deleting what a full run did not see is only safe after a COMPLETE file, so a download
        that broke off, or one with fewer lines than Shopify's objectCount, is streamed again
        (upserts are idempotent) and, if it stays short, fails the run without deleting.
        """
        total = status.object_count
        if status.url is None:
            if total:
                raise PermanentError(
                    f"Shopify reported {total:,} exported objects but no result file"
                )
            return self._sink()  # an empty export has no file
        problem = ""
        for attempt in range(RESTREAMS + 1):
            if attempt:
                log.info("bulk download for %s %s: %s; streaming it again",
                         self.store.domain, self.entity.value, problem)
            sink = self._sink()
            try:
                await self._stream_into(sink, status.url, total)
            except TransientError as error:
                problem = error.detail
                continue
            if sink.lines >= total:
                return sink
            problem = f"the file had {sink.lines:,} of {total:,} objects"
        raise TransientError(f"The bulk result download stayed incomplete: {problem}")

    async def _stream_into(self, sink: Sink, url: str, total: int) -> None:
        """Feed every line to `sink` in a worker thread (engine.sync.importer.stream_into),
        checking between batches that the run may go on and reporting progress."""

        async def after_batch() -> None:
            self.ctx.check_stop()
            await self._check_store()
            await self._import_progress(sink.roots if isinstance(sink, Importer) else sink.lines)

        await stream_into(url, sink, after_batch)

    def _sink(self) -> Importer | IdMarker:
        if self.mode == "reconcile":
            return IdMarker(self.store.id, self.entity.value, self.sync.run_id)
        entity = self.entity.value

        domain = self.store.domain

        def counted(rows: int) -> None:
            metrics.incr("shopsync_import_rows_total", rows, entity=entity)
            malformed = metrics.count_malformed()
            if malformed:
                log.warning("%s %s: %d malformed values stored as empty", domain, entity,
                            malformed)

        return Importer(
            self.store.id, entity, self.sync.run_id,
            email_consent=self.plan.email_consent, sms_consent=self.plan.sms_consent,
            on_flush=counted,
        )

    async def _check_store(self) -> None:
        """Raise SyncStopped when the store may no longer sync (read at most once a second)."""
        now = time.monotonic()
        if now - self._last_store_check < STORE_CHECK_EVERY:
            return
        self._last_store_check = now
        store = await asyncio.to_thread(Store.get_or_none, Store.id == self.store.id)
        reason = skip_reason(store, self.entity)
        if reason is not None:
            raise SyncStopped(reason)

    async def _export_progress(self, status: BulkStatus, roots: int | None) -> None:
        now = time.monotonic()
        self.export_objects.add(now, status.object_count)
        self.export_roots.add(now, status.root_object_count)
        remaining = max(roots - status.root_object_count, 0) if roots else None
        info = SyncProgress(
            "export", None, None, status.object_count, status.root_object_count, roots,
            self.export_objects.rate(), self.export_roots.eta(remaining), utcnow(),
        )
        moved = status.root_object_count != self._export_seen
        self._export_seen = status.root_object_count
        self.import_total = status.root_object_count or roots
        await self._progress(0, roots, info, moved, force=status.finished)

    async def _import_progress(self, done: int) -> None:
        # A download started over re-reads lines already upserted: the bar holds its place.
        done = max(done, self.import_done)
        self.import_done = done
        total = max(self.import_total or 0, done) or None
        now = time.monotonic()
        self.import_window.add(now, done)
        remaining = total - done if total is not None else None
        info = SyncProgress("import", self.import_window.rate(), self.import_window.eta(remaining),
                            updated_at=utcnow())
        await self._progress(done, total, info, True)

    async def _progress(self, done: int, total: int | None, info: SyncProgress, moved: bool,
                        *, force: bool = False) -> None:
        now = time.monotonic()
        self._moved = self._moved or moved
        if not force and now - self._last_progress < PROGRESS_EVERY:
            return
        self._last_progress = now
        moved, self._moved = self._moved, False
        await asyncio.to_thread(write_progress, self.sync.id, done, total, info, moved)
        await self.ctx.progress(done, total)

    async def _fail(self, error: ShopifyError, client: ShopifyClient | None) -> NoReturn:
        granted: list[str] | None = None
        if isinstance(error, ScopeError) and client is not None:
            try:  # Shopify just said a scope is missing: find out what the grant holds now
                granted = await access_scopes(client)
            except ShopifyError:
                granted = None
        detail = await asyncio.to_thread(record_failure, self._info(), error, granted)
        raise JobFailed(detail) from error

    def _info(self) -> RunInfo:
        return RunInfo(
            self.store.id, self.sync.id, self.entity, self.mode, self.operation_id,
            self.adopted, self.operation_finished,
        )


async def run_sync(ctx: JobContext) -> dict:
    """Sync one entity of one store (see the module docstring)."""
    job = ctx.job
    mode = (job.params or {}).get("mode", "full")
    if mode not in MODES:
        raise JobFailed(f"Unknown sync mode {mode!r} (full, incremental or reconcile)")
    try:
        entity = Entity(job.entity or "")
    except ValueError:
        raise JobFailed(f"Unknown entity {job.entity!r}") from None
    if job.store_id is None:
        raise JobFailed("A sync job needs a store")
    plan = await asyncio.to_thread(prepare, job.store_id, entity, mode)
    if isinstance(plan, str):
        await asyncio.to_thread(
            metrics.incr, "shopsync_syncs_total", entity=entity.value, outcome="skipped"
        )
        return {"skipped": plan}
    return await SyncRun(ctx, entity, mode, plan).execute()
