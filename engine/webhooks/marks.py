"""What every `serve` process must agree on about one record: when a webhook last wrote it, and
when a delete removed it (a tombstone, so a late update cannot bring it back).

Kept in the `record_mark` table, not in a process's memory, so any number of serve processes
behind one load balancer decide alike: a delete applied by one and a late update delivered to
another, or two changes in the same second delivered out of order to two processes.
The webhook write transactions of all processes take one lock (context.WEBHOOK_WRITES) on
PostgreSQL, so what they read here stays true until they commit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.persistence.models import database, utcnow

RecordKey = tuple[int, str, int]  # (store id, entity, Shopify id)

_UPSERT = (
    "INSERT INTO record_mark (store_id, entity, record_id, {column}) VALUES ({p}, {p}, {p}, {p}) "
    "ON CONFLICT (store_id, entity, record_id) DO UPDATE SET {column} = excluded.{column}"
)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _aware(value: object) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def read(key: RecordKey) -> tuple[datetime | None, datetime | None]:
    """(trigger time of the webhook that last wrote the record, when it was deleted)."""
    p = database.param
    row = database.execute_sql(
        f"SELECT triggered_at, deleted_at FROM record_mark "
        f"WHERE store_id = {p} AND entity = {p} AND record_id = {p}", key).fetchone()
    return (None, None) if row is None else (_aware(row[0]), _aware(row[1]))


def mark_written(key: RecordKey, triggered_at: datetime) -> None:
    database.execute_sql(_UPSERT.format(column="triggered_at", p=database.param),
                         (*key, _naive(triggered_at)))


def mark_deleted(key: RecordKey, deleted_at: datetime) -> None:
    database.execute_sql(_UPSERT.format(column="deleted_at", p=database.param),
                         (*key, _naive(deleted_at)))


def prune(older_than: timedelta) -> int:
    """Forget marks older than `older_than` (deletes and writes alike)."""
    cutoff = utcnow() - older_than
    p = database.param
    return database.execute_sql(
        f"DELETE FROM record_mark WHERE (deleted_at IS NULL OR deleted_at < {p}) "
        f"AND (triggered_at IS NULL OR triggered_at < {p})", (cutoff, cutoff)).rowcount
