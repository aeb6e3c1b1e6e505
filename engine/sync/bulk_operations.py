"""A store's bulk operations at Shopify: whose they are, listing, cancelling, and the slot check.

*Ours* is an operation a job of this engine started: its id is stored on one of the store's
entity sync rows (the run in progress, or one left to adopt after a crash) or a sync event
recorded it (earlier runs; `adopted` when a resumed run took it over). Everything else is
someone else's.

`check_slots` is the sync's `on_busy` hook for engine.shopify.bulk.start: when Shopify refuses
a new export and every operation holding a slot is someone else's, waiting cannot help (they
may run for hours), so it raises BulkSlotsTaken naming them at once. An operation being
cancelled frees its slot within moments, so it is waited for rather than reported.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

from engine.credentials import open_client
from engine.domain.bulk import (
    BulkListing,
    BulkOperationView,
    exported_entity,
    is_slots_taken,
    slots_taken_detail,
)
from engine.domain.coerce import naive_utc
from engine.persistence.models import EntitySync, Event, Store, utcnow
from engine.persistence.runtime import Runtime
from engine.shopify import bulk
from engine.shopify.bulk import BulkStatus, CancelOutcome
from engine.shopify.client import ShopifyClient
from engine.shopify.errors import BulkSlotsTaken

LIST_SIZE = 50
EVENT_LOOKBACK = timedelta(days=30)
CANCEL_SETTLE = 5.0  # seconds a cancel waits for CANCELING to become CANCELED


@dataclass(frozen=True, slots=True)
class Ownership:
    entity: str
    role: str  # "current run" | "adopted after a restart" | "earlier run"


def our_operations(store_id: int) -> dict[str, Ownership]:
    """Every bulk operation id this engine started for the store, with its entity and role."""
    ours: dict[str, Ownership] = {}
    since = utcnow() - EVENT_LOOKBACK
    rows = (Event.select(Event.data).where(
        (Event.store_id == store_id) & (Event.kind == "sync") & (Event.at >= since)
        & Event.data.is_null(False)
    ).order_by(Event.id))
    adopted: set[str] = set()
    for event in rows:
        data = event.data if isinstance(event.data, dict) else {}
        operation, entity = data.get("bulk_operation_id"), data.get("entity")
        if not isinstance(operation, str):
            continue
        if data.get("adopted"):
            adopted.add(operation)
        ours[operation] = Ownership(entity if isinstance(entity, str) else "", "earlier run")
    for sync in EntitySync.select().where(
        (EntitySync.store == store_id) & EntitySync.bulk_operation_id.is_null(False)
    ):
        if sync.bulk_operation_id is not None:
            ours[sync.bulk_operation_id] = Ownership(sync.entity, "current run")
    return {
        op: Ownership(o.entity, "adopted after a restart" if op in adopted else o.role)
        for op, o in ours.items()
    }


def _view(status: BulkStatus, ours: dict[str, Ownership]) -> BulkOperationView:
    mine = ours.get(status.id)
    return BulkOperationView(
        id=status.id, type=status.type, status=status.status, error_code=status.error_code,
        object_count=status.object_count, root_object_count=status.root_object_count,
        created_at=naive_utc(status.created_at), completed_at=naive_utc(status.completed_at),
        ours=mine is not None,
        entity=(mine.entity if mine and mine.entity else exported_entity(status.query)),
        role=mine.role if mine else "",
    )


def concurrency_limit(api_version: str) -> int:
    """Bulk queries a shop runs at once: five from 2026-01, one before."""
    return 5 if api_version >= "2026-01" else 1


def _blocked(store_id: int) -> tuple[str, ...]:
    rows = EntitySync.select().where(EntitySync.store == store_id).order_by(EntitySync.id)
    return tuple(s.entity for s in rows if s.state == "failed" and is_slots_taken(s.error))


def list_operations(runtime: Runtime, store: Store) -> BulkListing:
    """The store's recent bulk operations from Shopify, newest first (blocking: asks Shopify)."""

    async def fetch() -> list[BulkStatus]:
        async with open_client(runtime, store) as client:
            return await bulk.recent(client, LIST_SIZE)

    statuses = asyncio.run(fetch())
    ours = our_operations(store.id)
    return BulkListing(
        store_id=store.id, domain=store.domain, name=store.name or store.domain,
        operations=tuple(_view(s, ours) for s in statuses), blocked=_blocked(store.id),
        fetched_at=utcnow(), limit=concurrency_limit(runtime.settings.api_version),
    )


def cancel_operation(runtime: Runtime, store: Store, operation_id: str) -> CancelOutcome:
    """Ask Shopify to cancel `operation_id` and wait briefly for CANCELING to settle."""

    async def run() -> CancelOutcome:
        async with open_client(runtime, store) as client:
            outcome = await bulk.cancel_operation(client, operation_id)
            deadline = time.monotonic() + CANCEL_SETTLE
            while outcome.status == "CANCELING" and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                status = await bulk.poll(client, operation_id)
                outcome = CancelOutcome(status.status, outcome.refusal)
            return outcome

    return asyncio.run(run())


async def check_slots(client: ShopifyClient, store_id: int) -> None:
    """Raise BulkSlotsTaken when every operation holding a slot is someone else's."""
    statuses = await bulk.recent(client, LIST_SIZE)
    active = [s for s in statuses if s.active]
    if not active or any(s.status == "CANCELING" for s in active):
        return  # a slot is about to free up (or Shopify's answer was stale): keep waiting
    ours = await asyncio.to_thread(our_operations, store_id)
    if any(s.id in ours for s in active):
        return  # one of ours finishes and frees its slot: keep waiting
    oldest = sorted(active, key=lambda s: s.created_at or "")
    ids = [s.id for s in oldest]
    since = naive_utc(oldest[0].created_at)
    raise BulkSlotsTaken(slots_taken_detail(ids, since), ids, oldest[0].created_at)
