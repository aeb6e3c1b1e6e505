"""The job queue's vocabulary: what a job does (its kind) and where it is in its life (its state).

Stored as their string values (engine.persistence.models.EnumField), so the database spells them
exactly as before: `sync`, `queued`, … `ACTIVE` is the one definition of "not finished yet".
"""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    SYNC = "sync"  # one entity of one store: full, incremental or reconcile
    HEALTH = "health"  # the readiness checklist
    DELETE = "delete"  # a store and every row it owns
    WEBHOOKS = "webhooks"  # the store's webhook subscriptions
    COUNTS = "counts"  # the count check: local records against Shopify's counts


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in ACTIVE

    @property
    def finished(self) -> bool:
        return self not in ACTIVE


# Queued or running: the job still holds its place (one active job per store, kind and entity).
ACTIVE: tuple[JobState, ...] = (JobState.QUEUED, JobState.RUNNING)
