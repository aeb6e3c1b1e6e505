"""The durable job queue: what every action writes, and what the runner (engine.jobs.runner) works.

Rules: one active job per (store, kind, entity); `cancel_store_jobs` takes queued work back and
puts each entity back to what it showed before it was queued.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from engine.domain.jobs import ACTIVE, JobKind, JobState
from engine.domain.status import Status
from engine.domain.views import JobView
from engine.persistence.database import transaction_lock, write_transaction
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
