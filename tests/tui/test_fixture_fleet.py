"""The `fleet` fixture copies a database demo_fleet() was written into once per test process:
the copy must hold exactly what writing demo_fleet() into the test's own database gives."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.tui.factories import demo_fleet


def _rows(connection: sqlite3.Connection) -> dict[str, list[tuple]]:
    tables = [name for (name,) in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    rows = {}
    for table in tables:
        columns = [c[1] for c in connection.execute(f'PRAGMA table_info("{table}")')]
        if table == "store_change":  # the change log stamps its rows with the time of writing
            columns.remove("at")
        names = ", ".join(f'"{c}"' for c in columns)
        rows[table] = sorted(connection.execute(f'SELECT {names} FROM "{table}"').fetchall(),
                             key=repr)
    return rows


def test_the_copied_fleet_is_what_writing_it_gives(
        offline_runtime: Any, demo_fleet_database: tuple[Path, dict[str, str]]) -> None:
    written = demo_fleet()
    path, domains = demo_fleet_database
    assert domains == {key: store.domain for key, store in written.items()}
    copied = sqlite3.connect(path)
    try:
        assert _rows(copied) == _rows(offline_runtime.db.connection())
    finally:
        copied.close()
    schema = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
    assert (sqlite3.connect(path).execute(schema).fetchall()
            == offline_runtime.db.execute_sql(schema).fetchall())


def test_the_fleet_fixture_gives_the_copied_stores(fleet: dict[str, Any]) -> None:
    from engine.persistence.models import EntitySync, Store

    assert {key: store.domain for key, store in fleet.items()} == {
        key: Store.get_by_id(store.id).domain for key, store in fleet.items()}
    assert EntitySync.select().count() == 4 * len(fleet)
