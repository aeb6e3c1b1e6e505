"""A full disk for the database, by SQLite's own size cap (not a test module).

`PRAGMA max_page_count` makes SQLite refuse to grow the database file past a number of pages with
the very error a full filesystem gives (SQLITE_FULL, "database or disk is full"). The cap is per
connection, so `DiskLimit` wraps `sqlite3.connect` to cap every connection opened from now on
and keeps them all (for the test's length), so that the cap can be lifted again ("space
returns") on every one of them.

In a subprocess the same happens through `disk_full_site/sitecustomize.py` next to this file:
put that folder on PYTHONPATH and set SHOPSYNC_TEST_MAX_PAGES.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import pytest

BIG = 2_147_483_646


class DiskLimit:
    def __init__(self) -> None:
        self.pages = BIG
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []

    def install(self, monkeypatch: pytest.MonkeyPatch, *existing: sqlite3.Connection) -> None:
        original = sqlite3.connect

        def connect(*args: Any, **kw: Any) -> sqlite3.Connection:
            connection = original(*args, **kw)
            self._apply(connection)
            return connection

        monkeypatch.setattr(sqlite3, "connect", connect)
        for connection in existing:
            self._apply(connection)

    def _apply(self, connection: sqlite3.Connection) -> None:
        with self._lock:
            self._connections.append(connection)
            connection.execute(f"PRAGMA max_page_count = {self.pages}")

    def fill(self, connection: sqlite3.Connection) -> None:
        """The disk is full now: no connection may grow the file past its current size."""
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        self.set(pages)

    def lift(self) -> None:
        """Space returns."""
        self.set(BIG)

    def set(self, pages: int) -> None:
        with self._lock:
            self.pages = pages
            for connection in list(self._connections):
                try:
                    connection.execute(f"PRAGMA max_page_count = {pages}")
                except sqlite3.ProgrammingError:  # closed meanwhile
                    pass
