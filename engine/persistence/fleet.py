"""The fleet read: every store's summary in one query, and what changed since a cursor.

A store's summary is one row of plain values: its own columns, its active jobs and its four
entity rows side by side (`_columns`); no model objects, no per-store queries.

- SQLite keeps that row for every store, as JSON text, in `fleet_row`, with its head (id,
  domain, name, status), rewritten inside the writer's transaction by the triggers that fill
  the change log below, whoever writes a store, its entity rows or its jobs. The read
  concatenates the heads into one JSON array and the rows into one text (a few values
  through the driver: Python's sqlite3 module releases and re-takes the GIL around
  every value it fetches, and fetched as rows a 10,000-store fleet's 600,000 values cost more
  than all the rest of the read). Only the heads are decoded: each summary keeps its row as
  bytes and decodes it on first use of another field (`_LazySummary`), so a read costs two
  containers per store, and decoding costs what the stores a caller uses (a screenful) cost.
  A database built with another row shape (an older shopsync) gets its triggers and rows
  made again when it is opened (FLEET_ROW_SHAPE).
- PostgreSQL computes the rows live (joins on the unique index (store_id, entity)): psycopg2
  fetches values cheaply, and concurrent writers of one store would queue on a stored row.
  Its summaries are built whole, column by column (`_build`).

The row is shaped for the build: a state or status is its place in the enum (a small int,
shared by Python, looked up without hashing), a flag is a JSON boolean, the newest sync is the
place of the entity that has it (no second parse), and each entity gives only its state,
records, last sync and `extra`, NULL unless the entity is Syncing, failed, failed a full sync
or has a queued job (then the rest of its fields). Python code then runs only where a value
must be decoded: a readiness blob (once per distinct blob: cached) and the few rows with an
`extra`. The GC is paused while a read builds its values, and they go to the old generation
untraversed (`_built_for_the_old_generation`).

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
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import accumulate, compress, repeat
from operator import getitem
from typing import Any, cast

import orjson
from peewee import PostgresqlDatabase

from engine.domain.progress import SyncProgress
from engine.domain.status import (
    ENTITY_CATEGORY,
    ENTITY_ORDER,
    Check,
    Entity,
    EntityState,
    Status,
)
from engine.domain.views import EntityRow, FleetSummary, ReadinessItem, StoreSummary
from engine.persistence.models import SchemaMeta, database, utcnow

PRUNED_KEY = "store_change_pruned"
CHANGE_RETENTION = timedelta(hours=1)


_STATES = tuple(EntityState)  # a fleet row gives a state, or a status, as its place here
_STATUSES = tuple(Status)


def _place(expr: str, members: Sequence[EntityState] | Sequence[Status]) -> str:
    """SQL: the place of the text `expr` in `members` (small integers decode to shared objects,
    and a tuple lookup needs no hashing; NULL for a value that is not one of them)."""
    return (f"CASE {expr} " + " ".join(f"WHEN '{member.value}' THEN {place}"
                                       for place, member in enumerate(members)) + " END")


def _flag(condition: str, postgres: bool) -> str:
    """SQL: `condition` as a boolean (JSON true/false on SQLite, where it would be 1/0)."""
    if postgres:
        return f"COALESCE({condition}, FALSE)"
    return f"json(CASE WHEN {condition} THEN 'true' ELSE 'false' END)"


def _entity_columns(e: str, entity: Entity, category: str, postgres: bool) -> list[str]:
    """One entity's columns: its state's place in _STATES (Off when its category is, Pending
    when it has no row), records, last_synced_at, then `extra`: NULL unless the row carries
    something only a few rows have, else [done, total, error, progress_at, started_at,
    progress_info, full_failed_at, queued]. done, total, progress_at, started_at and
    progress_info describe a running sync (its bar, rate, ETA and stuck detection) and are
    read only while it is Syncing: on any other row they are leftovers of the last run. A
    Pending entity with a sync job queued or running is "Queued", else "Not started"."""
    queued = (f"EXISTS (SELECT 1 FROM job q WHERE q.store_id = s.id AND q.entity = "
              f"'{entity.value}' AND q.kind = 'sync' AND q.state IN ('queued', 'running'))")
    syncing = f"{e}.state = 'syncing'"
    pending = f"{e}.state = 'pending'"
    array = "json_build_array" if postgres else "json_array"
    return [
        f"CASE WHEN {e}.id IS NULL THEN {_STATES.index(EntityState.PENDING)} "
        f"WHEN s.{category} THEN {_place(f'{e}.state', _STATES)} "
        f"ELSE {_STATES.index(EntityState.OFF)} END",
        f"COALESCE({e}.records, 0)", f"{e}.last_synced_at",
        f"CASE WHEN {syncing} OR {e}.error IS NOT NULL OR {e}.full_failed_at IS NOT NULL "
        f"OR ({pending} AND {queued}) THEN {array}("
        f"CASE WHEN {syncing} THEN COALESCE({e}.done, 0) ELSE 0 END, "
        f"CASE WHEN {syncing} THEN {e}.total END, {e}.error, "
        f"CASE WHEN {syncing} THEN {e}.progress_at END, "
        f"CASE WHEN {syncing} THEN {e}.started_at END, "
        f"CASE WHEN {syncing} THEN {e}.progress_info END, {e}.full_failed_at, "
        f"CASE WHEN {pending} THEN {queued} ELSE FALSE END) END",
    ]


_ENTITY_WIDTH = 4  # columns per entity (see _entity_columns)
_NO_TIME = len(ENTITY_ORDER)  # newest sync's place when no entity has synced


def _columns(postgres: bool) -> list[str]:
    """The fleet read's columns, one value per store each: the store's own, its active jobs,
    its records over every entity and which entity synced last (its place in ENTITY_ORDER),
    then each entity's, in display order."""
    aliases = [f"e{place}" for place in range(len(ENTITY_ORDER))]
    synced = [f"{e}.last_synced_at" for e in aliases]
    newest = (f"GREATEST({', '.join(synced)})" if postgres else  # GREATEST skips NULLs
              # SQLite's MAX() of several values is NULL if one is; stored times are
              # str(datetime), which sort as text as they do in time
              "NULLIF(MAX(" + ", ".join(f"COALESCE({c}, '')" for c in synced) + "), '')")
    columns = [
        "s.id", "s.domain", "COALESCE(NULLIF(s.name, ''), s.domain)",
        _place("s.status", _STATUSES), "s.status_detail",
        # readiness: '+' (initial sync done) or '-', then the stored blob: one text per store,
        # and one decode per distinct text
        "CASE WHEN s.initial_sync_completed_at IS NULL THEN '-' ELSE '+' END "
        "|| COALESCE(s.readiness, '')", "s.last_checked_at",
        _flag("s.paused", postgres), _flag("s.deleting", postgres),
        _flag("j.checking = 1", postgres), _flag("j.busy > 0", postgres),
        " + ".join(f"COALESCE({e}.records, 0)" for e in aliases),
        f"CASE {newest} " + " ".join(f"WHEN {time} THEN {place}"
                                     for place, time in enumerate(synced)) +
        f" ELSE {_NO_TIME} END",
    ]
    for e, entity in zip(aliases, ENTITY_ORDER, strict=True):
        category = f"cat_{ENTITY_CATEGORY[entity].value}"
        columns += _entity_columns(e, entity, category, postgres)
    return columns


_ENTITY_JOINS = "\n".join(f"LEFT JOIN entity_sync e{place} ON e{place}.store_id = s.id "
                          f"AND e{place}.entity = '{entity.value}'"
                          for place, entity in enumerate(ENTITY_ORDER))
# Active jobs per store: "checking" = a health check is active. Each entity row is found by the
# unique index (store_id, entity).
_FROM = """
FROM store s
LEFT JOIN (
    SELECT store_id, COUNT(*) AS busy,
           MAX(CASE WHEN kind = 'health' THEN 1 ELSE 0 END) AS checking
    FROM job WHERE state IN ('queued', 'running') AND store_id IS NOT NULL
    GROUP BY store_id
) j ON j.store_id = s.id
""" + _ENTITY_JOINS
_POSTGRES_SQL = "SELECT " + ", ".join(_columns(True)) + " " + _FROM
_WIDTH = len(_columns(False))
_ENTITY_START = _WIDTH - _ENTITY_WIDTH * len(ENTITY_ORDER)  # the first entity column

# SQLite keeps each store's row, as JSON text, in `fleet_row`: written by the same triggers
# that fill the change log (engine.persistence.revisions), so every write to a store, its
# entity rows or its jobs rewrites it in the writer's transaction. The read then concatenates
# the texts (no per-value work in SQLite, one value through the driver) for orjson to decode.
# PostgreSQL reads live: concurrent writers of one store would queue on its row there, and
# psycopg2 fetches values cheaply.
_ROW_JSON = "json_array(" + ", ".join(_columns(False)) + ")"


# The table is kept in the fleet's order (by name in ASCII lower case, then domain): clustered on
# that key (WITHOUT ROWID), a scan reads the rows in order, and a fleet whose names and domains
# are all ASCII needs no sort in Python (SQL's LOWER folds ASCII only). The store id finds a
# store's row for the triggers. Derived data: made again, like the rows, when the shape changes.
_SORT_NAME = "LOWER(COALESCE(NULLIF(s.name, ''), s.domain))"
# The head: what a read builds for every store at once (see _LazySummary), as JSON text.
_HEAD_JSON = ("json_array(s.id, s.domain, COALESCE(NULLIF(s.name, ''), s.domain), "
              f"{_place('s.status', _STATUSES)})")
_TABLE_SQL = [
    "DROP TABLE IF EXISTS fleet_row",
    "CREATE TABLE fleet_row (sort_name TEXT NOT NULL, domain TEXT NOT NULL, "
    "store_id INTEGER NOT NULL, head TEXT NOT NULL, body TEXT NOT NULL, "
    "PRIMARY KEY (sort_name, domain, store_id)) WITHOUT ROWID",
    "CREATE UNIQUE INDEX fleet_row_store ON fleet_row (store_id)",
]
_INSERT = (f"INSERT INTO fleet_row (sort_name, domain, store_id, head, body) "
           f"SELECT {_SORT_NAME}, s.domain, s.id, {_HEAD_JSON}, {_ROW_JSON}")


def fleet_row_sql(store: str) -> list[str]:
    """SQLite: the statements that replace the `fleet_row` of the store whose id is the SQL
    expression `store` (and drop it when the store is gone), for the triggers."""
    # One store's active jobs, counted where they are (job.store_id is indexed).
    jobs = ("LEFT JOIN (SELECT COUNT(*) AS busy, MAX(CASE WHEN kind = 'health' THEN 1 "
            f"ELSE 0 END) AS checking FROM job WHERE store_id = {store} "
            "AND state IN ('queued', 'running')) j ON j.busy > 0")
    return [f"DELETE FROM fleet_row WHERE store_id = {store}",
            f"{_INSERT} FROM store s {jobs} {_ENTITY_JOINS} WHERE s.id = {store}"]


# Changes whenever the row's shape, the table's or the triggers' statements do: the table, its
# rows and the triggers are then made again (engine.persistence.database.migrate).
FLEET_ROW_SHAPE = hashlib.sha256(
    repr((_TABLE_SQL, fleet_row_sql("NEW.id"))).encode()).hexdigest()[:16]
FLEET_ROW_SHAPE_KEY = "fleet_row_shape"


def rebuild_fleet_rows() -> None:
    """SQLite: make the `fleet_row` table and every store's row afresh (inside the caller's
    transaction)."""
    for statement in _TABLE_SQL:
        database.execute_sql(statement)
    database.execute_sql(_INSERT + " " + _FROM)


_CHUNK = 500  # ids per IN (...) list


def _is_postgres() -> bool:
    return isinstance(database.obj, PostgresqlDatabase)


def _rows(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    return database.execute_sql(sql, params).fetchall()


def _in(ids: Sequence[int]) -> str:
    return "(" + ",".join("%s" if _is_postgres() else "?" for _ in ids) + ")"


def _fleet_columns(where: str = "", params: Sequence[Any] = ()) -> list[Sequence[Any]]:
    """PostgreSQL: the columns of the stores `where` selects (see _columns); `where` filters
    on `s.id`."""
    rows = _rows(_POSTGRES_SQL + where, params)
    return list(zip(*rows, strict=True)) if rows else [()] * _WIDTH


def _stored_rows(where: str = "", params: Sequence[Any] = (),
                 limit: int | None = None) -> tuple[list[Sequence[Any]], list[bytes]]:
    """SQLite: the heads of the stores `where` selects (`where` filters on `s.store_id`), as
    four columns (ids, domains, names, status places), and their bodies, one bytes each, in
    fleet_row's order (a scan of its key; the sub-select keeps it for group_concat).

    Three values through the driver: the heads as one JSON array for orjson, the bodies
    end to end, and each body's length in bytes (a blob's length is its header's: no scan),
    by which the bodies are cut apart in C (a split on a separator would scan every byte). As
    bytes: orjson reads UTF-8, and the driver need not decode the text into a str."""
    tail = "" if limit is None else f" LIMIT {int(limit)}"
    heads, bodies, lengths = _rows(
        "SELECT CAST('[' || COALESCE(group_concat(head, ','), '') || ']' AS BLOB), "
        "CAST(COALESCE(group_concat(body, ''), '') AS BLOB), "
        "CAST('[' || COALESCE(group_concat(length(CAST(body AS BLOB)), ','), '') || ']' AS BLOB) "
        "FROM (SELECT head, body FROM fleet_row s" + where +
        " ORDER BY sort_name, domain, store_id" + tail + ")", params)[0]
    rows = orjson.loads(heads)
    if not rows:
        return [(), (), (), ()], []
    ends = list(accumulate(orjson.loads(lengths)))
    return (list(zip(*rows, strict=True)),
            list(map(bodies.__getitem__, map(slice, [0, *ends[:-1]], ends))))


def _times(values: Sequence[Any], text: bool) -> Sequence[datetime | None]:
    """A column of times: SQLite (`text`) gives str(datetime), read by fromisoformat in C (a
    time is nearly always unique to its row, so caching would only add hashing); PostgreSQL
    gives datetimes. When every value is a time (a synced fleet) no Python code runs per value."""
    if not text:
        return values
    parsed = list(map(datetime.fromisoformat, compress(values, values)))
    if len(parsed) == len(values):
        return parsed
    if not parsed:  # no time at all (a column never set, such as last checked in a new fleet)
        return [None] * len(values)
    moments = iter(parsed)
    return [next(moments) if value else None for value in values]


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


@lru_cache(maxsize=1024)
def _readiness_items(key: str) -> tuple[ReadinessItem, ...]:
    """The items of a readiness column: '+' (initial sync done) or '-', then the stored blob.
    Cached: a fleet has few distinct texts, and the items are immutable, so shared."""
    initial_sync_done, raw = key[0] == "+", key[1:]
    stored = orjson.loads(raw) if raw else {}
    built = []
    for check in Check:
        entry = stored.get(check.value) or {}
        ok, detail = entry.get("ok"), entry.get("detail")
        if check is Check.INITIAL_SYNC_COMPLETE and initial_sync_done:
            ok, detail = True, None  # history is the truth, even between checks
        built.append(ReadinessItem(check, ok, detail))
    return tuple(built)


def _entity_with_extra(entity: Entity, state: EntityState, records: int,
                       synced: datetime | None, extra: Sequence[Any]) -> EntityRow:
    """An entity row that has an `extra` (see _entity_columns): the few with more to say."""
    done, total, error, progress, started, info, full_failed, queued = extra
    return tuple.__new__(EntityRow, (
        entity, state, records, done, total, synced, error, _time(progress), _time(started),
        _sync_progress(info) if info is not None else None, _time(full_failed), bool(queued)))


@contextmanager
def _built_for_the_old_generation() -> Iterator[None]:
    """Pause the cyclic GC while a read builds its values, then move them to the old
    generation without traversing them.

    A fleet read makes tens of thousands of containers that live on (summaries and their
    cells, or entity rows) and as many that die within it (decoded heads, columns); none can
    form a cycle. With the GC running, the living ones would be traversed by a generation-0
    collection, again by a generation-1 one, and only then reach the old generation (the dying
    ones traversed while still alive). Paused, nothing is traversed while building; at the end,
    when a generation-0 collection is due (a small read leaves the counts to the GC),
    gc.freeze() + gc.unfreeze() moves every young object to the old generation in O(1), which
    is where the read's values would end up. What it costs: whatever else of the process was
    young at that instant (at most a few thousand objects) also waits for the next full
    collection instead of a young one. Skipped, for a generation-1 collection, when something
    else has frozen objects (unfreeze would undo it)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            if gc.get_count()[0] > gc.get_threshold()[0]:
                if gc.get_freeze_count() == 0:
                    gc.freeze()
                    gc.unfreeze()
                else:
                    gc.collect(1)


def read_summaries(ids: Sequence[int] | None = None) -> list[StoreSummary]:
    """Summaries of every store (by name, then domain), or of the stores in `ids`. On SQLite
    they decode their rows when first used (_LazySummary)."""
    with _built_for_the_old_generation():
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
    postgres = _is_postgres()
    if ids is None:
        if postgres:
            columns = _fleet_columns()
            return _in_display_order(_build(columns, text=False), columns[2], columns[1])
        return _lazy(*_stored_rows(), in_sql_order=True)
    unique = list(dict.fromkeys(ids))
    gathered: list[list[Any]] = [[] for _ in range(_WIDTH if postgres else 4)]
    bodies: list[bytes] = []
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start:start + _CHUNK]
        if postgres:
            part = _fleet_columns(" WHERE s.id IN " + _in(chunk), chunk)
        else:
            part, raw = _stored_rows(" WHERE s.store_id IN " + _in(chunk), chunk)
            bodies.extend(raw)
        for whole, values in zip(gathered, part, strict=True):
            whole.extend(values)
    if postgres:
        return _in_display_order(_build(gathered, text=False), gathered[2], gathered[1])
    return _lazy(gathered, bodies, in_sql_order=len(unique) <= _CHUNK)


def _in_display_order(summaries: list[StoreSummary], names: Sequence[str],
                      domains: Sequence[str], in_sql_order: bool = False) -> list[StoreSummary]:
    """`summaries` (with these names and domains) in display_order. `in_sql_order`: they
    come in fleet_row's order, which is display_order when every name and domain is ASCII
    (SQL's LOWER folds ASCII only); then no sort runs."""
    if in_sql_order and all(map(str.isascii, names)) and all(map(str.isascii, domains)):
        return summaries
    # display_order, with the keys made in C
    order = list(zip(map(str.lower, names), domains, strict=True))
    return list(map(summaries.__getitem__, sorted(range(len(order)), key=order.__getitem__)))


def _lazy(heads: Sequence[Sequence[Any]], bodies: Sequence[bytes], *,
          in_sql_order: bool) -> list[StoreSummary]:
    """SQLite's summaries: per store, one tuple of its head and a cell holding its body (see
    _LazySummary), built in C (map and zip); nothing of the body is decoded here."""
    ids, domains, names, statuses = heads
    if not ids:
        return []
    summaries: list[StoreSummary] = list(map(tuple.__new__, repeat(_LazySummary), zip(
        ids, domains, names, map(_STATUSES.__getitem__, statuses), map(list, zip(bodies)),
        strict=True)))
    return _in_display_order(summaries, names, domains, in_sql_order)


def _build(columns: Sequence[Sequence[Any]], *, text: bool) -> list[StoreSummary]:
    """Summaries built whole, column by column, in the columns' order (PostgreSQL's read,
    and decode_all's): map and zip run in C, so no Python code runs per store or per entity
    except where a value must be decoded (a readiness blob, once per distinct blob; the few
    entity rows with an `extra`). `text`: times come as text (SQLite)."""
    (ids, domains, names, statuses, details, readiness, checked, paused, deleting, checking,
     busy, records_total, newest) = columns[:_ENTITY_START]
    count = len(ids)
    if not count:
        return []
    # NamedTuple's __new__ is Python code; tuple.__new__ builds the same value for a fraction
    # of the cost (50,000 of them for 10,000 stores).
    new = tuple.__new__
    state_of = _STATES.__getitem__
    by_entity, synced_by_entity = [], []
    for place, entity in enumerate(ENTITY_ORDER):
        first = _ENTITY_START + _ENTITY_WIDTH * place
        states, records, synced, extra = columns[first:first + _ENTITY_WIDTH]
        synced = _times(synced, text)
        synced_by_entity.append(synced)
        nothing = repeat(None, count * 6)  # six None fields per row, shared by zip
        rows = list(map(new, repeat(EntityRow, count), zip(
            repeat(entity, count), map(state_of, states), records, repeat(0, count), nothing,
            synced, nothing, nothing, nothing, nothing, nothing, repeat(False, count),
            strict=True)))
        for index in compress(range(count), extra):  # the few rows with more to say
            rows[index] = _entity_with_extra(entity, rows[index].state, records[index],
                                             synced[index], extra[index])
        by_entity.append(rows)
    summaries = list(map(new, repeat(StoreSummary, count), zip(
        ids, domains, names, map(_STATUSES.__getitem__, statuses), details,
        zip(*by_entity, strict=True), map(_readiness_items, readiness), _times(checked, text),
        # the newest sync is one of the entities' (its place; _NO_TIME picks the None)
        map(getitem, zip(*synced_by_entity, repeat(None, count), strict=True), newest),
        records_total, paused, deleting, checking, busy, strict=True)))
    return summaries


# Each entity's first column in a row, in display order.
_ENTITY_FIRST = tuple((entity, _ENTITY_START + _ENTITY_WIDTH * place)
                      for place, entity in enumerate(ENTITY_ORDER))
_fromisoformat = datetime.fromisoformat


def _decode(body: bytes) -> StoreSummary:
    """One store's whole summary from its stored row (SQLite: times as text), built as
    _build would build it."""
    row = orjson.loads(body)
    new = tuple.__new__
    entities, synced_times = [], []
    for entity, first in _ENTITY_FIRST:
        state, records, synced, extra = row[first:first + _ENTITY_WIDTH]
        if synced is not None:
            synced = _fromisoformat(synced)
        synced_times.append(synced)
        entities.append(
            new(EntityRow, (entity, _STATES[state], records, 0, None, synced, None, None, None,
                            None, None, False)) if extra is None else
            _entity_with_extra(entity, _STATES[state], records, synced, extra))
    synced_times.append(None)  # _NO_TIME's
    (store_id, domain, name, status, detail, readiness, checked, paused, deleting, checking,
     busy, records_total, newest) = row[:_ENTITY_START]
    return new(StoreSummary, (
        store_id, domain, name, _STATUSES[status], detail, tuple(entities),
        _readiness_items(readiness), None if checked is None else _fromisoformat(checked),
        synced_times[newest], records_total, paused, deleting, checking, busy))


_HEAD = 4  # the fields a _LazySummary holds itself: id, domain, name, status


def _cell(summary: StoreSummary) -> list[Any]:
    """A _LazySummary's cell: its stored fifth value (the tuple's own item, not a field's)."""
    return cast(list[Any], tuple.__getitem__(summary, _HEAD))


class _LazySummary(StoreSummary):
    """A StoreSummary as the SQLite fleet read gives it: its id, domain, name and status (what
    the dashboard filters, orders, counts and alerts on, over the whole fleet), then a cell,
    a one-item list holding the store's row as bytes until a field of the rest is first used,
    then its whole StoreSummary (decoded once, by whichever thread asks first: the same value
    either way).

    So a read builds two containers per store and decodes nothing of the rest: the entity rows,
    readiness, times and flags cost what the stores drawn (a screenful) cost, not the fleet.
    To a caller it is the StoreSummary of the same values: the same fields and methods, equal
    to it (either way round), hashed and ordered as it is, repr, len, iteration, indexing,
    _replace, _asdict, pickling and copying give what it gives (those decode it first)."""

    __slots__ = ()

    def whole(self) -> StoreSummary:
        """The StoreSummary of the same values (decoded on first use)."""
        cell = _cell(self)
        value = cell[0]
        if type(value) is bytes:
            value = cell[0] = _decode(value)
        return value

    def decoded(self) -> bool:
        return type(_cell(self)[0]) is not bytes

    # Everything the tuple's own C methods would read from the stored five values, read from
    # the whole summary instead.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, _LazySummary):
            mine, theirs = _cell(self)[0], _cell(other)[0]
            if mine is theirs or (type(mine) is bytes and mine == theirs):
                return True  # the same stored row: the same values
            return self.whole() == other.whole()
        return self.whole() == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __lt__(self, other: tuple[Any, ...]) -> bool:
        return self.whole() < _whole(other)

    def __le__(self, other: tuple[Any, ...]) -> bool:
        return self.whole() <= _whole(other)

    def __gt__(self, other: tuple[Any, ...]) -> bool:
        return self.whole() > _whole(other)

    def __ge__(self, other: tuple[Any, ...]) -> bool:
        return self.whole() >= _whole(other)

    def __hash__(self) -> int:
        return hash(self.whole())

    def __len__(self) -> int:
        return len(StoreSummary._fields)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.whole())

    def __getitem__(self, index: Any) -> Any:
        return self.whole()[index]

    def __contains__(self, value: object) -> bool:
        return value in self.whole()

    def __add__(self, other: Any) -> Any:
        return self.whole() + other

    def __mul__(self, count: Any) -> Any:
        return self.whole() * count

    __rmul__ = __mul__

    def count(self, value: Any) -> int:
        return self.whole().count(value)

    def index(self, value: Any, *args: Any) -> int:
        return self.whole().index(value, *args)

    def __repr__(self) -> str:
        return repr(self.whole())

    def __reduce__(self) -> tuple[Any, ...]:
        return StoreSummary, tuple(self.whole())

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self.whole())

    def _replace(self, /, **changes: Any) -> StoreSummary:  # type: ignore[override]  # NamedTuple types _replace as returning Self; ours gives the plain summary
        return self.whole()._replace(**changes)

    def _asdict(self) -> dict[str, Any]:
        return self.whole()._asdict()

    def to_json(self) -> dict:
        return self.whole().to_json()


def _whole(value: Any) -> Any:
    return value.whole() if isinstance(value, _LazySummary) else value


def _whole_field(index: int) -> property:
    def get(self: _LazySummary) -> Any:
        return self.whole()[index]
    get.__name__ = StoreSummary._fields[index]
    return property(get, doc=f"{get.__name__} (decodes the row on first use)")


# The fields after the head: read from the whole summary (set here, so that the type checker
# keeps StoreSummary's declarations for them).
for _index in range(_HEAD, len(StoreSummary._fields)):
    setattr(_LazySummary, StoreSummary._fields[_index], _whole_field(_index))


def decode_all(summaries: Iterable[StoreSummary]) -> None:
    """Decode every summary not yet decoded, at once: for a caller about to use every field
    of every store (a sort by anything but name, `list --json`), cheaper than one at a time on
    first use. Built as PostgreSQL's read builds (_build: column-wise, in C), with the GC
    paused and the values handed to the old generation (_built_for_the_old_generation)."""
    cells, bodies = [], []
    for cell in map(_cell, filter(_is_lazy, summaries)):
        body = cell[0]  # read once: another thread may decode it meanwhile
        if type(body) is bytes:
            cells.append(cell)
            bodies.append(body)
    if not cells:
        return
    with _built_for_the_old_generation():
        rows = orjson.loads(b"[" + b",".join(bodies) + b"]")
        built = _build(list(zip(*rows, strict=True)), text=True)
        # Another thread may decode one of them meanwhile: the same values either way.
        for cell, summary in zip(cells, built, strict=True):
            cell[0] = summary


def _is_lazy(summary: StoreSummary) -> bool:
    return isinstance(summary, _LazySummary)


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


def first_page(limit: int) -> list[StoreSummary]:
    """The first `limit` stores in the fleet's order, as `first_summaries` gives them, for the
    dashboard's first screenful. On SQLite a scan of fleet_row's first `limit` keys (the table
    is clustered in that order): no pass over every store to sort them, so it costs what the
    page does, not what the fleet does. PostgreSQL: `first_summaries`."""
    if _is_postgres():
        return first_summaries(limit)
    # A page is a few hundred values: the GC is left as it is (the whole read's pause is not
    # worth it here).
    return _lazy(*_stored_rows(limit=limit), in_sql_order=True)
