"""Fixture databases for TUI tests, snapshots, screenshots and benchmarks.

Rows are written with the engine's models directly (the UI itself never does this) and every
timestamp is fixed relative to `FROZEN_NOW`, so an app given `clock=frozen_clock` renders the
same "3 min ago" texts on every run. The status of each store is derived with the engine's own
rule (`engine.domain.status.derive_status`), never set by hand, so a fixture cannot show a state the
engine would never produce.

    demo_fleet()        the demo-like fleet: every status and every entity state, hostile names
    make_store(...)     one store with chosen entity states, flags and readiness
    bulk_fleet(n)       n plain stores inserted with executemany (benchmarks, 10,000-store tests)
    add_event(...)      one activity-log row at a fixed time
    add_records(...)    n imported rows of one entity (what a delete would remove)

All functions need an open runtime (the `offline_runtime` fixture, or
`engine.persistence.runtime.open_runtime`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from peewee import JSONField, Model

from engine.domain.status import (
    ALL_SCOPES,
    COUNTS_NOT_CHECKED_INITIAL,
    ENTITY_CATEGORY,
    ENTITY_ORDER,
    Category,
    Check,
    Entity,
    EntityState,
    StatusFacts,
    derive_status,
)
from engine.lifecycle.subscriptions import ALL_TOPICS
from engine.persistence.models import (
    Collection,
    Customer,
    EntitySync,
    Event,
    Job,
    Order,
    Product,
    Store,
    database,
)
from engine.persistence.reads import status_facts

FROZEN_NOW = datetime(2026, 11, 27, 10, 0, 0)  # naive UTC, like every timestamp in the database

RECORD_MODEL: dict[Entity, type[Model]] = {
    Entity.CUSTOMERS: Customer,
    Entity.ORDERS: Order,
    Entity.PRODUCTS: Product,
    Entity.COLLECTIONS: Collection,
}

MARKUP_NAME = "[bold red]x[/]"
ESCAPE_NAME = "Evil \x1b[31mRed\x1b[0m Shop"
ESCAPE_ERROR = "HTTP 500 \x1b[2J\x1b[31mboom\x07 [link=http://x]click[/link]"


def frozen_clock() -> datetime:
    """The fixed "now" of every fixture (a drop-in `clock` for ShopsyncApp)."""
    return FROZEN_NOW


def _states(spec: EntityState | Mapping[Entity, EntityState] | None) -> dict[Entity, EntityState]:
    if spec is None:
        return {entity: EntityState.SYNCED for entity in ENTITY_ORDER}
    if isinstance(spec, EntityState):
        return {entity: spec for entity in ENTITY_ORDER}
    return {entity: spec.get(entity, EntityState.SYNCED) for entity in ENTITY_ORDER}


def _readiness(ok: bool | None, failing: Iterable[Check], at: datetime,
               initial_sync: bool = True) -> dict:
    if ok is None:
        return {}
    failed = set(failing)
    items = {
        check.value: {"ok": check not in failed, "detail": check.cause if check in failed else None}
        for check in Check
        if check is not Check.INITIAL_SYNC_COMPLETE
    }
    if not initial_sync:  # the count check has nothing to compare before the initial sync
        items[Check.RECORDS_MATCH.value] = {"ok": None, "detail": COUNTS_NOT_CHECKED_INITIAL}
    return items


def make_store(
    domain: str,
    name: str | None = None,
    *,
    states: EntityState | Mapping[Entity, EntityState] | None = None,
    records: int | Mapping[Entity, int] = 1200,
    errors: Mapping[Entity, str] | None = None,
    progress: tuple[int, int] = (450, 1000),
    synced_ago: timedelta = timedelta(minutes=3),
    categories: Mapping[Category, bool] | None = None,
    granted_scopes: Iterable[str] = ALL_SCOPES,
    paused: bool = False,
    needs_reauth: bool = False,
    reauth_reason: str | None = None,
    health_ok: bool | None = True,
    failing_checks: Iterable[Check] = (),
    deleting: bool = False,
    checking: bool = False,
    initial_sync: bool = True,
    now: datetime = FROZEN_NOW,
    **store_fields: Any,
) -> Store:
    """Create one store with its four entity rows; its status is derived, not chosen.

    `states` gives each entity's state (Off is shown for entities whose category is off, so pass
    `categories` to get Off). `checking=True` queues a health job (the card reads "Checking…");
    `health_ok=False` with `failing_checks` records a failed health check.
    """
    failing = tuple(failing_checks)
    cats = {c: True for c in Category} | dict(categories or {})
    store = Store.create(
        domain=domain,
        name=domain.split(".")[0].title() if name is None else name,
        email=f"owner@{domain}",
        plan="Shopify Plus" if "large" in domain else "Basic",
        currency="EUR",
        country="Germany",
        shop_created_at=now - timedelta(days=400),
        connected_at=now - timedelta(days=30),
        auth_method="token",
        granted_scopes=",".join(granted_scopes),
        paused=paused,
        needs_reauth=needs_reauth,
        reauth_reason=reauth_reason,
        health_failing=health_ok is False,
        health_detail=(failing[0].label + " failed" if failing else None) if health_ok is False
        else None,
        readiness=_readiness(health_ok, failing, now, initial_sync),
        last_checked_at=None if health_ok is None else now - timedelta(minutes=10),
        initial_sync_completed_at=now - timedelta(days=29) if initial_sync else None,
        deleting=deleting,
        webhooks_registered_at=now - timedelta(days=30),
        webhook_topics=",".join(ALL_TOPICS),
        last_webhook_at=now - timedelta(minutes=1),
        created_at=now - timedelta(days=30),
        updated_at=now,
        **{f"cat_{c.value}": on for c, on in cats.items()},
        **store_fields,
    )
    per_state = _states(states)
    counts = records if isinstance(records, Mapping) else {e: records for e in ENTITY_ORDER}
    errors = dict(errors or {})
    for entity in ENTITY_ORDER:
        state = per_state[entity]
        if not cats[ENTITY_CATEGORY[entity]]:
            state = EntityState.OFF
        done, total = progress if state is EntityState.SYNCING else (0, None)
        EntitySync.create(
            store=store.id,
            entity=entity.value,
            state=state.value,
            done=done,
            total=total,
            records=counts.get(entity, 0),
            last_synced_at=now - synced_ago if state is not EntityState.PENDING else None,
            error=errors.get(entity, "Bulk operation failed: INTERNAL_SERVER_ERROR")
            if state is EntityState.FAILED else None,
            progress_at=now - timedelta(seconds=20) if state is EntityState.SYNCING else None,
            started_at=now - timedelta(minutes=2) if state is EntityState.SYNCING else None,
            updated_at=now,
        )
    if checking:
        Job.create(kind="health", store_id=store.id, store_domain=domain, created_at=now)
    _derive(store)
    return Store.get_by_id(store.id)


def _derive(store: Store) -> None:
    """Store the engine-derived status without writing a (time-stamped) status event."""
    syncs = list(EntitySync.select().where(EntitySync.store == store.id))
    status, detail = derive_status(status_facts(Store.get_by_id(store.id), syncs))
    Store.update(status=status.value, status_detail=detail).where(Store.id == store.id).execute()


def add_event(
    store: Store | None, message: str, *, kind: str = "action", level: str = "info",
    ago: timedelta = timedelta(minutes=5), now: datetime = FROZEN_NOW,
) -> Event:
    return Event.create(
        at=now - ago, store_id=store.id if store else None,
        store_domain=store.domain if store else None, kind=kind, level=level, message=message,
    )


def add_records(store: Store, entity: Entity, count: int) -> None:
    """`count` minimal imported rows of `entity` for `store` (inserted with executemany)."""
    model = RECORD_MODEL[entity]
    template = _template_row(model, store=store.id, shopify_id=0)
    columns = list(template)
    rows = [tuple(dict(template, shopify_id=1_000_000 + i)[c] for c in columns)
            for i in range(count)]
    _insert(model._meta.table_name, columns, rows)


def _insert(table: str, columns: list[str], rows: list[tuple]) -> None:
    marks = ", ".join("?" for _ in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    with database.atomic():
        database.connection().executemany(
            f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)


def demo_fleet(now: datetime = FROZEN_NOW) -> dict[str, Store]:
    """The demo-like fleet: every status, every entity state, long and hostile names."""
    e, s = Entity, EntityState
    fleet = {
        "healthy": make_store("acme-outdoor.myshopify.com", "Acme Outdoor", records=1200, now=now),
        "large": make_store(
            "large-mega-mart.myshopify.com", "Mega Mart",
            records={e.CUSTOMERS: 48_210, e.ORDERS: 1_204_377, e.PRODUCTS: 9_120,
                     e.COLLECTIONS: 312}, synced_ago=timedelta(hours=2), now=now),
        "failing": make_store(
            "berlin-bikes.myshopify.com", "Berlin Bikes", states={e.ORDERS: s.FAILED},
            errors={e.ORDERS: "Bulk operation failed: INTERNAL_SERVER_ERROR"}, now=now),
        "uninstalled": make_store(
            "cafe-creme.myshopify.com", "Café Crème Zürich", needs_reauth=True,
            reauth_reason="App uninstalled in Shopify", health_ok=False,
            failing_checks=(Check.OAUTH_CONNECTED,), synced_ago=timedelta(days=2), now=now),
        "missing_scope": make_store(
            "nordic-knits.myshopify.com", "Nordic Knits",
            granted_scopes=("read_customers", "read_products"), now=now),
        "paused": make_store(
            "paused-pottery.myshopify.com", "Paused Pottery", paused=True,
            synced_ago=timedelta(days=5), now=now),
        "syncing": make_store(
            "sunrise-surf.myshopify.com", "Sunrise Surf",
            states={e.ORDERS: s.SYNCING, e.PRODUCTS: s.PENDING, e.COLLECTIONS: s.PENDING},
            progress=(4_500, 10_000), now=now),
        "new": make_store(
            "fresh-start.myshopify.com", "Fresh Start", states=s.PENDING, records=0,
            health_ok=None, initial_sync=False, now=now),
        "catalogue_off": make_store(
            "tea-time.myshopify.com", "Tea Time", categories={Category.CATALOGUE: False}, now=now),
        "health_failed": make_store(
            "throttled-threads.myshopify.com", "Throttled Threads", health_ok=False,
            failing_checks=(Check.API_RESPONDING,), now=now),
        "checking": make_store(
            "quick-check.myshopify.com", "Quick Check", checking=True, now=now),
        "deleting": make_store(
            "old-outlet.myshopify.com", "Old Outlet", deleting=True, now=now),
        "long": make_store(
            "the-extraordinarily-long-named-store-of-fine-goods.myshopify.com",
            "Die außergewöhnlich lange benannte Manufaktur für feine Waren & Geschenke GmbH",
            now=now),
        "markup": make_store("markup-mischief.myshopify.com", MARKUP_NAME, now=now),
        "escape": make_store(
            "escape-artist.myshopify.com", ESCAPE_NAME, states={e.CUSTOMERS: s.FAILED},
            errors={e.CUSTOMERS: ESCAPE_ERROR}, now=now),
    }
    add_event(fleet["failing"], "Orders sync failed: Bulk operation failed", kind="sync",
              level="error", ago=timedelta(minutes=4), now=now)
    add_event(fleet["healthy"], "Health check completed", kind="health",
              ago=timedelta(minutes=10), now=now)
    add_event(fleet["uninstalled"], "Webhook app/uninstalled received", kind="webhook",
              level="warning", ago=timedelta(hours=1), now=now)
    add_event(fleet["escape"], ESCAPE_ERROR, kind="sync", level="error",
              ago=timedelta(minutes=2), now=now)
    return fleet


def _template_row(model: type[Model], **values: Any) -> dict[str, Any]:
    """Column → database value for one row, with the model's Python-side defaults filled in."""
    instance = model(**values)
    row = {}
    for name, field in model._meta.fields.items():
        if field.primary_key:
            continue
        value = instance.__data__.get(name, field.default() if callable(field.default)
                                      else field.default)
        is_json = isinstance(field, JSONField)
        row[field.column_name] = json.dumps(value) if is_json else field.db_value(value)
    return row


def bulk_fleet(count: int, *, now: datetime = FROZEN_NOW, prefix: str = "bulk") -> None:
    """Insert `count` stores (and their entity rows) fast; every 7th has a failed entity,
    every 11th is paused, every 13th needs re-auth (so all four statuses appear)."""
    store_row = _template_row(Store, domain="x", name="x", updated_at=now, created_at=now,
                              connected_at=now, granted_scopes=",".join(ALL_SCOPES),
                              initial_sync_completed_at=now)
    store_cols = list(store_row)
    with database.atomic():
        first_id = (Store.select(Store.id).order_by(Store.id.desc()).scalar() or 0) + 1
        rows = []
        for i in range(count):
            paused, reauth, failed = i % 11 == 5, i % 13 == 7, i % 7 == 3
            status, detail = derive_status(StatusFacts(
                paused=paused, needs_reauth=reauth, reauth_reason=None, missing_scopes=(),
                health_failing=False, health_detail=None,
                entity_states=((Entity.ORDERS, EntityState.FAILED, "Bulk operation failed"),)
                if failed else (),
            ))
            row = dict(store_row, domain=f"{prefix}-{i:05d}.myshopify.com",
                       name=f"{prefix.title()} Store {i:05d}", paused=paused, needs_reauth=reauth,
                       status=status.value, status_detail=detail)
            rows.append(tuple(row[c] for c in store_cols))
        _insert("store", store_cols, rows)
        sync_row = _template_row(EntitySync, store=1, entity="customers", updated_at=now,
                                 last_synced_at=now - timedelta(minutes=7))
        sync_cols = list(sync_row)
        syncs = []
        for i in range(count):
            for entity in ENTITY_ORDER:
                failed = i % 7 == 3 and entity is Entity.ORDERS
                row = dict(sync_row, store_id=first_id + i, entity=entity.value,
                           state="failed" if failed else "synced", records=100 + i % 900,
                           error="Bulk operation failed" if failed else None)
                syncs.append(tuple(row[c] for c in sync_cols))
        _insert("entity_sync", sync_cols, syncs)
