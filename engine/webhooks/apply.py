"""Applying one verified webhook delivery to the database (called by the ingest worker).

Payloads are REST-shaped; engine.webhooks.rows maps them onto the same record tables and
columns engine.sync.job writes from GraphQL.

Rules (DESIGN.md §3): newest wins by `updated_at` (an older payload is "ignored", detail
"stale"); a record deleted by a `*/delete` webhook is not brought back by an older update that
arrives late (tombstones); a data category that is off is not written; `*/delete` removes the
row and its children; `app/uninstalled` → Reconnect required; `app/scopes_update` → re-check
health; `bulk_operations/finish` wakes the sync waiting on that operation; compliance topics
redact. A payload's `updated_at` orders it only up to when the delivery was triggered
(X-Shopify-Triggered-At) and received: one dated years ahead is stored and ordered as of then,
so it cannot make every later real update "stale" (`_bounded`). Everything here runs inside the
worker's transaction; side effects that must wait for
the commit (waking the sync, the runner) are queued on `ApplyContext.after_commit`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from peewee import Model

from engine.domain.coerce import as_dict, as_int, iso_utc, parse_time
from engine.domain.jobs import JobKind
from engine.domain.status import ENTITY_CATEGORY, Entity
from engine.jobs import wakeups
from engine.jobs.queue import cancel_store_jobs, enqueue, refresh_status_and_syncs
from engine.persistence.database import execute_many
from engine.persistence.models import (
    RECORD_MODELS,
    Collection,
    CollectionMembership,
    Customer,
    EntitySync,
    Order,
    OrderLineItem,
    Product,
    ProductVariant,
    Store,
    database,
    utcnow,
)
from engine.persistence.records import record_event, refresh_status
from engine.persistence.sql import upsert_sql, where_sql
from engine.webhooks.confirm import Install
from engine.webhooks.context import ApplyContext, Outcome
from engine.webhooks.rows import (
    collection_row,
    customer_row,
    line_item_rows,
    order_row,
    product_row,
    variant_rows,
)

log = logging.getLogger("shopsync.webhooks")

UNINSTALLED_REASON = "App uninstalled in Shopify"
# An app/uninstalled triggered this long before the subscriptions were (re)created belongs to
# an earlier installation (a late retry after a reconnect); slack covers whole-second stamps.
UNINSTALL_SLACK = timedelta(seconds=2)

UPSERT, DELETE = "upsert", "delete"
ENTITY_TOPICS: dict[str, tuple[str, str]] = {
    "customers/create": ("customers", UPSERT),
    "customers/update": ("customers", UPSERT),
    "customers/enable": ("customers", UPSERT),
    "customers/disable": ("customers", UPSERT),
    "customers/delete": ("customers", DELETE),
    "orders/create": ("orders", UPSERT),
    "orders/updated": ("orders", UPSERT),
    "orders/paid": ("orders", UPSERT),
    "orders/cancelled": ("orders", UPSERT),
    "orders/fulfilled": ("orders", UPSERT),
    "orders/partially_fulfilled": ("orders", UPSERT),
    "orders/delete": ("orders", DELETE),
    "products/create": ("products", UPSERT),
    "products/update": ("products", UPSERT),
    "products/delete": ("products", DELETE),
    "collections/create": ("collections", UPSERT),
    "collections/update": ("collections", UPSERT),
    "collections/delete": ("collections", DELETE),
}
COMPLIANCE_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")
LIFECYCLE_TOPICS = ("app/uninstalled", "app/scopes_update", "bulk_operations/finish")
# Topics that act only once Shopify confirms the app is uninstalled (engine.webhooks.confirm).
CONFIRMED_TOPICS = frozenset(("app/uninstalled", "shop/redact"))
# The status of a destructive delivery Shopify did not confirm: not a dedupe original, so the
# same body delivered again later (once it is true) is applied.
UNCONFIRMED = "unconfirmed"
NOT_CONFIRMED = "not confirmed: Shopify still accepts the store's access token"

MODELS: dict[str, type[Model]] = {
    "customers": Customer, "orders": Order, "products": Product, "collections": Collection,
}
KEY = ("store_id", "shopify_id")
# Child rows a payload carries in full (replaced on every upsert): table, parent id column.
CHILDREN: dict[str, tuple[type[Model], str]] = {
    "orders": (OrderLineItem, "order_id"), "products": (ProductVariant, "product_id"),
}
# Rows that go when their parent is deleted.
DEPENDENTS: dict[str, tuple[tuple[type[Model], str], ...]] = {
    "customers": (),
    "orders": ((OrderLineItem, "order_id"),),
    "products": ((ProductVariant, "product_id"), (CollectionMembership, "product_id")),
    "collections": ((CollectionMembership, "collection_id"),),
}
CUSTOMER_PERSONAL = (
    "first_name", "last_name", "email", "phone", "address1", "address2", "city", "province",
    "country", "country_code", "zip",
)
EMAIL_CONSENT = ("email_marketing_state", "email_opt_in_level", "email_consent_updated_at")
SMS_CONSENT = ("sms_marketing_state", "sms_opt_in_level", "sms_consent_updated_at")


# -- dispatch -----------------------------------------------------------------------------------

def apply(
    ctx: ApplyContext,
    store: Store,
    topic: str,
    payload: dict[str, Any],
    triggered_at: datetime | None,
) -> Outcome:
    """Apply one delivery for a known store; raises on a database error (→ "failed")."""
    now = datetime.now(UTC)  # at or after the receive time
    if triggered_at is not None and triggered_at > now:  # the header is not signed
        triggered_at = now
    if topic in ENTITY_TOPICS:
        entity, action = ENTITY_TOPICS[topic]
        if store.paused:
            return Outcome("ignored", "store disconnected", _label(entity, payload))
        if store.needs_reauth:
            return Outcome("ignored", "reconnect required", _label(entity, payload))
        category = ENTITY_CATEGORY[Entity(entity)]
        if not getattr(store, f"cat_{category.value}"):
            return Outcome("ignored", "category off", _label(entity, payload))
        if action == DELETE:
            return _delete(ctx, store, entity, payload, triggered_at)
        return _upsert(ctx, store, entity, payload, triggered_at)
    match topic:
        case "app/uninstalled":
            return _uninstalled(ctx, store, triggered_at)
        case "app/scopes_update":
            return _scopes_update(ctx, store, payload)
        case "bulk_operations/finish":
            return _bulk_finish(ctx, store, payload)
        case "customers/data_request":
            return _data_request(store, payload)
        case "customers/redact":
            return _customer_redact(store, payload)
        case "shop/redact":
            return _shop_redact(ctx, store)
    return Outcome("ignored", "unhandled topic")


def _label(entity: str, payload: dict[str, Any]) -> str | None:
    if entity == "orders" and isinstance(payload.get("name"), str):
        return payload["name"]
    record_id = as_int(payload.get("id"))
    return None if record_id is None else str(record_id)


def _upsert(ctx: ApplyContext, store: Store, entity: str, p: dict[str, Any],
            triggered_at: datetime | None) -> Outcome:
    label = _label(entity, p)
    record_id = as_int(p.get("id"))
    if record_id is None:
        return Outcome("ignored", "no id in payload", label)
    model = MODELS[entity]
    row = {
        "customers": customer_row, "orders": order_row,
        "products": product_row, "collections": collection_row,
    }[entity](p)
    # As engine.sync.importer: consent is stored only while its category is on.
    if entity == "customers":
        if not store.cat_email_consent:
            row.update(dict.fromkeys(EMAIL_CONSENT))
        if not store.cat_sms_consent:
            row.update(dict.fromkeys(SMS_CONSENT))
    incoming, ahead = _bounded(parse_time(row.get("updated_at")), triggered_at)
    if ahead:
        row["updated_at"] = iso_utc(incoming.isoformat()) if incoming else None
    table = model._meta.table_name
    existing = database.execute_sql(
        where_sql("SELECT", table, ("updated_at",), KEY, database.param), (store.id, record_id)
    ).fetchone()
    key = (store.id, entity, record_id)
    if existing is not None:
        stored, _ = _bounded(parse_time(existing[0]), None)  # one stored before the bound
        if incoming is not None and stored is not None and (
            incoming < stored or (incoming == stored and ctx.triggered_later(key, triggered_at))
        ):
            return Outcome("ignored", "stale", label)
    else:
        deleted_at = ctx.deleted_at(key)
        if deleted_at is not None and (incoming is None or incoming <= deleted_at):
            return Outcome("ignored", "deleted", label)
    run_id = ctx.run_id(store.id, entity)
    # changed_run is engine.sync.importer's bookkeeping of its own runs: 0 for a webhook's new row,
    # and never touched on update.
    database.execute_sql(
        upsert_sql(table, (*KEY, *row, "seen_run", "changed_run"), KEY, database.param,
                   keep=("changed_run",)),
        (store.id, record_id, *row.values(), run_id, 0),
    )
    ctx.remember(key, triggered_at)
    if existing is None:
        ctx.count(store.id, entity, 1)
    children = CHILDREN.get(entity)
    if children is not None:
        child, parent_column = children
        rows = (line_item_rows if entity == "orders" else variant_rows)(p, record_id)
        _replace_children(child._meta.table_name, parent_column, store.id, record_id, rows,
                          run_id)
    return Outcome("applied", AHEAD if ahead else None, label,
                   level="warning" if ahead else "info")


AHEAD = "updated_at is ahead of the delivery: ordered as of when it was triggered"


def _bounded(updated_at: datetime | None, triggered_at: datetime | None
             ) -> tuple[datetime | None, bool]:
    """`updated_at` no later than the delivery's triggered-at and than now (a change cannot
    be dated after Shopify sent it, nor after it arrived); and whether it had to be bounded."""
    if updated_at is None:
        return None, False
    limit = datetime.now(UTC)
    if triggered_at is not None and triggered_at < limit:
        limit = triggered_at
    limit = limit.replace(microsecond=0)  # the stored stamps are whole seconds
    return (limit, True) if updated_at > limit else (updated_at, False)


def _replace_children(table: str, parent_column: str, store_id: int, parent_id: int,
                      rows: list[dict[str, Any]], run_id: int) -> None:
    _delete_where(table, ("store_id", parent_column), (store_id, parent_id))
    if rows:
        full = [{"store_id": store_id, **row, "seen_run": run_id} for row in rows]
        columns = tuple(full[0])
        execute_many(
            upsert_sql(table, columns, KEY, database.param),
            [tuple(r[c] for c in columns) for r in full],
        )


def delete_sql(table: str, keys: tuple[str, ...]) -> str:
    """DELETE … WHERE every key = ?. Every (store_id, parent id) pair used here is the prefix
    of an index (e.g. order_line_item (store_id, order_id)), so each is an index search; keeping
    store_id off the plan (`+store_id`) scanned the whole table once per delivery."""
    return where_sql("DELETE", table, (), keys, database.param)


def _delete_where(table: str, keys: tuple[str, ...], values: tuple[Any, ...]) -> int:
    cursor = database.execute_sql(delete_sql(table, keys), values)
    return max(cursor.rowcount, 0)


def _delete(
    ctx: ApplyContext, store: Store, entity: str, p: dict[str, Any],
    triggered_at: datetime | None,
) -> Outcome:
    label = _label(entity, p)
    record_id = as_int(p.get("id"))
    if record_id is None:
        return Outcome("ignored", "no id in payload", label)
    removed = _delete_where(MODELS[entity]._meta.table_name, KEY, (store.id, record_id))
    for model, column in DEPENDENTS[entity]:
        _delete_where(model._meta.table_name, ("store_id", column), (store.id, record_id))
    ctx.tombstone((store.id, entity, record_id), triggered_at or datetime.now(UTC))
    ctx.count(store.id, entity, -removed)
    return Outcome("applied", None if removed else "not present", label)


# -- lifecycle topics ---------------------------------------------------------------------------

def _uninstalled(ctx: ApplyContext, store: Store, triggered_at: datetime | None) -> Outcome:
    install = ctx.installs.get(store.id, Install.UNKNOWN)
    if install is Install.ACTIVE:
        return Outcome(UNCONFIRMED, NOT_CONFIRMED, level="warning")
    registered = store.webhooks_registered_at
    if (
        triggered_at is not None and registered is not None and not store.needs_reauth
        and triggered_at < registered.replace(tzinfo=UTC) - UNINSTALL_SLACK
    ):
        return Outcome("ignored", "stale: before the current installation")
    Store.update(
        needs_reauth=True, reauth_reason=UNINSTALLED_REASON, webhook_topics="",
        updated_at=utcnow(),
    ).where(Store.id == store.id).execute()
    cancelled = cancel_store_jobs(store.id)
    refresh_status(store.id)
    details = [f"{cancelled} queued jobs cancelled" if cancelled else None,
               "Shopify confirms" if install is Install.REVOKED else None]
    return Outcome("applied", "; ".join(d for d in details if d) or None, level="warning")


def _scopes_update(ctx: ApplyContext, store: Store, p: dict[str, Any]) -> Outcome:
    current = p.get("current")
    if isinstance(current, list) and all(isinstance(s, str) for s in current):
        Store.update(granted_scopes=",".join(current), updated_at=utcnow()).where(
            Store.id == store.id
        ).execute()
        refresh_status_and_syncs(store.id)
    if not store.paused and not store.deleting:
        enqueue(JobKind.HEALTH, store)
        if ctx.notify is not None:
            ctx.after_commit.append(ctx.notify)
    return Outcome("applied", "health check queued")


def _bulk_finish(ctx: ApplyContext, store: Store, p: dict[str, Any]) -> Outcome:
    operation = p.get("admin_graphql_api_id")
    sync = None
    if isinstance(operation, str):
        sync = EntitySync.get_or_none(
            (EntitySync.store == store.id) & (EntitySync.bulk_operation_id == operation)
        )
    entity = sync.entity if sync is not None else None
    store_id = store.id

    def wake() -> None:
        wakeups.wake(store_id, entity)

    ctx.after_commit.append(wake)
    status = p.get("status")
    return Outcome("applied", f"{entity or 'no waiting sync'}: {status}", entity)


# -- compliance topics --------------------------------------------------------------------------

def _id_list(value: object) -> list[int]:
    if not isinstance(value, list):
        return []
    return [i for i in (as_int(v) for v in value) if i is not None]


def _data_request(store: Store, p: dict[str, Any]) -> Outcome:
    customer_id = as_int(as_dict(p.get("customer")).get("id"))
    orders = _id_list(p.get("orders_requested"))
    request_id = as_int(as_dict(p.get("data_request")).get("id"))
    listed = ", ".join(str(o) for o in orders) or "none"
    record_event(
        store, "webhook",
        f"Customer data request: customer {customer_id}, orders {listed}",
        level="warning",
        data={"customer_id": customer_id, "orders_requested": orders,
              "data_request_id": request_id},
    )
    return Outcome("applied", "recorded for the operator", f"customer {customer_id}")


def _customer_redact(store: Store, p: dict[str, Any]) -> Outcome:
    customer_id = as_int(as_dict(p.get("customer")).get("id"))
    orders = _id_list(p.get("orders_to_redact"))
    erased = 0
    if customer_id is not None:
        erased = Customer.update(**dict.fromkeys(CUSTOMER_PERSONAL)).where(
            (Customer.store == store.id) & (Customer.shopify_id == customer_id)
        ).execute()
    redacted_orders = 0
    for start in range(0, len(orders), 500):
        redacted_orders += Order.update(email=None).where(
            (Order.store == store.id) & Order.shopify_id.in_(orders[start:start + 500])
        ).execute()
    record_event(
        store, "webhook",
        f"Customer {customer_id} redacted: personal fields erased"
        f" ({erased} customer, {redacted_orders} orders)",
        data={"customer_id": customer_id, "orders_to_redact": orders},
    )
    return Outcome("applied", f"{erased} customer, {redacted_orders} orders erased",
                   f"customer {customer_id}")


def _shop_redact(ctx: ApplyContext, store: Store) -> Outcome:
    install = ctx.installs.get(store.id, Install.UNKNOWN)
    if install is Install.ACTIVE:
        return Outcome(UNCONFIRMED, NOT_CONFIRMED + "; no data deleted", level="warning")
    if install is Install.UNKNOWN and store.token_enc and not store.needs_reauth:
        # Installed as far as shopsync knows, and Shopify did not answer: keep the data.
        return Outcome(UNCONFIRMED, "not confirmed: Shopify did not answer; no data deleted",
                       level="warning")
    removed = 0
    for model in RECORD_MODELS:
        removed += model.delete().where(model.store == store.id).execute()
    EntitySync.update(records=0, done=0).where(EntitySync.store == store.id).execute()
    record_event(store, "webhook", f"Shop redacted: {removed:,} records deleted",
                 level="warning", data={"removed": removed})
    return Outcome("applied", f"{removed} records deleted", level="warning")
