"""Bulk JSONL → row tuples → batched upserts: the hot path of an entity sync.

Each line of a bulk export is mapped by `__typename` (and whether it has a `__parentId`) to one
row tuple of one record table: decoded typed with msgspec when it has the export's own shape
(engine.sync.rows.TYPED: orders and products), otherwise parsed with orjson and mapped by the
row mappers, which decide what a line of any other shape is worth. Rows are buffered per table
and written every BATCH rows or so (a downloaded chunk at a time) in one transaction of
`INSERT … ON CONFLICT … DO UPDATE` on Peewee's own connection inside `write_transaction()`: on
SQLite multi-row statements of a few fixed sizes (VALUES_ROWS), on PostgreSQL `executemany`
— Peewee's insert_many spends ~7× longer building SQL in Python (stack-notes). Children name
their parent by Shopify id, so a child line needs nothing from earlier lines and nothing is
held beyond the current batch, whatever the file size.

Bookkeeping columns, written by every upsert:
- `seen_run = run`: the run that last saw the row; a complete full run deletes rows it did not
  see (drift repair).
- `changed_run` (root tables): set to `run` when the row is inserted or its `updated_at` moves,
  so "created" = rows now − rows at run start, "updated" = rows with changed_run = run − created.
  Both survive a resumed run that re-streams the same file (the upsert is idempotent).

The mapping of objects to rows lives in engine.sync.rows. Everything here is blocking work: the
sync handler runs the download, parsing and writes in one worker thread (`stream_into`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import Any, Protocol

import httpx
import orjson
from orjson import loads

from engine.domain.coerce import gid_number, scalar_row
from engine.persistence.database import execute_many, write_transaction
from engine.persistence.models import database
from engine.persistence.sql import is_postgres, quote, upsert_sql, upsert_values_sql
from engine.shopify import bulk
from engine.sync.rows import (
    ENTITY_TABLES,
    TABLES,
    TYPED,
    TYPED_MISS,
    Row,
    Table,
    TypedMapper,
    collection_row,
    customer_row,
    line_item_row,
    membership_row,
    order_row,
    product_row,
    variant_row,
)

# Rows buffered per table before a batch is written in one transaction. Each commit writes the
# transaction's dirty pages to the WAL (and now and then checkpoints): at 500 rows a batch the
# 140 commits of 20,000 orders were about a tenth of the import's CPU; at 2,000 the writes cost
# 0.29 s of CPU instead of 0.34 (medians of 5, tests/bench/test_import_rate.py's rows). A batch
# is still written every ~30 ms at full speed, so stop and progress checks stay prompt, and the
# rows in memory stay under ~2 MB.
BATCH = 2000
# SQLite page cache (KiB) of the connection running a run's bookkeeping scans (`finish`)
SCAN_CACHE_KIB = 512

Mapper = Callable[[dict, int | None], Row]
_BINDABLE = frozenset((str, int, float, type(None)))  # engine.domain.coerce.scalar_row's types


def table_upsert_sql(table: Table, param: str, postgres: bool) -> str:
    """The upsert of one record table's rows: (store_id, *columns, seen_run[, changed_run])."""
    columns = ("store_id", *table.columns, "seen_run") + (
        ("changed_run",) if table.tracks_changes else ()
    )
    return upsert_sql(
        table.name, columns, ("store_id", *table.key), param,
        changed_run=table.tracks_changes, postgres=postgres,
    )


class Sink(Protocol):
    """What a download feeds: an Importer (full and incremental runs) or an IdMarker
    (reconcile)."""

    lines: int

    def feed(self, line: bytes) -> bool: ...
    def feed_many(self, lines: Iterable[bytes]) -> bool: ...
    def take(self) -> Any: ...
    def write(self, batch: Any) -> int: ...


def pump(
    chunks: Iterable[list[bytes]],
    sink: Sink,
    after_batch: Callable[[], None] | None = None,
) -> None:
    """Feed every line of `chunks` to `sink`, writing each full batch as it fills; `after_batch`
    runs after each write. Blocking: download, parse and write take turns in one thread. Rows
    still buffered at the end are the caller's (`flush` or `finish`).

    Why not a writer thread beside the download: sqlite3 does release the GIL while it writes,
    but the two threads then kept waiting on each other for it (about a thousand hand-offs per
    20,000 orders): 0.2-0.5 s more CPU than doing the same work in turn, and no faster.
    """
    for lines in chunks:
        if sink.feed_many(lines):
            sink.write(sink.take())
            if after_batch is not None:
                after_batch()


async def stream_into(
    url: str,
    sink: Sink,
    after_batch: Callable[[], Coroutine[Any, Any, None]] | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """Download the JSONL file at `url` into `sink` (engine.shopify.bulk.stream_chunks
    into `pump`) in one worker thread, so the event loop neither parses nor waits; `after_batch`
    (the job's stop, store and progress checks) runs on the event loop after each batch while
    the thread goes on, and what it raises ends the import at the next batch (or at the end).

    If the awaiting task is cancelled, the thread stops at its next chunk and is waited for, so
    no write runs on behind the caller's back.
    """
    loop = asyncio.get_running_loop()
    cancelled = threading.Event()

    checking: list[concurrent.futures.Future[None]] = []  # the last batch's checks, running

    def between() -> None:
        # The checks run on the loop while the thread goes on with the next batch; what they
        # raise ends the import at the batch after (a blocking round trip per batch cost the
        # thread a wake-up of the loop each time, slow on a busy machine).
        if checking:
            checking.pop().result()
        if after_batch is not None:
            checking.append(asyncio.run_coroutine_threadsafe(after_batch(), loop))

    def work() -> None:
        chunks = bulk.stream_chunks(url, transport=transport)
        try:
            pump(_until(chunks, cancelled), sink, between)
            if checking:
                checking.pop().result()
        finally:
            chunks.close()  # a failed write or check ends the download at once
            if checking:  # never leave checks running behind a failure
                concurrent.futures.wait(checking)
            if not database.is_closed():
                database.close()  # this thread's connection: the thread ends here

    # A thread of its own, not the loop's default executor: `after_batch` itself awaits
    # asyncio.to_thread (store checks, progress writes), and so do the runner's heartbeats, so
    # imports holding executor threads while they wait for it could take every thread there is.
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shopsync-import")
    future = loop.run_in_executor(executor, contextvars.copy_context().run, work)
    executor.shutdown(wait=False)  # the thread ends with `work`
    try:
        await asyncio.shield(future)
    except asyncio.CancelledError:
        cancelled.set()
        await asyncio.wait([future])
        raise


class _Cancelled(Exception):
    """The task awaiting `stream_into` was cancelled: its thread stops."""


def _until(chunks: Iterable[list[bytes]], cancelled: threading.Event) -> Iterator[list[bytes]]:
    for lines in chunks:
        if cancelled.is_set():
            raise _Cancelled
        yield lines


def table_upsert_values_sql(table: Table, rows: int) -> str:
    """SQLite: `table_upsert_sql` for `rows` rows in one statement."""
    columns = ("store_id", *table.columns, "seen_run") + (
        ("changed_run",) if table.tracks_changes else ()
    )
    return upsert_values_sql(table.name, columns, ("store_id", *table.key), rows,
                             changed_run=table.tracks_changes)


# Rows per multi-row statement: a few fixed sizes per table, so each connection prepares (and its
# statement cache keeps) three such statements per table. A batch is written greedily, largest
# size first; only the last few rows (fewer than the smallest size) go through executemany. A
# statement per batch size instead kept up to 128 prepared statements of thousands of parameters
# each (30 MB more worker RSS at 100,000 orders). Why not executemany for the whole remainder:
# it steps once per row and takes the GIL back after each step, and with the download and
# parsing holding the GIL in the other thread each of those takes waited (up to a hundred per
# batch): the writer crawled and the reader waited for it.
VALUES_ROWS = (100, 20, 5)
VALUES_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999


@dataclass
class Summary:
    created: int
    updated: int
    removed: int
    records: int


class Importer:
    """Feeds JSONL lines of one entity's export into its tables.

    `feed` (cheap, no I/O) maps a line into the buffers and says when they are full; `take` hands
    the buffered rows over and `write` upserts them (blocking: run it in a thread); `flush` is
    take + write. `finish` applies the run's deletions and returns its counts.
    """

    def __init__(
        self,
        store_id: int,
        entity: str,
        run: int,
        *,
        email_consent: bool = True,
        sms_consent: bool = True,
        on_flush: Callable[[int], None] | None = None,
    ) -> None:
        self.store_id = store_id
        self.entity = entity
        self.run = run
        self.root, self.children = ENTITY_TABLES[entity]
        self.on_flush = on_flush
        self.lines = 0  # objects fed (root + children)
        self.rows = 0  # rows written
        self.roots = 0  # root records (customers, orders, …) fed
        self.skipped = 0  # lines of a type this entity does not import
        self.max_updated_at: str | None = None
        self._full = False
        self._parent_gid: str | None = None
        self._parent_id: int | None = None
        self._buffers: dict[str, list[Row]] = {self.root: []}
        for child in self.children:
            self._buffers[child] = []
        param = database.param
        postgres = is_postgres()
        self._sql = {
            name: table_upsert_sql(TABLES[name], param, postgres) for name in self._buffers
        }
        self._multi = not postgres  # SQLite: multi-row statements (table_upsert_values_sql)
        self._prefix = (store_id,)
        tracks = {name: TABLES[name].tracks_changes for name in self._buffers}
        self._suffix = {name: (run, run) if tracks[name] else (run,) for name in self._buffers}
        self._map = self._mappers(email_consent, sms_consent)
        typed = TYPED.get(entity)
        # (decode, (typename, is_child) → (table, typed mapper)), for the entities that have them
        self._typed = None if typed is None else (typed.decode, {
            kind: (table, make(store_id, run)) for kind, (table, make) in typed.kinds.items()
        })

    def _mappers(self, email_on: bool, sms_on: bool) -> dict[tuple[str, bool], tuple[str, Mapper]]:
        """(typename, is_child) → (table, mapper (obj, parent_id) → the row's columns)."""
        if self.entity == "customers":
            return {("Customer", False): (
                "customer", lambda o, _p: customer_row(o, email_on, sms_on))}
        if self.entity == "orders":
            return {
                ("Order", False): ("order", lambda o, _p: order_row(o)),
                ("LineItem", True): ("order_line_item", line_item_row),
            }
        if self.entity == "products":
            return {
                ("Product", False): ("product", lambda o, _p: product_row(o)),
                ("ProductVariant", True): ("product_variant", variant_row),
            }
        return {
            ("Collection", False): ("collection", lambda o, _p: collection_row(o)),
            # A Product line under a Collection is a membership, not a product.
            ("Product", True): ("collection_membership", membership_row),
        }

    def feed(self, line: bytes) -> bool:
        """Map one JSONL line; True when a buffer is full and `flush()` should run now."""
        return self.feed_many((line,))

    def feed_many(self, lines: Iterable[bytes]) -> bool:
        """Map JSONL lines (a downloaded chunk's); True when a buffer is full and `flush()`
        should run now. One loop over the chunk with the lookups hoisted: the per-line hot path.

        A line of the export's own shape is decoded and mapped typed (engine.sync.rows.TYPED);
        any other line, or a line of an entity without typed lines, is parsed with orjson and
        mapped by the row mappers, which decide what a line of another shape is worth.
        """
        # typename → (append to its table's buffer, mapper, bookkeeping suffix), for root lines
        # and for child lines: one lookup per line
        targets: dict[bool, dict[str | None, tuple[Callable[[Row], None], Mapper, Row]]] = {
            False: {}, True: {}}
        for (kind, child), (table, mapper) in self._map.items():
            targets[child][kind] = (self._buffers[table].append, mapper, self._suffix[table])
        root_targets, child_targets = targets[False], targets[True]
        typed: dict[bool, dict[str | None, tuple[Callable[[Row], None], TypedMapper]]] = {
            False: {}, True: {}}
        decode = None
        if self._typed is not None:
            decode, kinds = self._typed
            for (kind, child), (table, typed_mapper) in kinds.items():
                typed[child][kind] = (self._buffers[table].append, typed_mapper)
        typed_roots, typed_children = typed[False], typed[True]
        prefix = self._prefix
        bindable = _BINDABLE.issuperset
        newest = self.max_updated_at
        parent_gid, parent_id_cached = self._parent_gid, self._parent_id
        count = roots = skipped = 0
        try:
            for line in lines:
                if decode is not None:
                    try:
                        decoded = decode(line)
                        parent = decoded.parent
                        typed_target = (typed_roots if parent is None
                                        else typed_children).get(decoded.typename)
                        if typed_target is not None:
                            append, typed_mapper = typed_target
                            parent_id = None
                            if parent is not None:
                                if parent != parent_gid:  # siblings follow each other: parse once
                                    parent_gid, parent_id_cached = parent, gid_number(parent)
                                parent_id = parent_id_cached
                            row = typed_mapper(decoded, parent_id)
                            if parent is None:
                                roots += 1
                                updated = decoded.updatedAt
                                if updated is not None and (newest is None or updated > newest):
                                    newest = updated
                            append(row)
                            count += 1
                            continue
                    except TYPED_MISS:
                        pass  # a line of another shape: orjson and the row mappers decide
                obj = loads(line)
                count += 1
                parent = obj.get("__parentId")
                typename = obj.get("__typename")
                if typename is None:  # tolerate exports without __typename: the GID names it
                    gid = obj.get("id")
                    typename = (gid.split("/")[3] if isinstance(gid, str) and gid.count("/") >= 4
                                else None)  # an id that is no GID: a line of no known type
                target = (root_targets if parent is None else child_targets).get(typename)
                if target is None:
                    skipped += 1
                    continue
                append, mapper, suffix = target
                parent_id = None
                if parent is not None:
                    if parent != parent_gid:
                        parent_gid, parent_id_cached = parent, gid_number(parent)
                    parent_id = parent_id_cached
                mapped = mapper(obj, parent_id)
                if mapped[0] is None:  # no usable id
                    skipped += 1
                    continue
                row = prefix + mapped + suffix
                if not bindable(map(type, row)):
                    row = scalar_row(row)
                if parent is None:
                    roots += 1
                    updated = obj.get("updatedAt")
                    if isinstance(updated, str) and (newest is None or updated > newest):
                        newest = updated
                append(row)
        finally:  # a line that does not parse fails the run; what came before it is counted
            self.lines += count
            self.roots += roots
            self.skipped += skipped
            self.max_updated_at = newest
            self._parent_gid, self._parent_id = parent_gid, parent_id_cached
        if not self._full:
            self._full = any(len(buffer) >= BATCH for buffer in self._buffers.values())
        return self._full

    def pending(self) -> int:
        return sum(len(b) for b in self._buffers.values())

    def take(self) -> dict[str, list[Row]]:
        """Hand over the buffered rows (for `write`, possibly in another thread)."""
        batch = {name: buffer for name, buffer in self._buffers.items() if buffer}
        self._buffers = {name: [] for name in self._buffers}
        self._full = False
        return batch

    def write(self, batch: dict[str, list[Row]]) -> int:
        """Upsert a taken batch in one transaction; returns the number of rows written."""
        written = 0
        with write_transaction():
            for name, rows in batch.items():
                try:
                    self._upsert(name, rows)
                except OverflowError:  # an integer no column holds, in a passed-through text
                    # column: bound as its digits (upserts are idempotent, so a part of the
                    # batch already written is written again unchanged)
                    self._upsert(name, [scalar_row(row) for row in rows])
                written += len(rows)
            if written and self.on_flush is not None:
                self.on_flush(written)  # metrics, in the same transaction
        self.rows += written  # only one write runs at a time (see engine.sync.job)
        return written

    def _upsert(self, name: str, rows: list[Row]) -> None:
        done = 0
        if self._multi and rows:
            cap = VALUES_PARAMETERS // len(rows[0])
            cursor = None
            for size in sorted({min(n, cap) for n in VALUES_ROWS}, reverse=True):
                end = done + (len(rows) - done) // size * size
                if size < 2 or end == done:
                    continue
                sql = table_upsert_values_sql(TABLES[name], size)
                cursor = cursor or database.cursor()
                for start in range(done, end, size):
                    cursor.execute(sql, list(chain.from_iterable(rows[start:start + size])))
                done = end
        if done < len(rows):
            execute_many(self._sql[name], rows[done:] if done else rows)

    def flush(self) -> int:
        """Write every buffered row now (blocking)."""
        return self.write(self.take())

    # -- bookkeeping queries (blocking) ----------------------------------------------------------

    def count(self, table: str | None = None, where: str = "", *args: Any) -> int:
        return count_rows(self.store_id, table or self.root, where, *args)

    def finish(self, mode: str, run_base: int) -> Summary:
        """After a complete export: deletions (full: unseen rows) and the run's counts."""
        p = database.param
        with _scan_cache(), write_transaction():
            self.flush()
            after = self.count()
            created = max(0, after - run_base)
            changed = self.count(self.root, f'"changed_run" = {p}', self.run)
            updated = max(0, changed - created)
            removed = 0
            if mode == "full":
                removed = _delete(self.root, self.store_id, f'"seen_run" <> {p}', self.run)
                for child in self.children:
                    _delete(child, self.store_id, f'"seen_run" <> {p}', self.run)
            else:
                # Children of parents seen in this run that the export no longer lists (a line
                # item removed from an updated order) go too; other parents are untouched.
                for child in self.children:
                    column = TABLES[child].parent_column
                    _delete(
                        child, self.store_id,
                        f'"seen_run" <> {p} AND {quote(column or "")} IN (SELECT "shopify_id" '
                        f'FROM {quote(self.root)} WHERE "store_id" = {p} AND "seen_run" = {p})',
                        self.run, self.store_id, self.run,
                    )
            return Summary(created, updated, removed, after - removed)


class IdMarker:
    """Reconciliation: mark the rows an ids-only export lists, then delete the rest."""

    def __init__(self, store_id: int, entity: str, run: int) -> None:
        self.store_id = store_id
        self.entity = entity
        self.run = run
        self.root, self.children = ENTITY_TABLES[entity]
        self.lines = 0
        self.rows = 0  # ids marked
        self._ids: list[tuple[int, int, int]] = []
        p = database.param
        self._sql = (
            f'UPDATE {quote(self.root)} SET "seen_run" = {p} '
            f'WHERE "store_id" = {p} AND "shopify_id" = {p}'
        )

    def feed(self, line: bytes) -> bool:
        return self.feed_many((line,))

    def feed_many(self, lines: Iterable[bytes]) -> bool:
        ids = self._ids
        for line in lines:
            obj = orjson.loads(line)
            self.lines += 1
            if obj.get("__parentId") is None:
                number = gid_number(obj.get("id"))
                if number is not None:
                    ids.append((self.run, self.store_id, number))
        return len(ids) >= BATCH

    def take(self) -> list[tuple[int, int, int]]:
        batch, self._ids = self._ids, []
        return batch

    def write(self, batch: list[tuple[int, int, int]]) -> int:
        if batch:
            with write_transaction():
                execute_many(self._sql, batch)
        self.rows += len(batch)
        return len(batch)

    def flush(self) -> int:
        return self.write(self.take())

    def finish(self) -> Summary:
        p = database.param
        with _scan_cache(), write_transaction():
            self.flush()
            removed = _delete(self.root, self.store_id, f'"seen_run" <> {p}', self.run)
            for child in self.children:
                column = TABLES[child].parent_column or ""
                _delete(
                    child, self.store_id,
                    f'{quote(column)} NOT IN (SELECT "shopify_id" FROM {quote(self.root)} '
                    f'WHERE "store_id" = {p})',
                    self.store_id,
                )
            records = count_rows(self.store_id, self.root)
        return Summary(0, 0, removed, records)


@contextmanager
def _scan_cache() -> Iterator[None]:
    """SQLite: run a block on this connection with a page cache of SCAN_CACHE_KIB, then give it
    back its own size.

    A run's bookkeeping (the counts and deletions of `finish`) reads every row of the store's
    tables once: each page is read once, so a big cache saves nothing, but the connection keeps
    what it read. With the configured 16 MB (database.SQLITE_PRAGMAS) that was 16 MB more RSS
    after an import of 100,000 orders (the connection belongs to a pool thread and lives on),
    most of the worker's growth. Setting the size back does not read the pages back in.
    """
    if is_postgres():
        yield
        return
    size = int(database.execute_sql("PRAGMA cache_size").fetchone()[0])
    database.execute_sql(f"PRAGMA cache_size = -{SCAN_CACHE_KIB}")
    try:
        yield
    finally:
        database.execute_sql(f"PRAGMA cache_size = {size}")


def count_rows(store_id: int, table: str, where: str = "", *args: Any) -> int:
    p = database.param
    sql = f'SELECT COUNT(*) FROM {quote(table)} WHERE "store_id" = {p}' + (
        f" AND {where}" if where else ""
    )
    cursor = database.execute_sql(sql, (store_id, *args))
    return int(cursor.fetchone()[0])


def _delete(table: str, store_id: int, where: str, *args: Any) -> int:
    p = database.param
    cursor = database.execute_sql(
        f'DELETE FROM {quote(table)} WHERE "store_id" = {p} AND {where}', (store_id, *args)
    )
    return int(cursor.rowcount or 0)
