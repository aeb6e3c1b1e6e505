"""A full disk for a shopsync subprocess (tests only): with this folder on PYTHONPATH and
SHOPSYNC_TEST_MAX_PAGES set, every SQLite connection may grow the database file to that many pages
and no further, failing with SQLITE_FULL ("database or disk is full") as a full filesystem does."""

import os
import sqlite3

_PAGES = os.environ.get("SHOPSYNC_TEST_MAX_PAGES")

if _PAGES:
    _connect = sqlite3.connect

    def _capped(*args, **kw):  # type: ignore[no-untyped-def] # a test shim, no API
        connection = _connect(*args, **kw)
        connection.execute(f"PRAGMA max_page_count = {int(_PAGES)}")
        return connection

    sqlite3.connect = _capped
