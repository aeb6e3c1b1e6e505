"""Engine reads: how the TUI and the CLI read state. Nothing here writes.

Reads return the frozen values of engine.domain.views (or, for the engine's own use, the facts a
rule needs). The shared writers (status refresh, activity log) live in engine.persistence.records.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from peewee import fn

from engine.domain.domains import DomainError, normalize_domain
from engine.domain.jobs import ACTIVE, JobKind
from engine.domain.status import (
    ENTITY_CATEGORY,
    ENTITY_ORDER,
    Category,
    Check,
    Entity,
    EntityState,
    Status,
    StatusFacts,
    missing_scopes,
    required_scopes,
)
from engine.domain.views import (
    EntityRow,
    EventRow,
    FleetSummary,
    ReadinessItem,
    StoreDetail,
    StoreSummary,
)
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
        EventRow(e.id, e.at, e.store_domain, e.kind, e.level, e.message) for e in query
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


def _readiness(store: Store, stored: dict | None) -> tuple[ReadinessItem, ...]:
    stored = stored or {}
    items = []
    for check in Check:
        entry = stored.get(check.value) or {}
        ok, detail = entry.get("ok"), entry.get("detail")
        if check is Check.INITIAL_SYNC_COMPLETE and store.initial_sync_completed_at is not None:
            ok, detail = True, None  # history is the truth here, even between health checks
        items.append(ReadinessItem(check, ok, detail))
    return tuple(items)


# The columns a summary needs: reading just these as tuples keeps a 10,000-store fleet cheap.
_STORE_COLUMNS = (
    Store.id, Store.domain, Store.name, Store.status, Store.status_detail, Store.readiness,
    Store.last_checked_at, Store.initial_sync_completed_at, Store.paused, Store.deleting,
    Store.cat_customers, Store.cat_email_consent, Store.cat_sms_consent, Store.cat_orders,
    Store.cat_catalogue,
)
_SYNC_COLUMNS = (
    EntitySync.store, EntitySync.entity, EntitySync.state, EntitySync.records, EntitySync.done,
    EntitySync.total, EntitySync.last_synced_at, EntitySync.error, EntitySync.progress_at,
    EntitySync.started_at,
)


def _summaries(stores: list, only: list[int] | None = None) -> list[StoreSummary]:
    """Summaries of `stores` (rows of _STORE_COLUMNS); `only` limits the entity-row read."""
    if not stores:
        return []
    syncs: dict[int, dict[str, object]] = defaultdict(dict)
    query = EntitySync.select(*_SYNC_COLUMNS)
    chunks = [None] if only is None else [only[i : i + 500] for i in range(0, len(only), 500)]
    for chunk in chunks:
        part = query if chunk is None else query.where(EntitySync.store.in_(chunk))
        for sync in part.namedtuples():
            syncs[sync.store][sync.entity] = sync
    jobs: dict[int, set[JobKind]] = defaultdict(set)
    for store_id, kind in Job.select(Job.store_id, Job.kind).where(
        Job.state.in_(ACTIVE)
    ).tuples():
        if store_id is not None:
            jobs[store_id].add(kind)
    result = []
    for store in stores:
        rows = []
        by_entity = syncs.get(store.id, {})
        for entity in ENTITY_ORDER:
            sync = by_entity.get(entity.value)
            rows.append(
                EntityRow(
                    entity=entity,
                    state=entity_state(store, sync),
                    records=sync.records if sync else 0,
                    done=sync.done if sync else 0,
                    total=sync.total if sync else None,
                    last_synced_at=sync.last_synced_at if sync else None,
                    error=sync.error if sync else None,
                    progress_at=sync.progress_at if sync else None,
                    started_at=sync.started_at if sync else None,
                )
            )
        synced_times = [r.last_synced_at for r in rows if r.last_synced_at]
        readiness = store.readiness
        if isinstance(readiness, str):  # tuples skip the field's decoding
            readiness = Store.readiness.python_value(readiness)
        result.append(
            StoreSummary(
                id=store.id,
                domain=store.domain,
                name=store.name or store.domain,
                status=Status(store.status),
                status_detail=store.status_detail,
                entities=tuple(rows),
                readiness=_readiness(store, readiness),
                last_checked_at=store.last_checked_at,
                last_synced_at=max(synced_times) if synced_times else None,
                records_total=sum(r.records for r in rows),
                paused=store.paused,
                deleting=store.deleting,
                checking=JobKind.HEALTH in jobs.get(store.id, ()),
                busy=bool(jobs.get(store.id)),
            )
        )
    return result


def list_stores() -> list[StoreSummary]:
    """Every store, by name then domain."""
    stores = list(
        Store.select(*_STORE_COLUMNS).order_by(fn.LOWER(Store.name), Store.domain).namedtuples()
    )
    return _summaries(stores)


def store_summary(store_id: int) -> StoreSummary:
    store = Store.get_or_none(Store.id == store_id)
    if store is None:
        raise StoreNotFound(f"No store with id {store_id}")
    return _summaries([store], only=[store.id])[0]


def record_counts(store_id: int) -> dict[str, int]:
    """Rows per record table for one store: what a delete removes."""
    return {
        model._meta.table_name: model.select().where(model.store == store_id).count()
        for model in RECORD_MODELS
    }


def store_detail(store_id: int) -> StoreDetail:
    store = Store.get_or_none(Store.id == store_id)
    if store is None:
        raise StoreNotFound(f"No store with id {store_id}")
    summary = _summaries([store], only=[store.id])[0]
    categories = categories_of(store)
    failures = [r for r in summary.entities if r.state is EntityState.FAILED and r.error]
    latest_failure = (
        f"{failures[0].entity.label}: {failures[0].error}" if failures else
        (store.health_detail if store.health_failing else None)
    )
    if latest_failure is None and store.needs_reauth:
        latest_failure = store.reauth_reason
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
    for row in Store.select(Store.status, fn.COUNT(Store.id).alias("n")).group_by(Store.status):
        counts[Status(row.status)] = row.n
    return FleetSummary(total=sum(counts.values()), by_status=counts)


def data_version() -> tuple:
    """A cheap fingerprint of everything the dashboard shows; unchanged → skip the refresh."""
    row = (
        Store.select(fn.COUNT(Store.id), fn.MAX(Store.updated_at)).tuples().first()
    )
    sync = EntitySync.select(fn.MAX(EntitySync.updated_at)).scalar()
    job = Job.select(fn.MAX(Job.id), fn.COUNT(Job.id)).where(
        Job.state.in_(ACTIVE)
    ).tuples().first()
    event = Event.select(fn.MAX(Event.id)).scalar()
    return (row, sync, job, event)


def now() -> datetime:
    return utcnow()
