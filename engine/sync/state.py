"""The sync job's database side: preparing a run, progress, and recording its outcome.

Everything here is blocking (the handler in engine.sync.job calls it through asyncio.to_thread) and
every read-then-write happens inside `write_transaction()` (BEGIN IMMEDIATE on SQLite), with
`refresh_status` inside the same transaction so the stored status never lags the facts.

Run bookkeeping on EntitySync: a new bulk operation starts a new run (`run_id` + 1, `run_kind`,
`run_base` = rows before, `started_at`); its operation id is stored as soon as Shopify returns
it, and an interrupted run of the same kind adopts that operation instead of starting another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.domain.coerce import naive_utc
from engine.domain.policy import sync_blocked
from engine.domain.progress import SyncProgress
from engine.domain.status import (
    CATEGORY_SCOPE,
    ENTITY_CATEGORY,
    Category,
    Entity,
    EntityState,
    enabled_entities,
)
from engine.jobs.queue import refresh_status_and_syncs
from engine.persistence import counters as metrics
from engine.persistence.database import write_transaction
from engine.persistence.facts import store_facts
from engine.persistence.models import EntitySync, Store, utcnow
from engine.persistence.reads import categories_of, granted_scopes_of
from engine.persistence.records import ensure_entity_rows, record_event, refresh_status
from engine.shopify.errors import AuthError, ScopeError, ShopifyError
from engine.sync.importer import IdMarker, Importer, Summary, count_rows
from engine.sync.rows import ENTITY_TABLES


@dataclass
class Plan:
    """What `prepare` decided: the rows to work on and whether to resume an operation."""

    store: Store
    sync: EntitySync
    adopt_id: str | None  # a stored operation of the same kind to resume
    stale_id: str | None  # a stored operation of another kind, to cancel
    email_consent: bool
    sms_consent: bool


@dataclass
class RunInfo:
    """The facts about a finished run that its outcome records."""

    store_id: int
    sync_id: int
    entity: Entity
    mode: str
    operation_id: str | None
    adopted: bool = False
    operation_finished: bool = False  # the bulk operation reached a terminal state


def skip_reason(store: Store | None, entity: Entity) -> str | None:
    """Why this entity's sync may not run now (engine.domain.policy.sync_blocked), or None."""
    if store is None:
        return "store no longer exists"
    return sync_blocked(store_facts(store), entity)


def prepare(store_id: int, entity: Entity, mode: str) -> Plan | str:
    """Mark the entity Syncing and decide new run vs adoption; or say why to skip."""
    with write_transaction():
        store = Store.get_or_none(Store.id == store_id)
        reason = skip_reason(store, entity)
        if reason is not None:
            return reason
        assert store is not None
        # The entity rows exist after a store's first run: one read, not a get_or_create each.
        syncs = {s.entity: s for s in EntitySync.select().where(EntitySync.store == store.id)}
        if any(e.value not in syncs for e in Entity):
            ensure_entity_rows(store)
            syncs = {s.entity: s for s in EntitySync.select().where(
                EntitySync.store == store.id)}
        sync = syncs[entity.value]
        stored = sync.bulk_operation_id
        # Only an operation of the same kind may be adopted: a full run must never finish on an
        # incremental export (its drift repair would delete everything not recently updated).
        adopt = stored if stored and sync.run_kind == mode else None
        now = utcnow()
        if adopt is None:
            new_run(sync, mode, now)
        sync.state = EntityState.SYNCING.value
        # The error stays until this run succeeds: a retry under way does not clear Error.
        sync.done, sync.total, sync.progress_info = 0, None, None
        sync.progress_at = sync.updated_at = now
        sync.save()
        categories = categories_of(store)
        return Plan(
            store, sync, adopt, stored if adopt is None else None,
            categories[Category.EMAIL_CONSENT], categories[Category.SMS_CONSENT],
        )


def new_run(sync: EntitySync, mode: str, now: datetime) -> None:
    sync.run_id += 1
    sync.run_kind = mode
    sync.run_base = count_rows(sync.store_id, ENTITY_TABLES[sync.entity][0])
    sync.bulk_operation_id = None
    sync.started_at = now


def restart_run(sync_id: int, mode: str) -> EntitySync:
    """A fresh run id for a fresh operation (the stored one could not be adopted)."""
    with write_transaction():
        sync = EntitySync.get_by_id(sync_id)
        new_run(sync, mode, utcnow())
        sync.save()
        return sync


def set_operation(sync_id: int, operation_id: str) -> None:
    EntitySync.update(bulk_operation_id=operation_id, updated_at=utcnow()).where(
        EntitySync.id == sync_id
    ).execute()


def record_adoption(store_id: int, entity: Entity, operation_id: str) -> None:
    """A resumed run took over the operation an interrupted one left running (crash safety)."""
    store = Store.get_or_none(Store.id == store_id)
    if store is not None:
        record_event(store, "sync", f"{entity.label}: resumed bulk operation "
                     f"{operation_id.rsplit('/', 1)[-1]} left running by an interrupted run",
                     data={"bulk_operation_id": operation_id, "adopted": True,
                           "entity": entity.value})


def write_progress(
    sync_id: int, done: int, total: int | None, info: SyncProgress | None, moved: bool
) -> None:
    """The entity's bar (root records imported of total), its phase/rate/ETA, and — when
    something moved (`moved`) — progress_at, which stuck-in-Syncing detection reads."""
    now = utcnow()
    values: dict = {"done": done, "total": total, "updated_at": now,
                    "progress_info": info.to_json() if info is not None else None}
    if moved:
        values["progress_at"] = now
    EntitySync.update(**values).where(EntitySync.id == sync_id).execute()


def missing_scope_detail(scopes: tuple[str, ...] | list[str]) -> str:
    return ("Missing scope " if len(scopes) == 1 else "Missing scopes ") + ", ".join(scopes)


def all_fully_synced(store: Store) -> bool:
    """Every enabled entity has finished a full run: "Initial sync complete"."""
    enabled = {e.value for e in enabled_entities(categories_of(store))}
    if not enabled:
        return False
    syncs = EntitySync.select().where(
        (EntitySync.store == store.id) & EntitySync.entity.in_(list(enabled))
    )
    done = {s.entity for s in syncs if s.full_synced_at is not None}
    return done >= enabled


# -- outcomes ----------------------------------------------------------------------------------

def record_success(
    run: RunInfo, sink: Importer | IdMarker, import_seconds: float, run_base: int
) -> dict:
    """Finish the import (deletions, counts), mark the entity Synced, log the one summary event."""
    label = run.entity.label
    with write_transaction():
        summary: Summary = (
            sink.finish() if isinstance(sink, IdMarker) else sink.finish(run.mode, run_base)
        )
        sync = EntitySync.get_by_id(run.sync_id)
        now = utcnow()
        sync.state = EntityState.SYNCED.value
        sync.records, sync.error, sync.bulk_operation_id = summary.records, None, None
        # The bar ends at 100% in its own unit: root records (a reconcile's lines are ids).
        roots = sink.roots if isinstance(sink, Importer) else sink.lines
        sync.done, sync.total, sync.progress_info = roots, roots, None
        sync.progress_at = sync.updated_at = now
        if run.mode != "reconcile":
            sync.last_synced_at = now  # "Last synced": bulk runs only, never a reconcile
            newest = naive_utc(sink.max_updated_at) if isinstance(sink, Importer) else None
            if newest is not None and (
                sync.cursor_updated_at is None or newest > sync.cursor_updated_at
            ):
                sync.cursor_updated_at = newest
        if run.mode == "full":
            sync.full_synced_at = now
            sync.full_failed_at, sync.full_error = None, None  # drift repaired: marker cleared
        sync.save(only=sync.dirty_fields)  # what this run changed: not every column again
        store = Store.get_by_id(run.store_id)
        # A successful sync proves the API and the grant work: it clears a failed health check.
        # Only these columns are written: the store's other columns may be written meanwhile
        # by another process (a serve applying webhooks), and the wide row's every column was
        # most of this write's cost.
        values: dict = {"health_failing": False, "health_detail": None, "updated_at": now}
        if store.initial_sync_completed_at is None and all_fully_synced(store):
            values["initial_sync_completed_at"] = store.initial_sync_completed_at = now
        Store.update(**values).where(Store.id == run.store_id).execute()
        elapsed = (now - sync.started_at).total_seconds() if sync.started_at else import_seconds
        rows = sink.rows if isinstance(sink, Importer) else sink.lines
        data = {
            "mode": run.mode, "created": summary.created, "updated": summary.updated,
            "removed": summary.removed, "records": summary.records, "rows": rows,
            "rows_per_s": round(rows / import_seconds) if import_seconds > 0 else 0,
            "seconds": round(elapsed, 3), "run_id": sync.run_id,
            "bulk_operation_id": run.operation_id, "adopted": run.adopted,
            "entity": run.entity.value,
        }
        if run.mode == "reconcile":
            message = f"{label} reconciled: {summary.removed:,} removed"
        else:
            seen = sink.roots if isinstance(sink, Importer) else summary.records
            kind = "" if run.mode == "full" else " (incremental)"
            message = (
                f"{label} synced{kind}: {seen:,} records ({summary.created:,} created, "
                f"{summary.updated:,} updated, {summary.removed:,} removed) in {elapsed:.1f} s"
            )
        record_event(store, "sync", message, data=data)
        metrics.incr("shopsync_syncs_total", entity=run.entity.value, outcome="synced")
        metrics.observe("shopsync_sync_duration_seconds", elapsed, entity=run.entity.value,
                        mode=run.mode)
        refresh_status(run.store_id)
    return {"entity": run.entity.value, **data}


def mark_interrupted(sync_id: int) -> None:
    """The runner stopped mid-run and requeued the job: the entity is Pending (queued) again."""
    EntitySync.update(state=EntityState.PENDING.value, progress_info=None,
                      updated_at=utcnow()).where(
        (EntitySync.id == sync_id) & (EntitySync.state == EntityState.SYNCING.value)
    ).execute()


def record_stopped(run: RunInfo, reason: str) -> dict:
    """A run ended early because the store may no longer sync (engine.sync.job.SyncStopped):
    the entity shows what it showed before the run, and nothing of the run is deleted."""
    with write_transaction():
        store = Store.get_or_none(Store.id == run.store_id)
        sync = EntitySync.get_or_none(EntitySync.id == run.sync_id)
        if store is None or sync is None:
            return {"entity": run.entity.value, "skipped": reason}
        synced = sync.last_synced_at is not None
        # What it showed before the run: Failed while its last error stands, else Synced/Pending.
        before = EntityState.FAILED if sync.error else (
            EntityState.SYNCED if synced else EntityState.PENDING)
        EntitySync.update(
            state=before.value,
            bulk_operation_id=None, progress_info=None, updated_at=utcnow(),
        ).where(EntitySync.id == run.sync_id).execute()
        record_event(store, "sync", f"{run.entity.label} sync stopped: {reason}",
                     data={"mode": run.mode, "bulk_operation_id": run.operation_id,
                           "entity": run.entity.value})
        metrics.incr("shopsync_syncs_total", entity=run.entity.value, outcome="skipped")
        refresh_status(run.store_id)
    return {"entity": run.entity.value, "skipped": reason}


def failure_detail(error: ShopifyError, entity: Entity) -> str:
    if isinstance(error, ScopeError):
        return missing_scope_detail(error.scopes or (CATEGORY_SCOPE[ENTITY_CATEGORY[entity]],))
    return error.detail


def record_failure(run: RunInfo, error: ShopifyError, granted: list[str] | None) -> str:
    """Mark the entity Failed with a readable detail and apply what the error implies.

    AuthError → the store needs reconnecting; ScopeError → the stored grant is corrected
    (`granted` is what access_scopes.json said just now, None if it could not be read), so the
    status rule shows Reconnect required for the missing scope. Returns the detail.
    """
    detail = failure_detail(error, run.entity)
    with write_transaction():
        store = Store.get_or_none(Store.id == run.store_id)
        if store is None:
            return detail
        now = utcnow()
        EntitySync.update(
            state=EntityState.FAILED.value, error=detail, progress_at=now, updated_at=now,
            progress_info=None,
            # A failed full run stays marked until a full run succeeds (incrementals don't
            # repair drift); see engine.domain.status.full_sync_failed_text.
            **({"full_failed_at": now, "full_error": detail} if run.mode == "full" else {}),
            # An operation still running at Shopify is kept so a retry can adopt it.
            bulk_operation_id=None if run.operation_finished else run.operation_id,
        ).where(EntitySync.id == run.sync_id).execute()
        if isinstance(error, AuthError):
            # Keep a more specific reason already recorded (e.g. "App uninstalled").
            if not store.needs_reauth:
                store.reauth_reason = error.detail
            store.needs_reauth = True
        if isinstance(error, ScopeError):
            if granted is None:  # could not re-read the grant: drop what Shopify denied
                missing = set(error.scopes or ())
                granted = [s for s in granted_scopes_of(store) if s not in missing]
            store.granted_scopes = ",".join(granted)
        store.updated_at = now
        store.save()
        record_event(
            store, "sync", f"{run.entity.label} sync failed: {detail}", level="error",
            data={"mode": run.mode, "kind": error.kind, "bulk_operation_id": run.operation_id,
                  "entity": run.entity.value},
        )
        metrics.incr("shopsync_syncs_total", entity=run.entity.value, outcome="failed")
        refresh_status_and_syncs(run.store_id)
    return detail
