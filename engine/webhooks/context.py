"""What the webhook modules share: a delivery's Outcome, the worker's ApplyContext (per-batch
caches, deferred side effects, and the memory kept across batches: tombstones of deleted records
and the trigger time of each record's last write), and the cached raw SQL of the hot path.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from peewee import PostgresqlDatabase

from engine.persistence.database import execute_many
from engine.persistence.models import EntitySync, database

# How long a deleted record's id is remembered against late updates (Shopify retries for 4 h).
TOMBSTONE_TTL = timedelta(hours=48)
WRITTEN_CAP = 100_000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivery: receipt status, detail, and the activity-log label."""

    status: str  # applied | ignored
    detail: str | None = None
    label: str | None = None
    level: str = "info"


# -- the context of one batch -------------------------------------------------------------------

@dataclass
class ApplyContext:
    """State shared by the deliveries of one worker batch (and tombstones across batches)."""

    tombstones: dict[tuple[int, str, int], datetime] = field(default_factory=dict)
    # The trigger time of the delivery that last wrote each record (most recent WRITTEN_CAP).
    written: dict[tuple[int, str, int], datetime] = field(default_factory=dict)
    notify: Callable[[], None] | None = None  # wakes the job runner after a job was queued
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    record_deltas: dict[tuple[int, str], int] = field(default_factory=dict)
    _run_ids: dict[tuple[int, str], int] = field(default_factory=dict)

    def triggered_later(self, key: tuple[int, str, int], triggered_at: datetime | None) -> bool:
        """Whether the delivery that last wrote `key` was triggered after this one.

        Breaks ties between payloads with the same whole-second `updated_at` (two changes in
        one second, delivered out of order), from X-Shopify-Triggered-At (milliseconds).
        """
        previous = self.written.get(key)
        return triggered_at is not None and previous is not None and triggered_at < previous

    def remember(self, key: tuple[int, str, int], triggered_at: datetime | None) -> None:
        if triggered_at is None:
            return
        self.written.pop(key, None)
        self.written[key] = triggered_at
        if len(self.written) > WRITTEN_CAP:
            for old in list(itertools.islice(self.written, WRITTEN_CAP // 10)):
                del self.written[old]

    def run_id(self, store_id: int, entity: str) -> int:
        key = (store_id, entity)
        if key not in self._run_ids:
            value = EntitySync.select(EntitySync.run_id).where(
                (EntitySync.store == store_id) & (EntitySync.entity == entity)
            ).scalar()
            self._run_ids[key] = int(value or 0)
        return self._run_ids[key]

    def count(self, store_id: int, entity: str, delta: int) -> None:
        if delta:
            key = (store_id, entity)
            self.record_deltas[key] = self.record_deltas.get(key, 0) + delta

    def checkpoint(self) -> tuple[dict[tuple[int, str], int], int]:
        """What `rollback` restores when one delivery's savepoint is rolled back."""
        return dict(self.record_deltas), len(self.after_commit)

    def rollback(self, mark: tuple[dict[tuple[int, str], int], int]) -> None:
        deltas, pending = mark
        self.record_deltas = deltas
        del self.after_commit[pending:]

    def forget_batch(self) -> None:
        self.after_commit.clear()
        self.record_deltas.clear()
        self._run_ids.clear()

    def prune_tombstones(self) -> None:
        cutoff = datetime.now(UTC) - TOMBSTONE_TTL
        for key in [k for k, at in self.tombstones.items() if at < cutoff]:
            del self.tombstones[key]


def flush_record_counts(ctx: ApplyContext) -> None:
    """Move EntitySync.records by what this batch created and deleted."""
    for (store_id, entity), delta in ctx.record_deltas.items():
        EntitySync.update(records=EntitySync.records + delta).where(
            (EntitySync.store == store_id) & (EntitySync.entity == entity)
        ).execute()


# -- raw SQL for the hot path ----------------------------------------------------------------------
# Peewee spends ~10x the SQLite execution time building these statements (stack-notes; measured
# here: 7.5 ms of SQL generation per order delivery). Built once per shape and cached; the
# identifiers come from the models, never from payloads. Valid on SQLite and PostgreSQL.

def _q(name: str) -> str:
    return f'"{name}"'


@functools.cache
def upsert_sql(table: str, columns: tuple[str, ...], conflict: tuple[str, ...], param: str,
               keep: tuple[str, ...] = ()) -> str:
    """INSERT … ON CONFLICT (conflict) DO UPDATE SET every other column not in `keep`."""
    fixed = set(conflict) | set(keep)
    updates = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in columns if c not in fixed)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    return (
        f"INSERT INTO {_q(table)} ({', '.join(_q(c) for c in columns)}) "
        f"VALUES ({', '.join([param] * len(columns))}) "
        f"ON CONFLICT ({', '.join(_q(c) for c in conflict)}) {action}"
    )


@functools.cache
def insert_sql(table: str, columns: tuple[str, ...], param: str, returning: bool) -> str:
    return (
        f"INSERT INTO {_q(table)} ({', '.join(_q(c) for c in columns)}) "
        f"VALUES ({', '.join([param] * len(columns))})" + (' RETURNING "id"' if returning else "")
    )


@functools.cache
def where_sql(verb: str, table: str, columns: tuple[str, ...], keys: tuple[str, ...],
              param: str, unindexed: tuple[str, ...] = ()) -> str:
    """SELECT columns / DELETE / UPDATE SET columns … WHERE every key = param.

    Keys in `unindexed` are written `+"key"`, which keeps SQLite's planner off their indexes:
    without statistics it prefers the (store_id, shopify_id) index for `store_id = ? AND
    order_id = ?` and scans the whole store, where the order_id index finds a few rows.
    """
    where = " AND ".join(
        f"{'+' if k in unindexed else ''}{_q(k)} = {param}" for k in keys
    )
    if verb == "SELECT":
        return f"SELECT {', '.join(_q(c) for c in columns)} FROM {_q(table)} WHERE {where}"
    if verb == "DELETE":
        return f"DELETE FROM {_q(table)} WHERE {where}"
    sets = ", ".join(f"{_q(c)} = {param}" for c in columns)
    return f"UPDATE {_q(table)} SET {sets} WHERE {where}"


def is_postgres() -> bool:
    return isinstance(database.obj, PostgresqlDatabase)


def insert_row(table: str, row: dict[str, Any]) -> int:
    """Insert one row; returns its id."""
    columns = tuple(row)
    postgres = is_postgres()
    cursor = database.execute_sql(insert_sql(table, columns, database.param, postgres),
                                  tuple(row.values()))
    return int(cursor.fetchone()[0]) if postgres else int(cursor.lastrowid)


def insert_rows(table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows that all have the same columns, in one executemany."""
    if rows:
        columns = tuple(rows[0])
        execute_many(
            insert_sql(table, columns, database.param, False),
            [tuple(row[c] for c in columns) for row in rows],
        )


def event_values(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Event rows with their JSON `data` serialised as the model stores it (JSON text)."""
    return [
        {**row, "data": None if row["data"] is None else orjson.dumps(row["data"]).decode()}
        for row in rows
    ]
