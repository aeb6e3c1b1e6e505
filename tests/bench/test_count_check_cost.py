"""What the count check costs where it runs for the whole fleet, and for one big store.

    python3 dev.py bench -k count_check_cost

On SQLite with 10,000 stores (every entity counted; 1 % of the stores with drifted customers
and 1 % whose Shopify order count moved): the diagnosis's extra read per Troubleshoot refresh
(`silent_changes`), the fleet gauges of /metrics and the per-store drift gauge per scrape, and
one store's verdict (`counts.record`: the local COUNT(*)s, the in-flight slack and the writes)
with 100,000 customers. Targets: silent_changes under 20 ms, the gauges under 100 ms, one
verdict under 100 ms.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from engine.domain.status import ENTITY_ORDER, Check, Entity
from engine.lifecycle.diagnosis import silent_changes
from engine.lifecycle.subscriptions import ALL_TOPICS
from engine.persistence.database import write_transaction
from engine.persistence.models import EntitySync, Store, utcnow
from engine.serve import metrics
from engine.sync import counts
from tests.tui.factories import add_records

STORES = 10_000


def _fleet() -> None:
    now = utcnow()
    at = now.isoformat(timespec="seconds")
    before = (now - timedelta(hours=1)).isoformat(timespec="seconds")
    drift = "Customers: 250 here, 248 in Shopify"
    with write_transaction():
        stores = []
        for n in range(STORES):
            failing = n % 100 == 0
            readiness = {c.value: {"ok": True, "detail": None} for c in Check}
            if failing:
                readiness[Check.RECORDS_MATCH.value] = {
                    "ok": False, "detail": drift, "entities": {"customers": drift}}
            stores.append({"domain": f"bench-{n:05d}.myshopify.com", "name": f"Bench {n}",
                           "readiness": readiness, "webhook_topics": ",".join(ALL_TOPICS),
                           "initial_sync_completed_at": now})
        for chunk in range(0, STORES, 500):
            Store.insert_many(stores[chunk:chunk + 500]).execute()
        ids = [s.id for s in Store.select(Store.id).order_by(Store.id)]
        rows: list[dict[str, Any]] = []
        for n, store_id in enumerate(ids):
            for entity in ENTITY_ORDER:
                moved = entity is Entity.ORDERS and n % 100 == 1
                drifted = entity is Entity.CUSTOMERS and n % 100 == 0
                rows.append({"store": store_id, "entity": entity.value, "state": "synced",
                             "full_synced_at": now, "count_drift": 2 if drifted else None,
                             "count_moved_at": now if moved else None, "count_check": {
                                 "here": 250, "shopify": 248 if drifted else 250,
                                 "previous_shopify": 240 if moved else 250,
                                 "previous_at": before, "changed": moved, "slack": 0,
                                 "mismatch": drifted, "at": at}})
        for chunk in range(0, len(rows), 500):
            EntitySync.insert_many(rows[chunk:chunk + 500]).execute()


def _best(run: Any, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def test_count_check_cost(offline_runtime: Any) -> None:
    _fleet()
    now = utcnow()
    assert len(silent_changes(now)) == STORES // 100
    silent = _best(lambda: silent_changes(now))
    domains = dict(Store.select(Store.id, Store.domain).tuples())
    scrape = _best(lambda: (list(metrics._gauges()), list(metrics._drift_gauge(domains))))
    big = Store.create(domain="big.myshopify.com", initial_sync_completed_at=now)
    for entity in ENTITY_ORDER:
        EntitySync.create(store=big.id, entity=entity.value, state="synced", full_synced_at=now)
    add_records(big, Entity.CUSTOMERS, 100_000)
    readings = {e: 0 for e in ENTITY_ORDER} | {Entity.CUSTOMERS: 100_000}
    verdict = _best(lambda: counts.record(big.id, readings))
    print(f"\nsilent_changes over {STORES:,} stores: {silent * 1000:.1f} ms; /metrics gauges: "
          f"{scrape * 1000:.1f} ms; one verdict (100,000 customers): {verdict * 1000:.1f} ms")
    assert silent < 0.02
    assert scrape < 0.1
    assert verdict < 0.1
