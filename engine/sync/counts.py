"""The count check: do the local records still match Shopify?

Shopify's own counts (customersCount, ordersCount, productsCount, collectionsCount, exact: no
limit) are compared with the local record count of every enabled entity. The verdict is the
sixth readiness item, "Records match Shopify"; an entity whose records do not match makes the
store Error through the status rule (engine.domain.status.derive_status reads the item's
`entities`, `records_mismatch_of`) until a later check finds them matching again.

When it runs: in every health check (engine.lifecycle.health), after every successful full sync
(engine.sync.job: a full sync repairs drift, and the check right after it clears the Error), and
on a schedule (engine.sync.scheduler queues a "counts" job every SHOPSYNC_COUNT_CHECK_INTERVAL,
default one hour, counted from the store's last check of any kind).

Tolerance — the difference in-flight webhooks explain. A change made in Shopify reaches the
local copy by webhook a few seconds later, so a check taken meanwhile sees a difference that is
no drift. Per entity, the slack is the number of that entity's webhook deliveries (topics
`customers/…`, `orders/…`, …) received in the last SLACK_WINDOW (5 minutes) or still waiting to
be applied; the records match when |local − Shopify| ≤ slack. A quiet entity (no deliveries in
five minutes: every change has long arrived) must match exactly. Records missed while webhooks
were lost leave a difference that stays once the traffic quietens, and the next check flags it.

What is compared, and what is skipped (the item is `{"ok": None, "detail": "Not checked: …"}`
when nothing is): nothing before the store's initial sync completed; an entity whose category is
off; an entity currently Syncing (its records are moving; it keeps its previous verdict); an
entity that never finished a full sync; a count Shopify gives only as a lower bound (precision
AT_LEAST). A check whose counts could not be read (Shopify unreachable, the token refused)
changes nothing: the previous verdict stands.

Per entity, the last check is kept on its row (`EntitySync.count_check`: here, shopify,
previous_shopify, previous_at, changed, slack, mismatch, at; typed and indexed for the
fleet-wide reads: `count_drift`, local − Shopify while mismatched, and `count_moved_at`), so
consecutive checks can be compared (Shopify's count moved while that entity's webhooks stayed
silent: engine.lifecycle.diagnosis) and /metrics can report the difference.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.credentials import open_client
from engine.domain.status import (
    COUNTS_NOT_CHECKED_INITIAL,
    RECORDS_MISMATCH,
    Check,
    Entity,
    EntityState,
    count_text,
    enabled_entities,
    records_mismatch_of,
)
from engine.jobs.queue import refresh_status_and_syncs
from engine.persistence import counters as metrics
from engine.persistence.database import write_transaction
from engine.persistence.models import EntitySync, Store, WebhookReceipt, utcnow
from engine.persistence.reads import categories_of
from engine.persistence.records import record_event
from engine.persistence.runtime import Runtime
from engine.shopify.client import ShopifyClient
from engine.shopify.documents import counts_query
from engine.shopify.errors import ShopifyError
from engine.sync.importer import count_rows
from engine.sync.rows import ENTITY_TABLES

log = logging.getLogger("shopsync.counts")

SLACK_WINDOW = timedelta(minutes=5)
NOTHING_TO_COMPARE = "Not checked: no entity to compare (each is off, syncing or not yet synced)"
COUNTS_UNREAD = "Not checked: Shopify's counts could not be read"
MATCH_AGAIN = "Records match Shopify again"
# Deliveries that are no change of a record: dropped copies and refused requests.
_NOT_CHANGES = ("duplicate", "rejected")

Item = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EntityCount:
    """One entity's reading: local rows, Shopify's count, and the in-flight slack."""

    entity: Entity
    here: int
    shopify: int
    slack: int

    @property
    def difference(self) -> int:
        return self.here - self.shopify

    @property
    def mismatch(self) -> bool:
        return abs(self.difference) > self.slack

    @property
    def text(self) -> str:
        return count_text(self.entity, self.here, self.shopify)


# -- what to compare (blocking) --------------------------------------------------------------------

def comparable(store: Store) -> list[Entity] | str:
    """The entities to count now, or the "Not checked: …" reason when there are none."""
    if store.initial_sync_completed_at is None:
        return COUNTS_NOT_CHECKED_INITIAL
    rows = {s.entity: s for s in EntitySync.select().where(EntitySync.store == store.id)}
    entities = [
        entity for entity in enabled_entities(categories_of(store))
        if (row := rows.get(entity.value)) is not None and row.full_synced_at is not None
        and row.state != EntityState.SYNCING.value
    ]
    return entities or NOTHING_TO_COMPARE


# -- Shopify's side (async) ------------------------------------------------------------------------

async def read_counts(client: ShopifyClient, entities: list[Entity]) -> dict[Entity, int]:
    """Shopify's exact count of each entity; a lower bound (AT_LEAST) is left out. Raises
    ShopifyError when Shopify cannot answer."""
    found: dict[Entity, int] = {}
    if not entities:
        return found
    data = await client.graphql(counts_query([entity.value for entity in entities]))
    for entity in entities:
        node = data.get(f"{entity.value}Count") or {}
        count = node.get("count") if isinstance(node, dict) else None
        if isinstance(count, int) and node.get("precision", "EXACT") == "EXACT":
            found[entity] = count
    return found


# -- the verdict (blocking) ----------------------------------------------------------------------

def _slack(store_id: int, now: datetime) -> dict[str, int]:
    """Per entity value: deliveries received within SLACK_WINDOW or still waiting to apply."""
    rows = WebhookReceipt.select(WebhookReceipt.topic).where(
        (WebhookReceipt.store_id == store_id)
        & ((WebhookReceipt.received_at >= now - SLACK_WINDOW)
           | (WebhookReceipt.status == "received"))
        & WebhookReceipt.status.not_in(_NOT_CHANGES)
    ).tuples()
    slack: dict[str, int] = {}
    for (topic,) in rows.iterator():
        head = str(topic).partition("/")[0]
        slack[head] = slack.get(head, 0) + 1
    return slack


def readiness_item(mismatched: dict[str, str], compared: bool) -> Item:
    """The stored readiness item: ok, the detail every surface shows, the failing entities."""
    if mismatched:
        ordered = [mismatched[e.value] for e in Entity if e.value in mismatched]
        return {"ok": False, "detail": "; ".join(ordered), "entities": dict(mismatched)}
    return {"ok": True, "detail": None} if compared else {"ok": None, "detail": None}


def apply_counts(store: Store, shopify: dict[Entity, int] | str | None,
                 now: datetime) -> Item:
    """Compare and store one reading inside the caller's write transaction; returns the new
    readiness item (the caller stores it on `store.readiness`).

    `shopify`: Shopify's counts; a "Not checked: …" reason when nothing was to be compared; None
    when the counts could not be read (the previous verdict stands)."""
    previous = (store.readiness or {}).get(Check.RECORDS_MATCH.value)
    previous = previous if isinstance(previous, dict) else None
    if shopify is None:
        return previous if previous and previous.get("ok") is not None else {
            "ok": None, "detail": COUNTS_UNREAD}
    if isinstance(shopify, str):
        return {"ok": None, "detail": shopify}
    # Entities not compared this time (syncing, AT_LEAST) keep their verdict while enabled.
    enabled = {e.value for e in enabled_entities(categories_of(store))}
    kept = (previous or {}).get("entities") or {}
    mismatched = {e: str(text) for e, text in kept.items()
                  if e in enabled and Entity(e) not in shopify} if isinstance(kept, dict) else {}
    slack = _slack(store.id, now) if shopify else {}
    rows = {s.entity: s for s in EntitySync.select().where(EntitySync.store == store.id)}
    for entity, count in shopify.items():
        reading = EntityCount(entity, count_rows(store.id, ENTITY_TABLES[entity.value][0]),
                              count, slack.get(entity.value, 0))
        row = rows.get(entity.value)
        if row is not None:
            last = row.count_check if isinstance(row.count_check, dict) else {}
            before = last.get("shopify")
            moved = isinstance(before, int) and before != reading.shopify
            EntitySync.update(
                count_drift=reading.difference if reading.mismatch else None,
                count_moved_at=now if moved else None,
                count_check={
                    "here": reading.here, "shopify": reading.shopify,
                    "previous_shopify": before, "previous_at": last.get("at"),
                    # Shopify's count moved since the previous check (silent webhooks).
                    "changed": moved,
                    "slack": reading.slack, "mismatch": reading.mismatch,
                    "at": now.isoformat(timespec="seconds"),
                }).where(EntitySync.id == row.id).execute()
        if reading.mismatch:
            mismatched[entity.value] = reading.text
    item = readiness_item(mismatched, compared=bool(shopify) or bool(mismatched))
    if not shopify and not mismatched:
        item = {"ok": None, "detail": NOTHING_TO_COMPARE}
    was = previous.get("ok") if previous else None
    was_detail = previous.get("detail") if previous else None
    if item["ok"] is False and (was is not False or was_detail != item["detail"]):
        record_event(store, "health", f"{RECORDS_MISMATCH}: {item['detail']}", level="error",
                     data={"entities": item["entities"]})
    elif item["ok"] is True and was is False:
        record_event(store, "health", MATCH_AGAIN)
    if shopify:
        metrics.incr("shopsync_count_checks_total",
                     outcome="mismatch" if item["ok"] is False else "match")
    return item


def drop_disabled(store_id: int) -> None:
    """A category switched off: its entities are no longer a mismatch, in the readiness item as
    in the status rule (which filters them itself), so the two never disagree."""
    with write_transaction():
        store = Store.get_or_none(Store.id == store_id)
        item = (store.readiness or {}).get(Check.RECORDS_MATCH.value) if store else None
        if store is None or not isinstance(item, dict) or item.get("ok") is not False:
            return
        kept = {e.value: text for e, text in records_mismatch_of(
            store.readiness, categories_of(store))}
        if kept == item.get("entities"):
            return
        dropped = [e for e in (item.get("entities") or {}) if e not in kept]
        EntitySync.update(count_drift=None).where(
            (EntitySync.store == store.id) & EntitySync.entity.in_(dropped)).execute()
        readiness = {**store.readiness,
                     Check.RECORDS_MATCH.value: readiness_item(kept, compared=True)}
        Store.update(readiness=readiness).where(Store.id == store.id).execute()


def record(store_id: int, shopify: dict[Entity, int] | str | None) -> Item | None:
    """A standalone check's outcome (the counts job, after a full sync): store the item, stamp
    `counts_checked_at`, refresh the status. None when the store is gone or being deleted."""
    with write_transaction():
        store = Store.get_or_none(Store.id == store_id)
        if store is None or store.deleting:
            return None
        now = utcnow()
        item = apply_counts(store, shopify, now)
        readiness = {**(store.readiness or {}), Check.RECORDS_MATCH.value: item}
        Store.update(readiness=readiness, counts_checked_at=now, updated_at=now).where(
            Store.id == store.id).execute()
        refresh_status_and_syncs(store.id)
    return item


async def check_counts(runtime: Runtime, store_id: int,
                       client: ShopifyClient | None = None) -> Item | None:
    """Count one store now (its own client unless given one); never raises for Shopify's
    errors: a check that cannot read the counts leaves the previous verdict standing."""
    store = await asyncio.to_thread(Store.get_or_none, Store.id == store_id)
    if store is None or store.deleting:
        return None
    plan = await asyncio.to_thread(comparable, store)
    shopify: dict[Entity, int] | str | None = plan if isinstance(plan, str) else None
    if isinstance(plan, list):
        try:
            if client is not None:
                shopify = await read_counts(client, plan)
            else:
                async with open_client(runtime, store) as own:
                    shopify = await read_counts(own, plan)
        except ShopifyError as error:
            log.info("count check of %s: counts not read: %s", store.domain, error)
            shopify = None
    return await asyncio.to_thread(record, store_id, shopify)
