"""One shop's records: the generated `Dataset` plus small override dicts, iterated in order.

Records created, updated or deleted through the control API live in `Overrides` (one per entity);
everything else is generated on the fly. `Records.iterate` merges the two in `ID` or `UPDATED_AT`
order, seeks cursors and `updated_at` bounds by binary search over generated indices, and never
holds more than one generated record at a time. `snapshot()` copies only the overrides, so a bulk
export can stream from a worker thread while the event loop keeps changing the live shop.
`paginate` turns any seekable source into a Relay connection page.
"""

from __future__ import annotations

import base64
import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.simulator.common import ENTITIES, TYPENAMES, gid, parse_gid, parse_iso, stamp
from engine.simulator.data import ID_BASE, Dataset

Key = tuple[int, int]
Source = Callable[[bool, Any], Iterator[tuple[Any, Any]]]
STUB_FIELDS = frozenset({"__typename", "id", "legacyResourceId", "updatedAt"})


@dataclass
class Overrides:
    """Changed (updated or created) records by numeric id, with their updatedAt epochs."""

    changed: dict[int, dict[str, Any]] = field(default_factory=dict)
    changed_ts: dict[int, int] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    next_index: int = 0

    def copy(self) -> Overrides:
        return Overrides(dict(self.changed), dict(self.changed_ts), set(self.deleted),
                         self.next_index)


@dataclass
class Bounds:
    """An `updated_at` window as integer epoch seconds: lo <= ts < hi (None = open)."""

    lo: int | None = None
    hi: int | None = None

    def contains(self, ts: int) -> bool:
        return (self.lo is None or ts >= self.lo) and (self.hi is None or ts < self.hi)


class Records:
    """The records of one shop (live, or a frozen snapshot of the overrides)."""

    def __init__(self, dataset: Dataset, overrides: dict[str, Overrides] | None = None,
                 live: bool = True) -> None:
        self.data = dataset
        if live:
            dataset.src = self
        self.over = overrides or {
            e: Overrides(next_index=dataset.counts.get(e, 0)) for e in ENTITIES
        }

    def snapshot(self) -> Records:
        return Records(self.data, {e: o.copy() for e, o in self.over.items()}, live=False)

    # ---------------------------------------------------------------- single records

    def count(self, entity: str) -> int:
        n = self.data.counts.get(entity, 0)
        over = self.over[entity]
        base = ID_BASE[TYPENAMES[entity]]
        created = sum(1 for k in over.changed if k - base - 1 >= n)
        removed = sum(1 for k in over.deleted if k - base - 1 < n)
        return n - removed + created

    def get(self, entity: str, numeric: int) -> dict[str, Any] | None:
        over = self.over[entity]
        if numeric in over.deleted:
            return None
        if numeric in over.changed:
            return over.changed[numeric]
        index = Dataset.index_of(TYPENAMES[entity], numeric)
        if index is None or index >= self.data.counts.get(entity, 0):
            return None
        return self._finish(entity, self.data.record(entity, index))

    def lookup(self, typename: str, global_id: str) -> dict[str, Any] | None:
        parsed = parse_gid(global_id)
        if parsed is None or parsed[0] != typename:
            return None
        numeric = parsed[1]
        if typename in ("ProductVariant", "LineItem"):
            parent_type, entity, per, child = (
                ("Product", "products", 3, "variants") if typename == "ProductVariant"
                else ("Order", "orders", 4, "lineItems")
            )
            offset = numeric - ID_BASE[typename] - 1
            if offset < 0:
                return None
            parent = self.get(entity, ID_BASE[parent_type] + offset // per + 1)
            for node in parent[child] if parent else ():
                if node["id"] == global_id:
                    return node
            return None
        named = {v: k for k, v in TYPENAMES.items()}.get(typename)
        return self.get(named, numeric) if named else None

    def _finish(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        """Drop references to deleted products/collections from a generated record."""
        if entity == "collections" and self.over["products"].deleted:
            gone = {gid("Product", n) for n in self.over["products"].deleted}
            record["products"] = [p for p in record["products"] if p["id"] not in gone]
            record["productsCount"] = {"count": len(record["products"]), "precision": "EXACT"}
        elif entity == "products" and self.over["collections"].deleted:
            gone = {gid("Collection", n) for n in self.over["collections"].deleted}
            record["collections"] = [c for c in record["collections"] if c["id"] not in gone]
        return record

    # ---------------------------------------------------------------- writes (live only)

    def new_record(self, entity: str) -> dict[str, Any]:
        over = self.over[entity]
        index = max(over.next_index, self.data.counts.get(entity, 0))
        over.next_index = index + 1
        return self.data.record(entity, index)

    def put(self, entity: str, record: dict[str, Any]) -> None:
        numeric = int(record["legacyResourceId"])
        over = self.over[entity]
        over.deleted.discard(numeric)
        over.changed[numeric] = record
        over.changed_ts[numeric] = int(parse_iso(record["updatedAt"]))

    def delete(self, entity: str, numeric: int) -> bool:
        if self.get(entity, numeric) is None:
            return False
        over = self.over[entity]
        over.changed.pop(numeric, None)
        over.changed_ts.pop(numeric, None)
        over.deleted.add(numeric)
        return True

    # ---------------------------------------------------------------- ordered iteration

    def ids(self, entity: str) -> Iterator[int]:
        """Every live numeric id in ascending order, without building records."""
        n = self.data.counts.get(entity, 0)
        base = ID_BASE[TYPENAMES[entity]] + 1
        deleted = self.over[entity].deleted
        for i in range(n):
            if base + i not in deleted:
                yield base + i
        yield from sorted(k for k in self.over[entity].changed if k - base >= n)

    def iterate(self, entity: str, *, by_updated: bool, reverse: bool = False,
                after: Key | None = None, bounds: Bounds | None = None,
                fields: frozenset[str] | None = None) -> Iterator[tuple[Key, dict[str, Any]]]:
        """(key, record) in (updatedAt, id) or (0, id) order; `after` is exclusive.

        `fields`, when every requested field is in STUB_FIELDS, lets generated records be
        built as stubs (the cheap path for id-only exports).
        """
        bounds = bounds or Bounds()
        generated = self._generated(entity, by_updated, reverse, after, bounds, fields)
        over = self.over[entity]
        extra: list[tuple[Key, dict[str, Any]]] = []
        for numeric, record in over.changed.items():
            ts = over.changed_ts[numeric]
            key = (ts if by_updated else 0, numeric)
            if not bounds.contains(ts):
                continue
            if after is not None and (key <= after if not reverse else key >= after):
                continue
            extra.append((key, record))
        if not extra:
            yield from generated
            return
        extra.sort(key=lambda kv: kv[0], reverse=reverse)
        yield from heapq.merge(generated, extra, key=lambda kv: kv[0], reverse=reverse)

    def _generated(self, entity: str, by_updated: bool, reverse: bool, after: Key | None,
                   bounds: Bounds, fields: frozenset[str] | None
                   ) -> Iterator[tuple[Key, dict[str, Any]]]:
        data = self.data
        typename = TYPENAMES[entity]
        n = data.counts.get(entity, 0)
        base = ID_BASE[typename] + 1
        lo = 0 if bounds.lo is None else data.first_index_at_or_after(typename, bounds.lo)
        hi = n if bounds.hi is None else data.first_index_at_or_after(typename, bounds.hi)
        if after is not None:
            if by_updated:
                seek = bisect_right if not reverse else bisect_left
                cut = seek(range(n), after,
                           key=lambda i: (data.updated_ts(typename, i), base + i))
            else:
                cut = after[1] - base + (1 if not reverse else 0)
            if not reverse:
                lo = max(lo, cut)
            else:
                hi = min(hi, cut)
        over = self.over[entity]
        skip = set(over.changed) | over.deleted
        indices = range(lo, hi) if not reverse else range(hi - 1, lo - 1, -1)
        stub = fields is not None and fields <= STUB_FIELDS
        updated_ts = data.updated_ts
        make = data.record
        finish = self._finish if self._needs_finish(entity) else None
        for i in indices:
            numeric = base + i
            if skip and numeric in skip:
                continue
            ts = updated_ts(typename, i)
            if stub:
                record: dict[str, Any] = {
                    "__typename": typename, "id": f"gid://shopify/{typename}/{numeric}",
                    "legacyResourceId": str(numeric), "updatedAt": stamp(ts),
                }
            else:
                record = make(entity, i)
                if finish is not None:
                    record = finish(entity, record)
            yield (ts if by_updated else 0, numeric), record

    def _needs_finish(self, entity: str) -> bool:
        return (entity == "collections" and bool(self.over["products"].deleted)) or (
            entity == "products" and bool(self.over["collections"].deleted)
        )


# -------------------------------------------------------------------- cursors and pages


def encode_cursor(key: Any) -> str:
    raw = orjson.dumps({"last_id": key[1], "last_value": key[0]} if isinstance(key, tuple)
                       else {"last_id": key})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, keyed: bool) -> Any:
    """The key encoded by `encode_cursor`; raises ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = orjson.loads(raw)
        if keyed:
            return (int(value["last_value"]), int(value["last_id"]))
        return int(value["last_id"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise ValueError(f"Invalid cursor: {cursor!r}") from None


@dataclass
class Page:
    items: list[tuple[Any, Any]]
    has_next: bool
    has_previous: bool


def paginate(source: Source, *, first: int | None, after: Any, last: int | None,
             before: Any, reverse: bool) -> Page:
    """A Relay page of `source(reverse, after_key)`; `after`/`before` are decoded keys."""

    def ahead(key: Any, bound: Any) -> bool:
        return key > bound if not reverse else key < bound

    if last is None or first is not None:
        size = first if first is not None else 0
        items: list[tuple[Any, Any]] = []
        for key, item in source(reverse, after):
            if before is not None and not ahead(before, key):
                break
            items.append((key, item))
            if len(items) > size:
                break
        has_next = len(items) > size
        items = items[:size]
        anchor = items[0][0] if items else after
        has_previous = anchor is not None and next(source(not reverse, anchor), None) is not None
        return Page(items, has_next, has_previous)
    items = []
    for key, item in source(not reverse, before):
        if after is not None and not ahead(key, after):
            break
        items.append((key, item))
        if len(items) > last:
            break
    has_previous = len(items) > last
    items = items[:last][::-1]
    anchor = items[-1][0] if items else before
    has_next = anchor is not None and next(source(reverse, anchor), None) is not None
    return Page(items, has_next, has_previous)


def list_source(values: list[Any]) -> Source:
    """A seekable source over a list, keyed by position."""

    def source(reverse: bool, after: Any) -> Iterator[tuple[int, Any]]:
        if not reverse:
            start = 0 if after is None else after + 1
            for i in range(max(start, 0), len(values)):
                yield i, values[i]
        else:
            start = len(values) - 1 if after is None else after - 1
            for i in range(min(start, len(values) - 1), -1, -1):
                yield i, values[i]

    return source
