"""The shared writers: a store's derived status, its entity rows and the activity log.

`refresh_status` is the one place a store's stored status is recomputed (every writer that changes
a fact the status rule reads calls it); `record_event` appends to the activity log. The reads live
in engine.persistence.reads.
"""

from __future__ import annotations

import getpass
import socket

from engine.domain.status import ENTITY_ORDER, Status, derive_status
from engine.persistence.database import write_transaction
from engine.persistence.models import EntitySync, Event, Store, utcnow
from engine.persistence.reads import status_facts


def refresh_status(store: Store | int) -> tuple[Status, str | None]:
    """Recompute and store the derived status; records a status event when it changes."""
    with write_transaction():
        store = Store.get_by_id(store) if isinstance(store, int) else Store.get_by_id(store.id)
        syncs = list(EntitySync.select().where(EntitySync.store == store.id))
        status, detail = derive_status(status_facts(store, syncs))
        if status.value != store.status or detail != store.status_detail:
            previous = Status(store.status)
            Store.update(status=status.value, status_detail=detail, updated_at=utcnow()).where(
                Store.id == store.id
            ).execute()
            if status is not previous:
                record_event(
                    store,
                    "status",
                    f"Status {previous.label} → {status.label}"
                    + (f": {detail}" if detail else ""),
                    level="error" if status is Status.ERROR else "info",
                )
        return status, detail


def ensure_entity_rows(store: Store) -> None:
    """One EntitySync row per entity, created on first need: one read, then one insert of the
    missing rows (a row another writer inserted meanwhile stays as it is), not a get_or_create
    (a read, a savepoint and an insert) per entity."""
    have = {row.entity for row in EntitySync.select(EntitySync.entity).where(
        EntitySync.store == store.id)}
    missing = [entity.value for entity in ENTITY_ORDER if entity.value not in have]
    if missing:
        EntitySync.insert_many(
            [{EntitySync.store: store.id, EntitySync.entity: entity} for entity in missing]
        ).on_conflict_ignore().execute()


ACTOR_KINDS = frozenset({"action", "connect"})
ORIGINS = {"cli": "CLI", "tui": "TUI", "web": "web", "serve": "serve"}
_origin = "cli"


def set_origin(origin: str) -> None:
    """Where this process's operator sits: "cli" (the default), "tui", "web" or "serve"."""
    global _origin
    if origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}")
    _origin = origin


def current_actor() -> str:
    """"user@host (TUI)": who acts through this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()} ({ORIGINS[_origin]})"


def record_event(
    store: Store | None,
    kind: str,
    message: str,
    *,
    level: str = "info",
    data: dict | None = None,
    domain: str | None = None,
) -> None:
    """Append one entry to the activity log (a store's, or the fleet's when `store` is None).

    An operator's action (kind "action" or "connect") also records who did it and from where
    (`data["actor"]`, e.g. "ops@box (TUI)")."""
    if kind in ACTOR_KINDS:
        data = {**(data or {}), "actor": current_actor()}
    Event.create(
        store_id=store.id if store else None,
        store_domain=store.domain if store else domain,
        kind=kind,
        level=level,
        message=message,
        data=data,
    )
