"""The bulk-operation control room's read models and wording (the store's Shopify bulk operations).

A store's Shopify bulk operations are listed with whose each one is: *ours* when a job of this
engine started it (its id is stored on an entity's sync row, or a sync event recorded it), else
*someone else's* (another installation, a script with the same app's token, a crashed tool).
A shop runs a bounded number of bulk queries at once (five on 2026-07); when every running one
is someone else's, a sync cannot start and fails at once with `slots_taken_detail(...)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from engine.domain.views import iso

SLOTS_TAKEN = "Other bulk operations fill this store's limit"
GID_PREFIX = "gid://shopify/BulkOperation/"
ACTIVE_STATUSES = frozenset({"CREATED", "RUNNING", "CANCELING"})
_ROOT_FIELD = re.compile(r"^\s*(?:query\s*\w*\s*)?\{\s*(\w+)")


def short_id(operation_id: str) -> str:
    """The number at the end of a BulkOperation gid (what the operator reads and types)."""
    return operation_id.removeprefix(GID_PREFIX)


def full_id(text: str) -> str | None:
    """A gid from what an operator typed (the number or the whole gid); None if neither."""
    value = text.strip()
    number = value.removeprefix(GID_PREFIX)
    return GID_PREFIX + number if number.isdigit() else None


def exported_entity(query: str | None) -> str | None:
    """The root connection a bulk query exports ("orders"), or None when unreadable."""
    match = _ROOT_FIELD.match(query or "")
    return match.group(1) if match else None


def slots_taken_detail(operation_ids: list[str], since: datetime | None) -> str:
    """'Other bulk operations fill this store's limit (1, 2, 3, since 2026-12-01 04:20 UTC)'."""
    ids = ", ".join(short_id(i) for i in operation_ids)
    when = f", since {since.strftime('%Y-%m-%d %H:%M')} UTC" if since else ""
    return f"{SLOTS_TAKEN} ({ids}{when})"


def is_slots_taken(detail: str | None) -> bool:
    return bool(detail) and str(detail).startswith(SLOTS_TAKEN)


@dataclass(frozen=True, slots=True)
class BulkOperationView:
    """One Shopify bulk operation of a store, as the control room shows it."""

    id: str  # the gid
    type: str  # QUERY | MUTATION
    status: str  # CREATED | RUNNING | CANCELING | CANCELED | COMPLETED | FAILED | EXPIRED
    error_code: str | None
    object_count: int
    root_object_count: int
    created_at: datetime | None
    completed_at: datetime | None
    ours: bool
    entity: str | None  # ours: the entity whose sync started it; else what its query exports
    role: str  # ours: "current run" / "adopted after a restart" / "earlier run"; else ""

    @property
    def short_id(self) -> str:
        return short_id(self.id)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def owner(self) -> str:
        return "ours" if self.ours else "someone else's"

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "type": self.type,
            "status": self.status,
            "error_code": self.error_code,
            "object_count": self.object_count,
            "root_object_count": self.root_object_count,
            "created_at": iso(self.created_at),
            "completed_at": iso(self.completed_at),
            "ours": self.ours,
            "entity": self.entity,
            "role": self.role or None,
        }


@dataclass(frozen=True, slots=True)
class BulkListing:
    """A store's bulk operations (newest first) and the syncs they block."""

    store_id: int
    domain: str
    name: str
    operations: tuple[BulkOperationView, ...]
    blocked: tuple[str, ...]  # entities whose last sync failed on SLOTS_TAKEN
    fetched_at: datetime
    limit: int  # how many bulk queries the shop runs at once on the API version in use

    @property
    def foreign_active(self) -> tuple[BulkOperationView, ...]:
        return tuple(op for op in self.operations if op.active and not op.ours)

    @property
    def active(self) -> tuple[BulkOperationView, ...]:
        return tuple(op for op in self.operations if op.active)

    @property
    def way_clear(self) -> bool:
        """A slot is free (a blocked sync can start again)."""
        return len(self.active) < self.limit

    def to_json(self) -> dict:
        return {
            "domain": self.domain,
            "name": self.name,
            "fetched_at": iso(self.fetched_at),
            "blocked": list(self.blocked),
            "limit": self.limit,
            "running": len(self.active),
            "operations": [op.to_json() for op in self.operations],
        }
