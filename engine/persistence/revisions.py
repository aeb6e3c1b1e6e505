"""The store change log's triggers: every write to a store, its entity rows or its jobs logs it.

Triggers rather than Python calls, so no writer can forget (raw executemany imports, cascaded
deletes and other processes included). The log (`store_change`, model StoreChange) is read by
engine.persistence.fleet. Job updates are logged only when the state (or store) changes:
heartbeats and lease extensions change nothing a fleet view shows.

On SQLite the same triggers also rewrite the store's `fleet_row` (its summary as JSON text,
engine.persistence.fleet), once the database has that table (`install_change_triggers(db,
fleet_rows=True)`, which engine.persistence.database runs after the migrations).
"""

from __future__ import annotations

from peewee import Database, PostgresqlDatabase

_SQLITE_LOG = (
    "INSERT INTO store_change (store_id, xid, at) VALUES ({row}, 0, datetime('now'))"
)
_SQLITE_TRIGGERS = {
    # name: (event, table, the store id, condition)
    "store_change_store_insert": ("INSERT", "store", "NEW.id", ""),
    "store_change_store_update": ("UPDATE", "store", "NEW.id", ""),
    "store_change_store_delete": ("DELETE", "store", "OLD.id", ""),
    "store_change_entity_insert": ("INSERT", "entity_sync", "NEW.store_id", ""),
    "store_change_entity_update": ("UPDATE", "entity_sync", "NEW.store_id", ""),
    "store_change_entity_delete": ("DELETE", "entity_sync", "OLD.store_id", ""),
    "store_change_job_insert": ("INSERT", "job", "NEW.store_id", "NEW.store_id IS NOT NULL"),
    "store_change_job_update": ("UPDATE OF state, store_id", "job", "NEW.store_id",
                                "NEW.store_id IS NOT NULL"),
    "store_change_job_delete": ("DELETE", "job", "OLD.store_id", "OLD.store_id IS NOT NULL"),
}

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION shopsync_store_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed integer;
BEGIN
    IF TG_TABLE_NAME = 'store' THEN
        IF TG_OP = 'DELETE' THEN changed := OLD.id; ELSE changed := NEW.id; END IF;
    ELSE
        IF TG_OP = 'DELETE' THEN changed := OLD.store_id; ELSE changed := NEW.store_id; END IF;
    END IF;
    IF changed IS NOT NULL THEN
        INSERT INTO store_change (store_id, xid, at)
        VALUES (changed, pg_current_xact_id()::text::bigint, now() AT TIME ZONE 'UTC');
    END IF;
    RETURN NULL;
END $$
"""
_PG_TRIGGERS = {
    "store_change_store": "INSERT OR UPDATE OR DELETE ON store",
    "store_change_entity": "INSERT OR UPDATE OR DELETE ON entity_sync",
    "store_change_job": "INSERT OR DELETE OR UPDATE OF state, store_id ON job",
}


def install_change_triggers(db: Database, *, fleet_rows: bool = False) -> None:
    """Create (or re-create) the triggers; idempotent. `fleet_rows` (SQLite): also keep the
    `fleet_row` table up to date."""
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql(_PG_FUNCTION)
        for name, when in _PG_TRIGGERS.items():
            table = when.rsplit(" ", 1)[1]
            db.execute_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            db.execute_sql(
                f"CREATE TRIGGER {name} AFTER {when} FOR EACH ROW "
                "EXECUTE FUNCTION shopsync_store_change()"
            )
        db.execute_sql("CREATE INDEX IF NOT EXISTS store_change_xid ON store_change (xid)")
        return
    from engine.persistence.fleet import fleet_row_sql

    for name, (event, table, row, condition) in _SQLITE_TRIGGERS.items():
        when = f" WHEN {condition}" if condition else ""
        body = [_SQLITE_LOG.format(row=row), *(fleet_row_sql(row) if fleet_rows else ())]
        db.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
        db.execute_sql(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when} "
            f"BEGIN {'; '.join(body)}; END"
        )
