"""The fleet read: every store's summary in two queries, and what changed since a cursor.

`read_summaries()` reads the stores (with their active jobs folded in by a join) and their entity
rows as plain tuples — no model objects — and builds the frozen views of engine.domain.views.
Identical values (a readiness blob, an entity row, a timestamp string) are decoded once per read.

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

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from peewee import PostgresqlDatabase

from engine.domain.status import (
    ENTITY_CATEGORY,
    ENTITY_ORDER,
    Category,
    Check,
    Entity,
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
_ORDER_SQL = " ORDER BY LOWER(s.name), s.domain"
_SYNC_SQL = """
SELECT store_id, entity, state, records, done, total, last_synced_at, error, progress_at,
       started_at
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
    """Per-read caches: equal raw values decode to one shared immutable value."""

    def __init__(self) -> None:
        self.times: dict[str, datetime] = {}
        self.readiness: dict[tuple[Any, bool], tuple[ReadinessItem, ...]] = {}
        self.rows: dict[tuple, EntityRow] = {}
        self.states = {state.value: state for state in EntityState}
        self.statuses = {status.value: status for status in Status}

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

    def entity_row(self, entity: Entity, category_on: bool, sync: tuple | None) -> EntityRow:
        if sync is None:
            key: tuple = (entity, None)
        else:
            key = (entity, category_on, *sync[2:])
        row = self.rows.get(key)
        if row is None:
            if sync is None:
                row = EntityRow(entity=entity, state=EntityState.PENDING, records=0)
            else:
                _store, _entity, state, records, done, total, synced, error, progress, started = (
                    sync)
                row = EntityRow(
                    entity=entity,
                    state=self.states[state] if category_on else EntityState.OFF,
                    records=records,
                    done=done,
                    total=total,
                    last_synced_at=self.time(synced),
                    error=error,
                    progress_at=self.time(progress),
                    started_at=self.time(started),
                )
            self.rows[key] = row
        return row


def read_summaries(ids: Sequence[int] | None = None) -> list[StoreSummary]:
    """Summaries of every store (by name, then domain), or of the stores in `ids`."""
    if ids is None:
        stores = _rows(_STORE_SQL + _ORDER_SQL)
        syncs = _rows(_SYNC_SQL)
    else:
        stores, syncs = [], []
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start:start + _CHUNK])
            stores += _rows(_STORE_SQL + " WHERE s.id IN " + _in(chunk) + _ORDER_SQL, chunk)
            syncs += _rows(_SYNC_SQL + " WHERE store_id IN " + _in(chunk), chunk)
    by_store: dict[int, dict[str, tuple]] = defaultdict(dict)
    for sync in syncs:
        by_store[sync[0]][sync[1]] = sync
    decode = _Decoder()
    first_category = 10
    result = []
    for row in stores:
        (store_id, domain, name, status, detail, readiness, checked, initial, paused,
         deleting) = row[:first_category]
        categories = row[first_category:first_category + len(_CATEGORY_COLUMNS)]
        busy, checking = row[first_category + len(_CATEGORY_COLUMNS):]
        mine = by_store.get(store_id, {})
        entities = tuple(
            decode.entity_row(
                entity,
                bool(categories[_CATEGORY_INDEX[ENTITY_CATEGORY[entity]]]),
                mine.get(entity.value),
            )
            for entity in ENTITY_ORDER
        )
        synced_times = [e.last_synced_at for e in entities if e.last_synced_at]
        result.append(StoreSummary(
            id=store_id,
            domain=domain,
            name=name or domain,
            status=decode.statuses[status],
            status_detail=detail,
            entities=entities,
            readiness=decode.readiness_items(readiness, initial is not None),
            last_checked_at=decode.time(checked),
            last_synced_at=max(synced_times) if synced_times else None,
            records_total=sum(e.records for e in entities),
            paused=bool(paused),
            deleting=bool(deleting),
            checking=bool(checking),
            busy=bool(busy),
        ))
    return result


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
    """Drop log rows older than `older_than`; readers behind the mark re-read everything."""
    cutoff = utcnow() - older_than
    key = "xid" if _is_postgres() else "id"
    mark = "%s" if _is_postgres() else "?"
    with database.atomic():
        newest = _rows(f"SELECT MAX({key}) FROM store_change WHERE at < {mark}", (cutoff,))[0][0]
        if newest is None:
            return 0
        removed = database.execute_sql(
            f"DELETE FROM store_change WHERE {key} <= {mark}", (newest,)).rowcount
        SchemaMeta.insert(key=PRUNED_KEY, value=str(newest)).on_conflict(
            conflict_target=[SchemaMeta.key], preserve=[SchemaMeta.value]).execute()
    return removed
