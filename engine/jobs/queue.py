"""The durable job queue: what every action writes, and what the runner (engine.jobs.runner) works.

Rules: one active job per (store, kind, entity); `cancel_store_jobs` takes queued work back and
puts each entity back to what it showed before it was queued. The runner's sweep calls
`repair_orphaned_syncs` (no entity shows Syncing without a job that syncs it) and
`retry_after_disk_full` (work a full disk stopped is queued again once there is room).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from engine.domain.jobs import ACTIVE, JobKind, JobState
from engine.domain.status import Status
from engine.domain.views import JobView
from engine.persistence.database import DISK_FULL, transaction_lock, write_transaction
from engine.persistence.models import EntitySync, Job, RunnerHeartbeat, Store, utcnow
from engine.persistence.records import refresh_status


def job_view(job: Job) -> JobView:
    return JobView(
        id=job.id,
        kind=job.kind,
        state=job.state,
        store_domain=job.store_domain,
        entity=job.entity,
        progress_done=job.progress_done,
        progress_total=job.progress_total,
        error=job.error,
        result=job.result,
    )


def enqueue(
    kind: JobKind,
    store: Store | None,
    *,
    entity: str | None = None,
    params: dict | None = None,
    dedupe: bool = True,
) -> Job:
    """Queue a job, or return the active one already doing the same thing."""
    with write_transaction():
        if dedupe:  # two processes queueing the same job at once must find each other's
            transaction_lock(f"enqueue:{kind}:{store.id if store else ''}:{entity or ''}")
            query = Job.select().where(
                (Job.kind == kind) & Job.state.in_(ACTIVE)
                & (Job.store_id == (store.id if store else None))
            )
            query = query.where(Job.entity.is_null() if entity is None else Job.entity == entity)
            existing = query.order_by(Job.id).first()
            if existing is not None:
                return existing
        return Job.create(
            kind=kind,
            store_id=store.id if store else None,
            store_domain=store.domain if store else None,
            entity=entity,
            params=params or {},
        )


def cancel_store_jobs(store_id: int, kinds: tuple[JobKind, ...] | None = None) -> int:
    """Cancel queued (not running) jobs of a store; returns how many.

    An entity shown Pending because of a cancelled sync goes back to what it was before it was
    queued (Failed with its error, or Synced), so nothing claims to be queued that is not.
    """
    with write_transaction():
        query = Job.select(Job.id, Job.kind, Job.entity).where(
            (Job.store_id == store_id) & (Job.state == JobState.QUEUED)
        )
        if kinds:
            query = query.where(Job.kind.in_(kinds))
        jobs = list(query)
        if not jobs:
            return 0
        cancelled = Job.update(state=JobState.CANCELLED, finished_at=utcnow()).where(
            Job.id.in_([job.id for job in jobs]) & (Job.state == JobState.QUEUED)
        ).execute()
        entities = [job.entity for job in jobs if job.kind is JobKind.SYNC and job.entity]
        if entities:
            pending = (EntitySync.store == store_id) & EntitySync.entity.in_(entities) & (
                EntitySync.state == "pending")
            EntitySync.update(state="failed").where(
                pending & EntitySync.error.is_null(False)).execute()
            EntitySync.update(state="synced").where(
                pending & EntitySync.last_synced_at.is_null(False)).execute()
    return cancelled


def repair_orphaned_syncs() -> int:
    """Entities shown Syncing with no queued or running sync job: repaired; returns how many.

    A sync whose outcome could not be written (the disk was full, the process died between the
    job's end and the entity's) leaves its entity Syncing for ever otherwise. It gets what the
    entity's last job says: Failed with that job's error, else what it showed before the run.
    """
    if not EntitySync.select().where(EntitySync.state == "syncing").exists():
        return 0  # the usual case: no write lock taken
    with write_transaction():
        syncing = list(EntitySync.select().where(EntitySync.state == "syncing"))
        active = {(job.store_id, job.entity) for job in Job.select(Job.store_id, Job.entity).where(
            (Job.kind == JobKind.SYNC) & Job.state.in_(ACTIVE))}
        repaired: set[int] = set()
        for sync in syncing:
            if (sync.store_id, sync.entity) in active:
                continue
            last = Job.select(Job.state, Job.error).where(
                (Job.kind == JobKind.SYNC) & (Job.store_id == sync.store_id)
                & (Job.entity == sync.entity)).order_by(Job.id.desc()).first()
            values: dict = {"progress_info": None, "updated_at": utcnow()}
            if last is not None and last.state is JobState.FAILED and last.error:
                values.update(state="failed", error=last.error)
            else:
                values["state"] = ("failed" if sync.error else
                                   "synced" if sync.last_synced_at else "pending")
            EntitySync.update(**values).where(
                (EntitySync.id == sync.id) & (EntitySync.state == "syncing")).execute()
            repaired.add(sync.store_id)
        for store_id in repaired:
            refresh_status(store_id)
    return len(repaired)


def retry_after_disk_full(after: float, within: float = 86_400.0) -> list[int]:
    """Queue again each job a full disk failed (its error says so), `after` seconds after it
    failed, unless something newer of the same store, kind and entity was queued since (so a
    job is retried once per failure, and a retry that fails again waits its turn). Returns the
    queued job ids. The caller checks that the disk has room first where it can."""
    now = utcnow()
    queued: list[int] = []
    failed = Job.select().where(
        (Job.state == JobState.FAILED) & Job.error.startswith(DISK_FULL)
        & (Job.finished_at <= now - timedelta(seconds=after))
        & (Job.finished_at > now - timedelta(seconds=within))
    ).order_by(Job.id)
    if not failed.exists():
        return queued  # the usual case: no write lock taken
    with write_transaction():
        transaction_lock("retry-after-disk-full")
        for job in failed:
            same = ((Job.kind == job.kind) & (Job.id > job.id)
                    & (Job.store_id.is_null() if job.store_id is None
                       else Job.store_id == job.store_id)
                    & (Job.entity.is_null() if job.entity is None else Job.entity == job.entity))
            if Job.select(Job.id).where(same).exists():
                continue
            store = None
            if job.store_id is not None:
                store = Store.get_or_none(Store.id == job.store_id)
                if store is None:
                    continue
            queued.append(enqueue(job.kind, store, entity=job.entity, params=job.params).id)
    return queued


def refresh_status_and_syncs(store_id: int) -> Status:
    """refresh_status; a store that is now Reconnect required also loses its queued syncs.

    They could only fail with the same error (an uninstall, a revoked token, a reduced grant),
    so they are cancelled as an uninstall cancels them; a reconnect queues fresh ones.
    """
    status, _detail = refresh_status(store_id)
    if status is Status.RECONNECT_REQUIRED and cancel_store_jobs(store_id, kinds=(JobKind.SYNC,)):
        status, _detail = refresh_status(store_id)
    return status


def get_job(job_id: int) -> JobView:
    return job_view(Job.get_by_id(job_id))


def runner_alive(kind: str | None = "serve", within: float = 15.0) -> bool:
    """Whether a runner (of `kind`, or any) has beaten within `within` seconds."""
    query = RunnerHeartbeat.select().where(
        (RunnerHeartbeat.beat_at > utcnow() - timedelta(seconds=within))
        & (RunnerHeartbeat.stopping == False)  # noqa: E712 - peewee expression
    )
    if kind is not None:
        query = query.where(RunnerHeartbeat.kind == kind)
    return query.exists()


def wait_for_job(
    job_id: int,
    *,
    timeout: float | None = None,
    interval: float = 0.2,
    on_progress: Callable[[JobView], None] | None = None,
) -> JobView:
    """Block until the job is done, failed or cancelled (or timeout → TimeoutError)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        view = get_job(job_id)
        if on_progress is not None:
            on_progress(view)
        if view.state.finished:
            return view
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {view.state} after {timeout} s")
        time.sleep(interval)
