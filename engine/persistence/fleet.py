"""The fleet read: every store's summary in two queries, and what changed since a cursor.

`read_summaries()` reads the stores (with their active jobs folded in by a join) and their entity
rows as plain tuples — no model objects — and builds the frozen views of engine.domain.views.
A readiness blob or a store's check time seen twice is decoded once per read; an entity row's
run columns (progress_at, started_at, progress_info) are read only while it is Syncing, the one
state that shows them (rate, ETA, stuck detection).

The "changed since" read rests on `store_change`, an append-only log that database triggers
(engine.persistence.revisions) fill on every insert, update and delete of a store, an entity row
or a job, whoever the writer is. `changes_since(cursor)` returns the ids of the stores written
after the cursor, and a new cursor:

- SQLite has one writer at a time, so log ids commit in order: the cursor is the highest id read.
- PostgreSQL commits concurrent writers in any order, so ids are not enough. Each log row carries
  the id of the transaction that wrote it, and the cursor is the snapshot's xmin (every
  transaction below it has finished) taken *before* the log is read: the next read asks for
  rows at or above it again, so a transaction that commits late is never missed.

When the log was pruned past a cursor (see `prune_changes`) the answer is "read everything".
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from peewee import PostgresqlDatabase

from engine.domain.progress import SyncProgress
from engine.domain.status import (
    ENTITY_CATEGORY,
    ENTITY_ORDER,
    Category,
    Check,
    EntityState,
    Status,
)
from engine.domain.views import EntityRow, FleetSummary, ReadinessItem, StoreSummary
from engine.persistence.models import SchemaMeta, database, utcnow

PRUNED_KEY = "store_change_pruned"
CHANGE_RETENTION = timedelta(hours=1)

_CATEGORY_COLUMNS = tuple(f"cat_{category.value}" for category in Category)
_CATEGORY_INDEX = {category: index for index, category in enumerate(Category)}

# Active jobs per store, folded into the store query: "checking" = a health check is active.
_STORE_SQL = f"""
SELECT s.id, s.domain, s.name, s.status, s.status_detail, s.readiness, s.last_checked_at,
       s.initial_sync_completed_at, s.paused, s.deleting, {", ".join("s." + c for c in
                                                                     _CATEGORY_COLUMNS)},
       j.busy, j.checking
FROM store s
LEFT JOIN (
    SELECT store_id, COUNT(*) AS busy,
           MAX(CASE WHEN kind = 'health' THEN 1 ELSE 0 END) AS checking
    FROM job WHERE state IN ('queued', 'running') AND store_id IS NOT NULL
    GROUP BY store_id
) j ON j.store_id = s.id
"""
# progress_at, started_at and progress_info describe a running sync (its rate, ETA and stuck
# detection) and are read only while the entity is Syncing: for every other row they are
# stale leftovers of the last run, and decoding them would double the read's cost.
_SYNC_SQL = """
SELECT store_id, entity, state, records, done, total, last_synced_at, error,
       CASE WHEN state = 'syncing' THEN progress_at END,
       CASE WHEN state = 'syncing' THEN started_at END,
       CASE WHEN state = 'syncing' THEN progress_info END, full_failed_at,
       -- A Pending entity with a sync job queued or running is "Queued", else "Not started".
       CASE WHEN state = 'pending' THEN EXISTS (
           SELECT 1 FROM job j WHERE j.store_id = entity_sync.store_id
           AND j.entity = entity_sync.entity AND j.kind = 'sync'
           AND j.state IN ('queued', 'running')) ELSE FALSE END
FROM entity_sync
"""
_CHUNK = 500  # ids per IN (...) list


def _is_postgres() -> bool:
    return isinstance(database.obj, PostgresqlDatabase)


def _rows(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    return database.execute_sql(sql, params).fetchall()


def _in(ids: Sequence[int]) -> str:
    return "(" + ",".join("%s" if _is_postgres() else "?" for _ in ids) + ")"


class _Decoder:
    """Per-read caches: a timestamp string or a readiness blob seen twice is decoded once."""

    def __init__(self) -> None:
        self.times: dict[str, datetime] = {}
        self.readiness: dict[tuple[Any, bool], tuple[ReadinessItem, ...]] = {}

    def time(self, value: Any) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        moment = self.times.get(value)
        if moment is None:  # SQLite stores str(datetime); fromisoformat reads it in C
            moment = self.times[value] = datetime.fromisoformat(value)
        return moment

    def readiness_items(self, raw: Any, initial_sync_done: bool) -> tuple[ReadinessItem, ...]:
        key = (raw, initial_sync_done)
        items = self.readiness.get(key)
        if items is None:
            stored = orjson.loads(raw) if isinstance(raw, str | bytes) else (raw or {})
            built = []
            for check in Check:
                entry = stored.get(check.value) or {}
                ok, detail = entry.get("ok"), entry.get("detail")
                if check is Check.INITIAL_SYNC_COMPLETE and initial_sync_done:
                    ok, detail = True, None  # history is the truth, even between checks
                built.append(ReadinessItem(check, ok, detail))
            items = self.readiness[key] = tuple(built)
        return items


# Per entity, in display order: the entity, its name and the index of its category's column.
_ENTITY_SLOTS = tuple((entity, entity.value, _CATEGORY_INDEX[ENTITY_CATEGORY[entity]])
                      for entity in ENTITY_ORDER)
_PENDING = {entity: EntityRow(entity, EntityState.PENDING, 0) for entity in ENTITY_ORDER}
_FIRST_CATEGORY = 10  # column index of the first cat_* column in _STORE_SQL


@contextmanager
def _no_collection() -> Iterator[None]:
    """Pause the cyclic GC: a fleet read makes ~100,000 acyclic tuples, and the collections
    they would trigger cost a third of the read."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_summaries(ids: Sequence[int] | None = None) -> list[StoreSummary]:
    """Summaries of every store (by name, then domain), or of the stores in `ids`."""
    with _no_collection():
        return _read_summaries(ids)


def first_summaries(limit: int) -> list[StoreSummary]:
    """The first `limit` stores in the fleet's order: a screenful to show while the rest is
    read. (SQL's LOWER folds ASCII only, so a non-ASCII name may sit elsewhere in the full
    read, which is sorted by Python's rules.)"""
    ids = [row[0] for row in _rows(
        "SELECT id FROM store ORDER BY LOWER(COALESCE(NULLIF(name, ''), domain)), domain "
        f"LIMIT {int(limit)}")]
    return read_summaries(ids) if ids else []


def _read_summaries(ids: Sequence[int] | None) -> list[StoreSummary]:
    if ids is None:
        stores = _rows(_STORE_SQL)
        syncs = _rows(_SYNC_SQL)
    else:
        stores, syncs = [], []
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start:start + _CHUNK])
            stores += _rows(_STORE_SQL + " WHERE s.id IN " + _in(chunk), chunk)
            syncs += _rows(_SYNC_SQL + " WHERE store_id IN " + _in(chunk), chunk)
    by_store: dict[int, dict[str, tuple]] = defaultdict(dict)
    for sync_row in syncs:
        by_store[sync_row[0]][sync_row[1]] = sync_row
    decode = _Decoder()
    time = decode.time
    # SQLite gives timestamps as text, PostgreSQL as datetimes. A sync time is nearly always
    # unique to its row, so it is parsed where it stands (in C), not looked up in a cache.
    fromiso = datetime.fromisoformat
    # NamedTuple's __new__ is Python code; tuple.__new__ builds the same value for a fraction
    # of the cost (this loop builds 50,000 of them for 10,000 stores).
    new = tuple.__new__
    states = {state.value: state for state in EntityState}
    statuses = {status.value: status for status in Status}
    off, syncing = EntityState.OFF, EntityState.SYNCING.value
    empty: dict[str, tuple] = {}
    categories_end = _FIRST_CATEGORY + len(_CATEGORY_COLUMNS)
    result: list[StoreSummary] = []
    append = result.append
    for row in stores:
        store_id = row[0]
        categories = row[_FIRST_CATEGORY:categories_end]
        mine = by_store.get(store_id, empty)
        entities = []
        records_total = 0
        last_synced = None
        for entity, name, category in _ENTITY_SLOTS:
            sync = mine.get(name)
            if sync is None:
                entities.append(_PENDING[entity])
                continue
            (_id, _entity, state, records, done, total, synced, error, progress, started,
             info, full_failed, queued) = sync
            if synced.__class__ is str:
                synced = fromiso(synced)
            if state == syncing:  # the columns only a running sync has (see _SYNC_SQL)
                progress, started = time(progress), time(started)
                info = _sync_progress(info) if info is not None else None
            entities.append(new(EntityRow, (
                entity, states[state] if categories[category] else off, records, done, total,
                synced, error, progress, started, info,
                time(full_failed) if full_failed is not None else None,
                bool(queued))))
            records_total += records
            if synced is not None and (last_synced is None or synced > last_synced):
                last_synced = synced
        busy, checking = row[categories_end:]
        append(new(StoreSummary, (
            store_id, row[1], row[2] or row[1], statuses[row[3]], row[4], tuple(entities),
            decode.readiness_items(row[5], row[7] is not None), time(row[6]), last_synced,
            records_total, bool(row[8]), bool(row[9]), bool(checking), bool(busy),
        )))
    result.sort(key=display_order)
    return result


def _sync_progress(value: object) -> SyncProgress | None:
    """A running sync's phase, rate and ETA (JSON text on SQLite, decoded on PostgreSQL)."""
    if isinstance(value, str | bytes):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return SyncProgress.from_json(value)


def display_order(store: StoreSummary) -> tuple[str, str]:
    """The fleet's order: by name (any case), then domain."""
    return (store.name.lower(), store.domain)


def merge_changes(shown: list[StoreSummary], changed: frozenset[int],
                  fresh: list[StoreSummary]) -> list[StoreSummary]:
    """`shown` with the `changed` stores replaced by their `fresh` summaries (a changed store
    missing from `fresh` was deleted); re-sorted only when a name changed or a store is new."""
    by_id = {store.id: store for store in fresh}
    merged: list[StoreSummary] = []
    resort = False
    for store in shown:
        if store.id not in changed:
            merged.append(store)
            continue
        update = by_id.pop(store.id, None)
        if update is not None:
            resort = resort or update.name != store.name
            merged.append(update)
    if by_id:  # stores added since the last read
        merged.extend(by_id.values())
        resort = True
    if resort:
        merged.sort(key=display_order)
    return merged


def summarise(stores: Iterable[StoreSummary]) -> FleetSummary:
    """The fleet header's counts, from summaries already read (no query)."""
    counts = {status: 0 for status in Status}
    for store in stores:
        counts[store.status] += 1
    return FleetSummary(total=sum(counts.values()), by_status=counts)


# -- changed since ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FleetChanges:
    """What `changes_since` found: `everything` → re-read the fleet; else the changed ids."""

    cursor: int
    store_ids: frozenset[int]
    everything: bool = False


def _pruned_mark() -> int | None:
    row = _rows("SELECT value FROM schema_meta WHERE key = " + ("%s" if _is_postgres() else "?"),
                (PRUNED_KEY,))
    return int(row[0][0]) if row else None


def change_cursor() -> int:
    """The cursor of "now": take it *before* a full read, then ask `changes_since` with it."""
    if _is_postgres():
        return int(_rows("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")[0][0])
    return int(_rows("SELECT COALESCE(MAX(id), 0) FROM store_change")[0][0])


def changes_since(cursor: int) -> FleetChanges:
    """The stores written since `cursor` (from `change_cursor` or an earlier answer)."""
    pruned = _pruned_mark()
    if _is_postgres():
        horizon = change_cursor()  # first: a transaction finishing after this is read again
        if pruned is not None and pruned >= cursor:
            return FleetChanges(horizon, frozenset(), everything=True)
        rows = _rows("SELECT DISTINCT store_id FROM store_change WHERE xid >= %s", (cursor,))
        return FleetChanges(horizon, frozenset(r[0] for r in rows))
    if pruned is not None and pruned > cursor:
        return FleetChanges(change_cursor(), frozenset(), everything=True)
    rows = _rows("SELECT id, store_id FROM store_change WHERE id > ?", (cursor,))
    newest = max((r[0] for r in rows), default=cursor)
    return FleetChanges(newest, frozenset(r[1] for r in rows))


def change_fingerprint() -> tuple:
    """Changes whenever a store, entity row or job is written (for `reads.data_version`)."""
    if _is_postgres():
        # Rows at or above the horizon may belong to transactions that commit later: count
        # them, so a late commit changes the fingerprint even when the newest id does not.
        horizon = change_cursor()
        row = _rows("SELECT COUNT(*), MAX(id) FROM store_change WHERE xid >= %s", (horizon,))
        return (horizon, *row[0])
    return (change_cursor(),)


def prune_changes(older_than: timedelta = CHANGE_RETENTION) -> int:
    """Drop log rows older than `older_than`; readers behind the mark re-read everything.

    The newest row always stays: SQLite gives a new row MAX(id) + 1, so an emptied log would
    hand out ids that readers have already passed.
    """
    cutoff = utcnow() - older_than
    key = "xid" if _is_postgres() else "id"
    mark = "%s" if _is_postgres() else "?"
    with database.atomic():
        newest = _rows(
            f"SELECT MAX({key}) FROM store_change WHERE at < {mark} "
            "AND id < (SELECT MAX(id) FROM store_change)", (cutoff,))[0][0]
        if newest is None:
            return 0
        removed = database.execute_sql(
            f"DELETE FROM store_change WHERE {key} <= {mark} "
            "AND id < (SELECT MAX(id) FROM store_change)", (newest,)).rowcount
        SchemaMeta.insert(key=PRUNED_KEY, value=str(newest)).on_conflict(
            conflict_target=[SchemaMeta.key], preserve=[SchemaMeta.value]).execute()
    return removed
