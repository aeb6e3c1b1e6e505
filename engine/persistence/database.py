"""Database setup: SQLite in WAL mode with a busy timeout by default, PostgreSQL by URL.

`open_database(url)` binds every model and applies forward migrations: the schema version lives
in `schema_meta`; an old database file is upgraded in place, never recreated. Migrations are
append-only: add a function to MIGRATIONS, never edit a released one.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from peewee import Database, OperationalError, PostgresqlDatabase, SqliteDatabase, _savepoint

from engine.domain.errors import DatabaseError
from engine.persistence.fleet import FLEET_ROW_SHAPE, FLEET_ROW_SHAPE_KEY, rebuild_fleet_rows
from engine.persistence.models import (
    ALL_MODELS,
    RecordMark,
    SchemaMeta,
    StoreChange,
    WebhookRejection,
    database,
)
from engine.persistence.revisions import install_change_triggers

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 10_000,
    "foreign_keys": 1,
    "synchronous": "normal",
    "cache_size": -16_000,
}

DISK_FULL = "database or disk is full"


class _Savepoint(_savepoint):
    def rollback(self, begin: bool = True) -> None:
        if _in_transaction(self.db):
            super().rollback(begin)


def _in_transaction(db: Database) -> bool:
    return bool(getattr(db.connection(), "in_transaction", True))


class Sqlite(SqliteDatabase):
    """SqliteDatabase that keeps the real error of a failed write transaction.

    On some errors (SQLITE_FULL: "database or disk is full", SQLITE_IOERR, SQLITE_NOMEM) SQLite
    rolls the transaction back itself; peewee then issues ROLLBACK (or ROLLBACK TO SAVEPOINT) on
    its way out, which fails with "cannot rollback - no transaction is active" and replaces the
    error that matters. With nothing left to roll back, the rollback is skipped here instead.
    """

    def rollback(self) -> None:
        if self.is_closed() or _in_transaction(self):
            super().rollback()

    def savepoint(self) -> _savepoint:
        return _Savepoint(self)


def database_fault(error: BaseException) -> str | None:
    """The operator's wording of a database failure they must act on (the disk is full), or
    None for any other error. Looks through the error's causes too."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return None
        text = str(seen).lower()
        code = getattr(getattr(seen, "orig", None) or seen, "pgcode", None)
        if (DISK_FULL in text or "no space left on device" in text
                or "could not extend file" in text or code == "53100"):
            return (f"{DISK_FULL}: free space where the database lives; what failed is "
                    "retried by itself once there is room (while `shopsync serve` or the "
                    "dashboard runs)")
        seen = seen.__cause__ or seen.__context__
    return None


def database_has_room(minimum: int = 1 << 20) -> bool:
    """Whether the SQLite database's filesystem has `minimum` bytes free (PostgreSQL, or a
    filesystem that cannot say: True). A cheap check before retrying work a full disk stopped."""
    if not isinstance(database.obj, SqliteDatabase) or database.obj.database == ":memory:":
        return True
    try:
        stats = os.statvfs(Path(database.obj.database).parent)
    except OSError:
        return True
    return stats.f_bavail * stats.f_frsize >= minimum


PROBE_BUDGET = 0.1  # seconds of `PRAGMA quick_check` work one probe may spend


def probe_database() -> str | None:
    """A cheap integrity probe for /healthz: None when the database reads, else a one-line
    reason ("database corrupt: …", "database unreadable: …").

    SQLite: a fresh read-only connection (no page cache that still holds the pages as they
    were) reads the schema version, then runs `PRAGMA quick_check` for at most PROBE_BUDGET
    seconds (a large database is checked as far as the budget goes; a probe cut short by the
    budget with nothing wrong so far passes). PostgreSQL: `SELECT 1` and the schema version.
    """
    db = database.obj
    if isinstance(db, SqliteDatabase) and db.database != ":memory:":
        return _probe_sqlite(db.database)
    try:
        db.execute_sql("SELECT 1").fetchone()
        schema_version(db)
    except Exception as error:
        return f"database unreadable: {_one_line(error)}"
    return None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]


def _probe_sqlite(path: str) -> str | None:
    if not Path(path).exists():
        return f"database unreadable: {path} is missing"
    try:
        connection = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=2)
    except sqlite3.Error as error:
        return f"database unreadable: {_one_line(error)}"
    try:
        connection.execute("SELECT value FROM schema_meta WHERE key = 'schema_version'"
                           ).fetchone()
        deadline = time.monotonic() + PROBE_BUDGET
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        rows = connection.execute("PRAGMA quick_check(1)").fetchall()
    except sqlite3.OperationalError as error:
        message = str(error)
        if "interrupted" in message or "locked" in message:
            return None  # the budget ran out, or busy: nothing wrong found
        return f"database unreadable: {_one_line(error)}"
    except sqlite3.DatabaseError as error:
        return f"database corrupt: {_one_line(error)}"
    finally:
        connection.close()
    if rows and rows[0][0] != "ok":
        return f"database corrupt: {_one_line(Exception(rows[0][0]))}"
    return None


def _migration_1(db: Database) -> None:
    db.create_tables(ALL_MODELS, safe=True)


def _migration_2(db: Database) -> None:
    """webhook_receipt.body_digest: deliveries are deduped by what the signature covers."""
    columns = {c.name for c in db.get_columns("webhook_receipt")}
    if "body_digest" not in columns:
        db.execute_sql("ALTER TABLE webhook_receipt ADD COLUMN body_digest VARCHAR(255)")
    db.execute_sql("CREATE INDEX IF NOT EXISTS webhook_receipt_body_digest "
                   "ON webhook_receipt (body_digest)")


def _migration_3(db: Database) -> None:
    """The store change log and its triggers (the fleet's "changed since" read)."""
    db.create_tables([StoreChange], safe=True)
    install_change_triggers(db)


def _migration_4(db: Database) -> None:
    """entity_sync.progress_info: the running sync's phase, rate and ETA."""
    columns = {c.name for c in db.get_columns("entity_sync")}
    if "progress_info" not in columns:
        db.execute_sql("ALTER TABLE entity_sync ADD COLUMN progress_info TEXT")


def _migration_5(db: Database) -> None:
    """State several serve processes must share: record marks (webhook tombstones and write
    times) and when each store's webhook subscriptions were last re-asserted."""
    db.create_tables([RecordMark], safe=True)
    columns = {c.name for c in db.get_columns("store")}
    if "webhooks_asserted_at" not in columns:
        db.execute_sql("ALTER TABLE store ADD COLUMN webhooks_asserted_at "
                       + ("TIMESTAMP" if isinstance(db, PostgresqlDatabase) else "DATETIME"))


def _migration_6(db: Database) -> None:
    """entity_sync.full_failed_at / full_error: a failed full sync stays visible until a full
    sync of that entity succeeds (an incremental one does not repair drift)."""
    columns = {c.name for c in db.get_columns("entity_sync")}
    stamp = "TIMESTAMP" if isinstance(db, PostgresqlDatabase) else "DATETIME"
    if "full_failed_at" not in columns:
        db.execute_sql(f"ALTER TABLE entity_sync ADD COLUMN full_failed_at {stamp}")
    if "full_error" not in columns:
        db.execute_sql("ALTER TABLE entity_sync ADD COLUMN full_error TEXT")


def _migration_7(db: Database) -> None:
    """The count check: each entity's last counts (entity_sync.count_check) and when the store
    was last counted (store.counts_checked_at, the schedule's reference)."""
    columns = {c.name for c in db.get_columns("entity_sync")}
    if "count_check" not in columns:
        db.execute_sql("ALTER TABLE entity_sync ADD COLUMN count_check TEXT")
    columns = {c.name for c in db.get_columns("store")}
    if "counts_checked_at" not in columns:
        db.execute_sql("ALTER TABLE store ADD COLUMN counts_checked_at "
                       + ("TIMESTAMP" if isinstance(db, PostgresqlDatabase) else "DATETIME"))


def _migration_8(db: Database) -> None:
    """entity_sync.count_drift / count_moved_at (indexed): the count check's verdict and
    Shopify's moved count, typed, so /metrics and Troubleshoot read only the rows they need."""
    columns = {c.name for c in db.get_columns("entity_sync")}
    stamp = "TIMESTAMP" if isinstance(db, PostgresqlDatabase) else "DATETIME"
    if "count_drift" not in columns:
        db.execute_sql("ALTER TABLE entity_sync ADD COLUMN count_drift INTEGER")
    if "count_moved_at" not in columns:
        db.execute_sql(f"ALTER TABLE entity_sync ADD COLUMN count_moved_at {stamp}")
    db.execute_sql("CREATE INDEX IF NOT EXISTS entity_sync_count_drift "
                   "ON entity_sync (count_drift)")
    db.execute_sql("CREATE INDEX IF NOT EXISTS entity_sync_count_moved_at "
                   "ON entity_sync (count_moved_at)")


def _migration_9(db: Database) -> None:
    """webhook_rejection: refused webhook deliveries counted per store, topic and hour."""
    db.create_tables([WebhookRejection], safe=True)


def _migration_10(db: Database) -> None:
    """SQLite: fleet_row, each store's summary row as JSON text, kept by the change triggers
    (filled, and the triggers extended, by `_sync_fleet_rows`). PostgreSQL reads the fleet
    live (engine.persistence.fleet says why) and has no such table. The table is derived data:
    `_sync_fleet_rows` makes it again, in the shape fleet.py gives it today, whenever that
    shape changes."""
    if not isinstance(db, PostgresqlDatabase):
        db.execute_sql("CREATE TABLE IF NOT EXISTS fleet_row "
                       "(store_id INTEGER PRIMARY KEY, body TEXT NOT NULL)")


MIGRATIONS: list[Callable[[Database], None]] = [
    _migration_1, _migration_2, _migration_3, _migration_4, _migration_5, _migration_6,
    _migration_7, _migration_8, _migration_9, _migration_10,
]
SCHEMA_VERSION = len(MIGRATIONS)


def _sqlite(path: str) -> SqliteDatabase:
    if path != ":memory:":
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        if file.exists() and file.stat().st_size == 0 and not Path(f"{path}-wal").exists():
            # An empty file where a database was (a failed copy, a full disk): report it rather
            # than silently starting a new, empty database in its place. A new database is
            # created only where there is no file at all.
            raise DatabaseError(
                f"the database file {path} is empty (0 bytes); restore it from a backup, or "
                "delete it to start with a new database"
            )
        if not file.exists():
            fd = os.open(file, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
        os.chmod(file, 0o600)
    return Sqlite(path, pragmas=SQLITE_PRAGMAS, timeout=10, check_same_thread=False)


def make_database(url: str) -> Database:
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else parsed.path
        return _sqlite(path or ":memory:")
    if parsed.scheme in ("postgres", "postgresql"):
        _require_postgres_driver()
        try:
            port = parsed.port or 5432
        except ValueError:
            raise DatabaseError(
                f"invalid port in database URL {redact_url(url)}"
            ) from None
        return PostgresqlDatabase(
            parsed.path.lstrip("/"),
            user=parsed.username,
            password=parsed.password,
            host=parsed.hostname,
            port=port,
            autorollback=True,
        )
    raise DatabaseError(f"unsupported database URL scheme {parsed.scheme!r} (sqlite or postgresql)")


POSTGRES_DRIVER_MISSING = (
    "PostgreSQL needs its driver, which is not installed: install shopsync with the postgres "
    "extra (pip install 'shopsync[postgres]', or pipx install 'shopsync[postgres]')"
)


def _require_postgres_driver() -> None:
    try:
        import psycopg2  # noqa: F401 - only whether it can be imported
    except ImportError:
        raise DatabaseError(POSTGRES_DRIVER_MISSING) from None


def schema_version(db: Database) -> int:
    if not db.table_exists(SchemaMeta._meta.table_name):
        return 0
    row = SchemaMeta.get_or_none(SchemaMeta.key == "schema_version")
    return int(row.value) if row else 0


def migrate(db: Database) -> int:
    """Apply every migration newer than the database's version; returns the new version."""
    with db.atomic():
        if isinstance(db, PostgresqlDatabase):  # several engines starting at once: one migrates
            db.execute_sql("SELECT pg_advisory_xact_lock(hashtext('shopsync:migrate'))")
        current = schema_version(db)
        if current > SCHEMA_VERSION:
            raise DatabaseError(
                f"database schema version {current} is newer than this shopsync "
                f"({SCHEMA_VERSION}); upgrade shopsync"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version - 1](db)
            SchemaMeta.insert(key="schema_version", value=str(version)).on_conflict(
                conflict_target=[SchemaMeta.key], preserve=[SchemaMeta.value]
            ).execute()
        _sync_fleet_rows(db)
    return SCHEMA_VERSION


def _sync_fleet_rows(db: Database) -> None:
    """SQLite: when the fleet row's shape (engine.persistence.fleet) is not the one the
    database was built with (a new database, an upgraded shopsync), re-create the triggers
    that keep `fleet_row` and rewrite every row. One indexed lookup otherwise."""
    if isinstance(db, PostgresqlDatabase):
        return
    stored = SchemaMeta.get_or_none(SchemaMeta.key == FLEET_ROW_SHAPE_KEY)
    if stored is not None and stored.value == FLEET_ROW_SHAPE:
        return
    try:
        db.execute_sql("SELECT json_array(1)")
    except OperationalError as error:  # built without JSON1 (before 3.38, where it was optional)
        raise DatabaseError(
            f"this SQLite ({sqlite3.sqlite_version}) has no JSON functions; shopsync needs "
            "SQLite 3.38 or later, or one built with JSON1") from error
    install_change_triggers(db, fleet_rows=True)
    rebuild_fleet_rows()
    SchemaMeta.insert(key=FLEET_ROW_SHAPE_KEY, value=FLEET_ROW_SHAPE).on_conflict(
        conflict_target=[SchemaMeta.key], preserve=[SchemaMeta.value]).execute()


def open_database(url: str) -> Database:
    """Create the database for `url`, bind the models to it and migrate it."""
    db = make_database(url)
    database.initialize(db)
    try:
        db.connect(reuse_if_open=True)
        migrate(db)
    except DatabaseError:
        raise
    except Exception as error:  # peewee wraps driver errors; say which database failed
        raise DatabaseError(f"cannot open database {redact_url(url)}: {error}") from error
    return db


def write_transaction() -> AbstractContextManager[Any]:
    """`database.atomic()` that takes SQLite's write lock up front (BEGIN IMMEDIATE).

    A deferred SQLite transaction that reads and then writes fails at once with "database is
    locked" (SQLITE_BUSY_SNAPSHOT, no busy-timeout wait) when another connection wrote in
    between, which heartbeats and other stores' imports do all the time. Taking the lock first
    makes such a transaction wait its turn instead. PostgreSQL needs nothing.
    """
    if isinstance(database.obj, SqliteDatabase):
        return database.atomic(lock_type="IMMEDIATE")
    return database.atomic()


def transaction_lock(name: str) -> None:
    """Inside a write transaction: hold the lock called `name` until it ends.

    PostgreSQL runs writers concurrently, so a read-then-write (is this job already queued? was
    this webhook seen?) needs a lock to stay true until the commit: an advisory lock keyed by the
    name's hash (a collision only makes two unrelated writers wait for each other). SQLite's
    write transactions (BEGIN IMMEDIATE) are one at a time already.
    """
    if isinstance(database.obj, PostgresqlDatabase):
        database.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))


def try_session_lock(name: str) -> bool:
    """Take the lock called `name` for this connection if nobody holds it (PostgreSQL; always
    True on SQLite, where one process at a time is the deployment). Release with
    `release_session_lock` on the same connection (the same thread)."""
    if not isinstance(database.obj, PostgresqlDatabase):
        return True
    row = database.execute_sql("SELECT pg_try_advisory_lock(hashtext(%s))", (name,)).fetchone()
    return bool(row[0])


def release_session_lock(name: str) -> None:
    if isinstance(database.obj, PostgresqlDatabase):
        database.execute_sql("SELECT pg_advisory_unlock(hashtext(%s))", (name,))


def execute_many(sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """One statement over many rows on the bound database, the fast way for each driver.

    sqlite3's executemany runs in C; psycopg2's sends one round trip per row, so PostgreSQL
    gets `execute_batch` (hundreds of rows per round trip) instead.
    """
    cursor = database.cursor()
    if isinstance(database.obj, PostgresqlDatabase):
        from psycopg2.extras import execute_batch

        execute_batch(cursor, sql, rows, page_size=500)
    else:
        cursor.executemany(sql, rows)


def redact_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url
