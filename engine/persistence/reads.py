"""Engine reads: how the TUI and the CLI read state. Nothing here writes.

Reads return the frozen values of engine.domain.views (or, for the engine's own use, the facts a
rule needs). The shared writers (status refresh, activity log) live in engine.persistence.records.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from peewee import fn

from engine.domain.domains import DomainError, normalize_domain
from engine.domain.jobs import ACTIVE
from engine.domain.status import (
    ENTITY_CATEGORY,
    ENTITY_ORDER,
    Category,
    Entity,
    EntityState,
    Status,
    StatusFacts,
    missing_scopes,
    records_mismatch_of,
    required_scopes,
)
from engine.domain.views import (
    EventRow,
    FleetSummary,
    StoreDetail,
    StoreSummary,
)
from engine.persistence.fleet import FleetChanges as FleetChanges  # re-exported for the UI
from engine.persistence.fleet import change_cursor as change_cursor
from engine.persistence.fleet import change_fingerprint, read_summaries
from engine.persistence.fleet import changes_since as changes_since
from engine.persistence.fleet import decode_all as decode_all
from engine.persistence.fleet import first_page as first_page
from engine.persistence.fleet import first_summaries as first_summaries
from engine.persistence.fleet import merge_changes as merge_changes
from engine.persistence.fleet import summarise as summarise
from engine.persistence.models import (
    RECORD_MODELS,
    EntitySync,
    Event,
    Job,
    Store,
    utcnow,
)


class StoreNotFound(LookupError):
    """No store matches what the operator typed."""


# -- settings and facts -------------------------------------------------------------------------

def categories_of(store: Store) -> dict[Category, bool]:
    return {category: bool(getattr(store, f"cat_{category.value}")) for category in Category}


def granted_scopes_of(store: Store) -> list[str]:
    return [s for s in (store.granted_scopes or "").split(",") if s]


def missing_scopes_of(store: Store) -> list[str]:
    return missing_scopes(required_scopes(categories_of(store)), granted_scopes_of(store))


def entity_state(store: Store, sync: EntitySync | None) -> EntityState:
    """An entity whose category is off shows Off whatever its last run did."""
    if sync is None:
        return EntityState.PENDING
    entity = Entity(sync.entity)
    if not getattr(store, f"cat_{ENTITY_CATEGORY[entity].value}"):
        return EntityState.OFF
    return EntityState(sync.state)


def status_facts(store: Store, syncs: list[EntitySync]) -> StatusFacts:
    states = tuple(
        (Entity(s.entity), entity_state(store, s), s.error) for s in _ordered(syncs)
    )
    return StatusFacts(
        paused=store.paused,
        needs_reauth=store.needs_reauth,
        reauth_reason=store.reauth_reason,
        missing_scopes=tuple(missing_scopes_of(store)),
        health_failing=store.health_failing,
        health_detail=store.health_detail,
        entity_states=states,
        full_sync_failed=tuple(
            (Entity(s.entity), s.full_failed_at) for s in _ordered(syncs)
            if s.full_failed_at is not None
            and entity_state(store, s) is not EntityState.OFF
        ),
        records_mismatch=records_mismatch_of(store.readiness, categories_of(store)),
    )


def _ordered(syncs: list[EntitySync]) -> list[EntitySync]:
    rank = {e.value: i for i, e in enumerate(ENTITY_ORDER)}
    return sorted(syncs, key=lambda s: rank.get(s.entity, 99))


# -- events -------------------------------------------------------------------------------------

def events(
    *,
    store_id: int | None = None,
    limit: int = 200,
    kinds: tuple[str, ...] | None = None,
    text: str | None = None,
    before_id: int | None = None,
) -> list[EventRow]:
    """Newest first."""
    query = Event.select().order_by(Event.id.desc()).limit(limit)
    if store_id is not None:
        query = query.where(Event.store_id == store_id)
    if kinds:
        query = query.where(Event.kind.in_(kinds))
    if text:
        like = f"%{text}%"
        query = query.where(Event.message ** like | Event.store_domain ** like)
    if before_id is not None:
        query = query.where(Event.id < before_id)
    return [
        EventRow(e.id, e.at, e.store_domain, e.kind, e.level, e.message,
                 (e.data or {}).get("actor") if isinstance(e.data, dict) else None)
        for e in query
    ]


# -- stores -------------------------------------------------------------------------------------

def active_job_ids(store_id: int) -> list[int]:
    """The store's queued and running jobs, oldest first."""
    query = Job.select(Job.id).where((Job.store_id == store_id) & Job.state.in_(ACTIVE))
    return [job.id for job in query.order_by(Job.id)]


def find_store(text: str) -> Store:
    """The store named by a full domain or a bare store name, or StoreNotFound."""
    value = (text or "").strip()
    try:
        domain = normalize_domain(value)
    except DomainError:
        domain = value.lower()
    store = Store.get_or_none(Store.domain == domain)
    if store is None:
        raise StoreNotFound(f"No store {value!r}; `shopsync stores` lists them")
    return store


def list_stores() -> list[StoreSummary]:
    """Every store, by name then domain (two queries, see engine.persistence.fleet)."""
    return read_summaries()


def store_summaries(store_ids: Sequence[int]) -> list[StoreSummary]:
    """The summaries of the stores in `store_ids` that still exist, by name then domain."""
    return read_summaries(store_ids) if store_ids else []


def store_summary(store_id: int) -> StoreSummary:
    found = read_summaries([store_id])
    if not found:
        raise StoreNotFound(f"No store with id {store_id}")
    return found[0]


def record_counts(store_id: int) -> dict[str, int]:
    """Rows per record table for one store: what a delete removes."""
    return {
        model._meta.table_name: model.select().where(model.store == store_id).count()
        for model in RECORD_MODELS
    }


def count_checks(store_id: int) -> dict[str, dict]:
    """Each enabled entity's last count check (engine.sync.counts), for `health --json` and
    `show --json`: {"customers": {"here", "shopify", "matches", "slack", "checked_at"}}."""
    store = Store.get_or_none(Store.id == store_id)
    if store is None:
        raise StoreNotFound(f"No store with id {store_id}")
    categories = categories_of(store)
    rows = {s.entity: s.count_check for s in EntitySync.select(
        EntitySync.entity, EntitySync.count_check).where(EntitySync.store == store_id)}
    found: dict[str, dict] = {}
    for entity in ENTITY_ORDER:
        check = rows.get(entity.value)
        if not isinstance(check, dict) or not categories[ENTITY_CATEGORY[entity]]:
            continue
        found[entity.value] = {
            "here": check.get("here"), "shopify": check.get("shopify"),
            "matches": not check.get("mismatch"), "slack": check.get("slack"),
            "checked_at": check.get("at"),
        }
    return found


def store_detail(store_id: int) -> StoreDetail:
    store = Store.get_or_none(Store.id == store_id)
    if store is None:
        raise StoreNotFound(f"No store with id {store_id}")
    summary = store_summary(store.id)
    categories = categories_of(store)
    failures = [r for r in summary.entities if r.state is EntityState.FAILED and r.error]
    latest_failure = (
        f"{failures[0].entity.label}: {failures[0].error}" if failures else
        (store.health_detail if store.health_failing else None)
    )
    if latest_failure is None and store.needs_reauth:
        latest_failure = store.reauth_reason
    if latest_failure is None:  # a failed full sync under later successful incrementals
        latest_failure = next(
            (r.full_sync_failed for r in summary.entities if r.full_sync_failed), None)
    return StoreDetail(
        summary=summary,
        email=store.email,
        custom_domain=store.custom_domain,
        plan=store.plan,
        currency=store.currency,
        country=store.country,
        connected_at=store.connected_at,
        granted_scopes=tuple(granted_scopes_of(store)),
        required_scopes=tuple(required_scopes(categories)),
        missing_scopes=tuple(missing_scopes_of(store)),
        categories=categories,
        latest_failure=latest_failure,
        webhooks_registered_at=store.webhooks_registered_at,
        last_webhook_at=store.last_webhook_at,
        auth_method=store.auth_method,
        record_counts=record_counts(store.id),
    )


def fleet_summary() -> FleetSummary:
    counts = {status: 0 for status in Status}
    by_status = Store.select(Store.status, fn.COUNT(Store.id)).group_by(Store.status)
    for status, n in by_status.tuples().iterator():
        counts[Status(status)] = n
    return FleetSummary(total=sum(counts.values()), by_status=counts)


def data_version() -> tuple:
    """A cheap fingerprint of what the screens show; unchanged → skip the refresh.

    The store change log covers stores, entity rows and jobs (fleet.py); the activity log's
    newest id covers events. Both are index lookups, whatever the fleet's size.
    """
    event = Event.select(fn.MAX(Event.id)).scalar()
    return (change_fingerprint(), event)


def now() -> datetime:
    return utcnow()
