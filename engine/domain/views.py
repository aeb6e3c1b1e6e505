"""Read models: the plain, frozen values engine queries hand to the TUI and the CLI.

Nothing here touches the database or holds a secret; `to_json()` gives the documented
`--json` shape of DESIGN.md §4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from engine.domain.jobs import JobKind, JobState
from engine.domain.progress import SyncProgress
from engine.domain.status import (
    Category,
    Check,
    Entity,
    EntityState,
    Status,
    full_sync_failed_text,
)


def iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


# The three values a fleet read makes tens of thousands of are NamedTuples: as immutable as the
# frozen dataclasses below, and several times cheaper to build.
class EntityRow(NamedTuple):
    """One entity of a store, as the fleet read gives it. done, total, progress_at, started_at
    and progress describe the sync in progress: they are 0 and None unless the state is Syncing
    (a finished run's leftovers are not read). An entity with no row yet is Pending with 0
    records."""

    entity: Entity
    state: EntityState
    records: int
    done: int = 0
    total: int | None = None
    last_synced_at: datetime | None = None
    error: str | None = None
    progress_at: datetime | None = None
    started_at: datetime | None = None
    progress: SyncProgress | None = None  # phase, rate and ETA while Syncing
    # The last full sync failed and none has succeeded since (incrementals may have).
    full_failed_at: datetime | None = None
    queued: bool = False  # a sync job is queued or running for it

    @property
    def pending_detail(self) -> str | None:
        """Pending says which: "Queued" (a sync job waits) or "Not started" (none ever ran)."""
        if self.state is not EntityState.PENDING:
            return None
        return "Queued" if self.queued else "Not started"

    @property
    def full_sync_failed(self) -> str | None:
        """The marker's words, while the last full sync's failure stands."""
        if self.full_failed_at is None or self.state is EntityState.OFF:
            return None
        return full_sync_failed_text(self.entity, self.full_failed_at)

    def to_json(self) -> dict:
        data: dict = {
            "state": self.state.value,
            "records": self.records,
            "last_synced_at": iso(self.last_synced_at),
            "error": self.error,
            "pending": self.pending_detail.lower().replace(" ", "_")
            if self.pending_detail else None,
            "full_sync_failed_at": iso(self.full_failed_at)
            if self.full_sync_failed else None,
        }
        if self.state is EntityState.SYNCING:
            percent = min(100.0, 100 * self.done / self.total) if self.total else None
            data["progress"] = {
                "done": self.done, "total": self.total,
                "percent": round(percent, 1) if percent is not None else None,
                **(self.progress.to_json() if self.progress else {}),
            }
        return data


class ReadinessItem(NamedTuple):
    check: Check
    ok: bool | None  # None: never checked
    detail: str | None = None

    @property
    def label(self) -> str:
        return self.check.label


class StoreSummary(NamedTuple):
    """What a card or a table row shows.

    The SQLite fleet read gives a subclass (engine.persistence.fleet._LazySummary) that holds
    id, domain, name and status and decodes the rest from its stored row on first use. It is,
    to a caller, this summary of the same values: the same fields, equal, hashed and ordered
    the same, with the same repr, iteration, _replace and to_json."""

    id: int
    domain: str
    name: str
    status: Status
    status_detail: str | None
    entities: tuple[EntityRow, ...]
    readiness: tuple[ReadinessItem, ...]
    last_checked_at: datetime | None
    last_synced_at: datetime | None
    records_total: int
    paused: bool
    deleting: bool
    checking: bool  # a health check is queued or running
    busy: bool  # any job queued or running for this store

    def entity(self, entity: Entity) -> EntityRow:
        return next(row for row in self.entities if row.entity is entity)

    def to_json(self) -> dict:
        return {
            "domain": self.domain,
            "name": self.name,
            "status": self.status.value,
            "status_detail": self.status_detail,
            "entities": {row.entity.value: row.to_json() for row in self.entities},
            "readiness": {item.check.value: item.ok for item in self.readiness},
            "last_checked_at": iso(self.last_checked_at),
        }


@dataclass(frozen=True, slots=True)
class StoreDetail:
    """Everything the store screen and the Details / Settings drawers show."""

    summary: StoreSummary
    email: str | None
    custom_domain: str | None
    plan: str | None
    currency: str | None
    country: str | None
    connected_at: datetime | None
    granted_scopes: tuple[str, ...]
    required_scopes: tuple[str, ...]
    missing_scopes: tuple[str, ...]
    categories: dict[Category, bool]
    latest_failure: str | None
    webhooks_registered_at: datetime | None
    last_webhook_at: datetime | None
    auth_method: str
    record_counts: dict[str, int] = field(default_factory=dict)  # what a delete removes

    def to_json(self) -> dict:
        data = self.summary.to_json()
        data.update(
            {
                "email": self.email,
                "custom_domain": self.custom_domain,
                "plan": self.plan,
                "currency": self.currency,
                "country": self.country,
                "connected_at": iso(self.connected_at),
                "granted_scopes": list(self.granted_scopes),
                "missing_scopes": list(self.missing_scopes),
                "settings": {c.value: on for c, on in self.categories.items()},
                "latest_failure": self.latest_failure,
                "webhooks_registered_at": iso(self.webhooks_registered_at),
                "last_webhook_at": iso(self.last_webhook_at),
            }
        )
        return data


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    at: datetime
    store_domain: str | None
    kind: str
    level: str
    message: str
    actor: str | None = None  # who did it ("ops@box (TUI)"), for an operator's action


@dataclass(frozen=True, slots=True)
class FleetSummary:
    total: int
    by_status: dict[Status, int]


@dataclass(frozen=True, slots=True)
class HealthOutcome:
    """What a finished health job found: the typed form of the result it stores.

    `skipped` is set (and nothing was checked) when the store was gone or being deleted.
    """

    passed: bool
    failed: tuple[Check, ...] = ()
    skipped: str | None = None

    def to_result(self) -> dict:
        if self.skipped is not None:
            return {"skipped": self.skipped}
        return {"ok": self.passed, "failed": [check.value for check in self.failed]}

    @classmethod
    def from_result(cls, result: dict | None) -> HealthOutcome:
        """Read a stored result back; anything unreadable counts as not passed."""
        result = result or {}
        if isinstance(result.get("skipped"), str):
            return cls(False, skipped=result["skipped"])
        known = {check.value: check for check in Check}
        values = result.get("failed")
        failed = (tuple(known[v] for v in values if isinstance(v, str) and v in known)
                  if isinstance(values, list) else ())
        return cls(result.get("ok") is True, failed)


@dataclass(frozen=True, slots=True)
class JobView:
    id: int
    kind: JobKind
    state: JobState
    store_domain: str | None
    entity: str | None
    progress_done: int
    progress_total: int | None
    error: str | None
    result: dict | None

    @property
    def health(self) -> HealthOutcome | None:
        """A finished health job's outcome (None for other jobs or one not done)."""
        if self.kind is not JobKind.HEALTH or self.state is not JobState.DONE:
            return None
        return HealthOutcome.from_result(self.result)
