"""Claiming the next job: compare-and-set on SQLite, FOR UPDATE SKIP LOCKED on PostgreSQL.

The rules are the same on both (engine.jobs.runner): a queued job, or a running one whose lease
expired; of a kind this runner handles; per store only the oldest active job, and none while a
job of the store runs under a live lease or runs here already.

SQLite has one writer at a time (the claim is a BEGIN IMMEDIATE transaction), so reading the
candidates and updating one with a guard (`state` still claimable) can never lose a race.
PostgreSQL lets runners claim concurrently: each locks the first candidate nobody else holds
(`FOR UPDATE SKIP LOCKED`) and updates it in the same statement, so concurrent claims neither
wait for one another nor collide on the same row.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from peewee import PostgresqlDatabase, fn

from engine.domain.jobs import ACTIVE, JobState
from engine.persistence.database import write_transaction
from engine.persistence.models import Job, database

_PG_CLAIM = """
UPDATE job SET state = 'running', lease_owner = %(owner)s, lease_expires_at = %(expires)s,
       heartbeat_at = %(now)s, started_at = COALESCE(started_at, %(now)s),
       attempts = attempts + 1
WHERE id = (
    SELECT j.id FROM job j
    WHERE (j.state = 'queued' OR (j.state = 'running' AND j.lease_expires_at <= %(now)s))
      AND j.kind = ANY(%(kinds)s)
      AND (j.store_id IS NULL OR (
            NOT (j.store_id = ANY(%(busy)s))
            AND NOT EXISTS (SELECT 1 FROM job r WHERE r.store_id = j.store_id
                            AND r.state = 'running' AND r.lease_expires_at > %(now)s)
            AND j.id = (SELECT MIN(o.id) FROM job o WHERE o.store_id = j.store_id
                        AND o.state IN ('queued', 'running'))))
    ORDER BY j.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""


def claim_next(owner: str, kinds: Collection[str], busy_stores: list[int], now: datetime,
               lease_seconds: float) -> int | None:
    """Claim one job for `owner`; its id, or None when nothing is claimable."""
    if not kinds:
        return None
    expires = now + timedelta(seconds=lease_seconds)
    if isinstance(database.obj, PostgresqlDatabase):
        with database.atomic():
            row = database.execute_sql(_PG_CLAIM, {
                "owner": owner, "expires": expires, "now": now,
                "kinds": sorted(str(kind) for kind in kinds), "busy": busy_stores,
            }).fetchone()
        return row[0] if row else None
    return _claim_compare_and_set(owner, kinds, busy_stores, now, expires)


def _claim_compare_and_set(owner: str, kinds: Collection[str], busy_stores: list[int],
                           now: datetime, expires: datetime) -> int | None:
    with write_transaction():
        # Stores with a job running under someone's live lease are busy too.
        live = Job.select(Job.store_id).where(
            (Job.state == JobState.RUNNING) & (Job.lease_expires_at > now)
            & Job.store_id.is_null(False)
        )
        claimable = (Job.state == JobState.QUEUED) | (
            (Job.state == JobState.RUNNING) & (Job.lease_expires_at <= now))
        candidates = Job.select(Job.id, Job.started_at).where(
            claimable & Job.kind.in_(list(kinds))
            & (Job.store_id.is_null() | ~(Job.store_id.in_(live)))
        )
        if busy_stores:
            candidates = candidates.where(
                Job.store_id.is_null() | ~(Job.store_id.in_(busy_stores))
            )
        # Per store, only the oldest active job may run: keeps the entity order.
        oldest = (
            Job.select(fn.MIN(Job.id)).where(Job.state.in_(ACTIVE) & Job.store_id.is_null(False))
            .group_by(Job.store_id)
        )
        candidates = candidates.where(Job.store_id.is_null() | Job.id.in_(oldest))
        for job in candidates.order_by(Job.id).limit(20):
            claimed = Job.update(
                state=JobState.RUNNING,
                lease_owner=owner,
                lease_expires_at=expires,
                heartbeat_at=now,
                started_at=job.started_at or now,
                attempts=Job.attempts + 1,
            ).where((Job.id == job.id) & claimable).execute()
            if claimed:
                return job.id
    return None
