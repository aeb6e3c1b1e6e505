"""What the webhook modules share: a delivery's Outcome, the worker's ApplyContext (per-batch
caches and deferred side effects; what must outlive a batch — tombstones of deleted records and
the trigger time of each record's last write — is in the database, engine.webhooks.marks, so
every serve process sees it), and the row inserts of the hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from engine.persistence.counters import label_key
from engine.persistence.database import execute_many
from engine.persistence.models import Store, database
from engine.persistence.sql import insert_sql, is_postgres
from engine.webhooks import marks
from engine.webhooks.confirm import Install

# Held by every webhook write transaction (receipts, applies) of every process on PostgreSQL:
# one at a time, so a dedupe check or a tombstone read stays true until the commit, and two
# processes' batches never deadlock on the rows they both touch (counters, stores).
WEBHOOK_WRITES = "shopsync:webhook-writes"

# How long a deleted record's id is remembered against late updates (Shopify retries for 4 h).
TOMBSTONE_TTL = timedelta(hours=48)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivery: receipt status, detail, and the activity-log label."""

    status: str  # applied | ignored | unconfirmed | failed
    detail: str | None = None
    label: str | None = None
    level: str = "info"


# -- the context of one batch -------------------------------------------------------------------

@dataclass
class ApplyContext:
    """State shared by the deliveries of one worker batch."""

    notify: Callable[[], None] | None = None  # wakes the job runner after a job was queued
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    record_deltas: dict[tuple[int, str], int] = field(default_factory=dict)
    # What Shopify said about the installation of a store this batch has destructive topics
    # for (engine.webhooks.confirm); a store missing here was not asked.
    installs: dict[int, Install] = field(default_factory=dict)
    _run_ids: dict[tuple[int, str], int] = field(default_factory=dict)

    def triggered_later(self, key: marks.RecordKey, triggered_at: datetime | None) -> bool:
        """Whether the delivery that last wrote `key` was triggered after this one.

        Breaks ties between payloads with the same whole-second `updated_at` (two changes in
        one second, delivered out of order), from X-Shopify-Triggered-At (milliseconds).
        """
        if triggered_at is None:
            return False
        previous, _deleted = marks.read(key)
        return previous is not None and triggered_at < previous

    def remember(self, key: marks.RecordKey, triggered_at: datetime | None) -> None:
        if triggered_at is not None:
            marks.mark_written(key, triggered_at)

    def deleted_at(self, key: marks.RecordKey) -> datetime | None:
        """When a `*/delete` removed the record (within TOMBSTONE_TTL), else None."""
        return marks.read(key)[1]

    def tombstone(self, key: marks.RecordKey, at: datetime) -> None:
        marks.mark_deleted(key, at)

    def run_id(self, store_id: int, entity: str) -> int:
        key = (store_id, entity)
        if key not in self._run_ids:
            param = database.param
            row = database.execute_sql(
                f'SELECT "run_id" FROM "entity_sync" WHERE "store_id" = {param} '
                f'AND "entity" = {param}', key).fetchone()
            self._run_ids[key] = int(row[0] or 0) if row else 0
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
        self.installs.clear()

    def prune_tombstones(self) -> None:
        marks.prune(TOMBSTONE_TTL)


def flush_record_counts(ctx: ApplyContext) -> None:
    """Move EntitySync.records by what this batch created and deleted (one executemany)."""
    if ctx.record_deltas:
        param = database.param
        execute_many(
            f'UPDATE "entity_sync" SET "records" = "records" + {param} '
            f'WHERE "store_id" = {param} AND "entity" = {param}',
            [(delta, store_id, entity)
             for (store_id, entity), delta in ctx.record_deltas.items()],
        )


def add_counts(name: str, counts: dict[tuple[str, str], int]) -> None:
    """engine.persistence.counters.incr for many (topic, outcome) labels in one executemany:
    the webhook counters a batch moves (peewee's query building cost more than the writes)."""
    if counts:
        param = database.param
        execute_many(
            f'INSERT INTO "metric" ("name", "labels", "value") VALUES ({param}, {param}, '
            f'{param}) ON CONFLICT ("name", "labels") DO UPDATE SET '
            f'"value" = "metric"."value" + excluded."value"',
            [(name, label_key({"topic": topic, "outcome": outcome}), float(n))
             for (topic, outcome), n in counts.items()],
        )


def touch_stores(store_ids: set[int], at: datetime) -> None:
    """Store.last_webhook_at = at for these stores."""
    if store_ids:
        param = database.param
        execute_many(f'UPDATE "store" SET "last_webhook_at" = {param} WHERE "id" = {param}',
                     [(Store.last_webhook_at.db_value(at), i) for i in sorted(store_ids)])


# -- raw SQL for the hot path (built by engine.persistence.sql) ----------------------------------

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
