"""A run's bookkeeping (Importer.finish / IdMarker.finish) reads every row of the store's tables
once; on SQLite it does so with a small page cache (importer.SCAN_CACHE_KIB), so the pool thread's
connection that ran it does not keep the tables it read (16 MB of worker RSS after an import of
100,000 orders, most of the worker's growth), and the connection's own cache size comes back.

SQLite's memory is read with sqlite3_memory_used from the library Python's sqlite3 module uses
(ctypes): a library of another version is not that one, and the test says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from engine.persistence.models import database
from engine.persistence.runtime import Runtime
from engine.sync import importer as importer_module
from engine.sync.importer import IdMarker, Importer
from tests.engine.livedata_support import store_row
from tests.engine.test_import_stream import _export

MB = 2**20


def _sqlite_library() -> Any:
    name = ctypes.util.find_library("sqlite3")
    library = ctypes.CDLL(name) if name else None
    if library is not None:
        library.sqlite3_libversion.restype = ctypes.c_char_p
        library.sqlite3_memory_used.restype = ctypes.c_int64
        if library.sqlite3_libversion().decode() == sqlite3.sqlite_version:
            return library
    message = "the SQLite library Python's sqlite3 module uses cannot be loaded with ctypes"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _in_fresh_thread(work: Callable[[], Any], library: Any) -> tuple[Any, int, int]:
    """Run `work` in a new thread (its own connection, as asyncio.to_thread's pool threads
    have), with the connection still open after: what it returned, the SQLite memory it added,
    and that connection's cache_size after."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        before = pool.submit(lambda: (database.execute_sql("SELECT 1"),
                                      library.sqlite3_memory_used())[1]).result()
        result = pool.submit(work).result()
        grown = library.sqlite3_memory_used() - before
        size = pool.submit(
            lambda: database.execute_sql("PRAGMA cache_size").fetchone()[0]).result()
        pool.submit(database.close).result()
    return result, grown, size


@pytest.mark.parametrize("scan_kib", [importer_module.SCAN_CACHE_KIB, 16_000])
def test_finish_keeps_no_page_cache_of_what_it_read(
    offline_runtime: Runtime, monkeypatch: pytest.MonkeyPatch, scan_kib: int
) -> None:
    library = _sqlite_library()
    # 16,000 KiB is the connection's own size: the old behaviour, to show the test sees it
    monkeypatch.setattr(importer_module, "SCAN_CACHE_KIB", scan_kib)
    configured = database.execute_sql("PRAGMA cache_size").fetchone()[0]
    store = store_row(f"finish-{scan_kib}.myshopify.com")
    lines = _export(6000)  # ~6 MB of tables and indexes
    sink = Importer(store.id, "orders", 1)
    sink.feed_many(lines)
    sink.flush()
    summary, grown, size = _in_fresh_thread(lambda: sink.finish("full", 0), library)
    assert summary.created == 6000 and summary.records == 6000
    assert size == configured  # the connection's cache size came back
    if scan_kib == importer_module.SCAN_CACHE_KIB:
        assert grown < 2 * MB, grown
    else:
        assert grown > 4 * MB, grown  # the page cache kept what the scans read

    marker = IdMarker(store.id, "orders", 2)  # a reconcile's bookkeeping, the same way
    marker.feed_many(lines[:30])
    summary, grown, size = _in_fresh_thread(marker.finish, library)
    assert summary.records == 10 and size == configured
    if scan_kib == importer_module.SCAN_CACHE_KIB:
        assert grown < 2 * MB, grown
