"""Deterministic generation: same seed → same records; ids unique; updatedAt monotonic;
iteration is a stream (a million-order shop is never materialised)."""

from __future__ import annotations

import itertools
import tracemalloc

from engine.simulator.data import Dataset
from engine.simulator.store import Bounds, Records

COUNTS = {"customers": 300, "orders": 500, "products": 40, "collections": 4}


def test_same_seed_same_records() -> None:
    a, b = Dataset(11, COUNTS), Dataset(11, COUNTS)
    c = Dataset(12, COUNTS)
    for entity in COUNTS:
        for index in (0, 1, 17, COUNTS[entity] - 1):
            assert a.record(entity, index)["id"] == b.record(entity, index)["id"]
            assert str(a.record(entity, index)) == str(b.record(entity, index))
    assert [a.customer(i)["displayName"] for i in range(20)] != [
        c.customer(i)["displayName"] for i in range(20)]


def test_ids_unique_and_updated_at_monotonic() -> None:
    records = Records(Dataset(3, COUNTS))
    for entity in COUNTS:
        rows = list(records.iterate(entity, by_updated=True))
        ids = [r["id"] for _k, r in rows]
        assert len(ids) == len(set(ids)) == COUNTS[entity]
        stamps = [r["updatedAt"] for _k, r in rows]
        assert stamps == sorted(stamps)
    items = [li["id"] for _k, o in records.iterate("orders", by_updated=False)
             for li in o["lineItems"]]
    assert len(items) == len(set(items))
    variants = [v["id"] for _k, p in records.iterate("products", by_updated=False)
                for v in p["variants"]]
    assert len(variants) == len(set(variants))


def test_customer_fields() -> None:
    customer = Dataset(5, COUNTS).customer(3)
    assert customer["firstName"] and customer["lastName"]
    email = customer["defaultEmailAddress"]
    assert email["emailAddress"].endswith("@example.com") and email["marketingState"]
    assert customer["amountSpent"]["currencyCode"] == "USD"
    assert customer["numberOfOrders"].isdigit()


def test_child_counts_match_records() -> None:
    data = Dataset(9, COUNTS)
    for i in range(50):
        assert data.child_count("orders", i, "lineItems") == len(data.order(i)["lineItems"])
        product = data.product(i % 40)
        assert data.child_count("products", i % 40, "variants") == len(product["variants"])
    for j in range(4):
        assert data.child_count("collections", j, "products") == len(
            data.collection(j)["products"])


def test_million_order_shop_streams_without_materialising() -> None:
    records = Records(Dataset(1, {"orders": 1_000_000, "customers": 1000, "products": 100,
                                  "collections": 2}))
    tracemalloc.start()
    try:
        for _key, _order in itertools.islice(records.iterate("orders", by_updated=True), 3_000):
            pass
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 1024 * 1024
    stamp = records.data.updated_ts("Order", 999_000)
    tail = list(records.iterate("orders", by_updated=True, bounds=Bounds(lo=stamp)))
    assert len(tail) == 1000
