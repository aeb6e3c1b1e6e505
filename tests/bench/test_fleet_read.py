"""The engine's read of 10,000 store summaries, against what fetching their columns costs.

    python3 dev.py bench -k fleet_read        (or: pytest tests/bench/test_fleet_read.py -s)

The fleet is built as the TUI latency bench builds it (tests/tui/factories.bulk_fleet, then
each entity row given the times a real sync leaves), then given what health and count checks
leave (`_as_after_health_checks`): every store a readiness blob of six items and its own
last-checked time, some blobs unique to their store; done = total = records on every entity
row. Without that the rows are half as long and every readiness text the same, which flatters
any read that decodes them.

On SQLite a summary decodes its stored row on first use (engine.persistence.fleet,
_LazySummary): the read builds, per store, its id, domain, name and status (what the
dashboard filters, orders, counts and alerts on) and keeps the rest as bytes. So three
figures, each best of 7, in the same run:
- the engine read: `list_stores()` + `fleet_summary()`, what the dashboard's full read does
  (the "10,000 summaries" of issue 11's target: every store's head built, no row decoded);
- + a screenful: the same, then every field of the first FIRST_PAGE stores (what the
  dashboard draws from the read, the first screen of cards or table rows);
- + everything: the same, then every field of every store (what `list --json`, a sort by
  problems, records or last sync, or the troubleshoot screen use), decoded one at a time on
  first use, and decoded at once by `decode_all` (column-wise, GC paused) before use;
plus freeing the result and a generation-1 collection after each (the read pauses the GC and
hands its values to the old generation: the young collections must find nothing left over).
The floor: a plain sqlite3 connection fetching, with `fetchall`, the store and entity_sync
columns the summaries carry (two queries, no joins, no Python objects built from them).
Both given as process CPU time (what the read costs, whatever else the machine runs) and wall
time (what a caller waits). Target (issue 11): the engine read of 10,000 summaries <= 100 ms.
Printed, not asserted: two shared cores under other work double either figure.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import time
from collections.abc import Callable
from typing import Any

STORES = 10_000
REPEAT = 7

_FLOOR_SQL = (
    "SELECT id, domain, name, status, status_detail, readiness, last_checked_at, "
    "initial_sync_completed_at, paused, deleting, cat_customers, cat_email_consent, "
    "cat_sms_consent, cat_orders, cat_catalogue FROM store",
    "SELECT store_id, entity, state, records, done, total, last_synced_at, error, "
    "progress_at, started_at, progress_info, full_failed_at FROM entity_sync",
)


def _as_after_health_checks() -> None:
    """Give every store what its health and count checks leave: a readiness item per check
    (token rejected on every 13th store, a count mismatch with its own numbers on every 17th,
    so some blobs are unique to their store), a last-checked time of its own, and done = total
    = records on every entity row (a finished run leaves its bar's figures)."""
    from engine.domain.status import Check
    from engine.persistence.models import database

    def blob(**items: str) -> str:
        ok = '{"ok": true, "detail": null}'
        return "{" + ", ".join(f'"{check.value}": {items.get(check.value, ok)}'
                               for check in Check) + "}"

    mismatch = ('{"ok": false, "detail": "Orders: N here, 140 in Shopify", '
                '"entities": {"orders": "Orders: N here, 140 in Shopify"}}')
    database.execute_sql(
        "UPDATE store SET readiness = CASE WHEN id % 13 = 8 THEN ? "
        "WHEN id % 17 = 4 THEN replace(?, ' N ', ' ' || (1000 + id) || ' ') ELSE ? END, "
        "last_checked_at = strftime('%Y-%m-%d %H:%M:%f', 'now', "
        "'-' || (id * 13 % 3600) || ' seconds')",
        (blob(token_valid='{"ok": false, "detail": "Shopify rejected the access token"}'),
         blob(records_match=mismatch), blob()))
    database.execute_sql("UPDATE entity_sync SET done = records, total = records")
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _best(run: Callable[[], object]) -> tuple[float, float]:
    """The least process CPU time and the least wall time of REPEAT runs. Each run includes
    freeing what it made and the collection of the young generations its objects cause (when
    the read pauses the GC, the cost must not just move to the next collection)."""
    cpu, wall = [], []
    for _ in range(REPEAT):
        gc.collect()
        started, ticked = time.perf_counter(), time.process_time()
        run()
        gc.collect(1)
        cpu.append(time.process_time() - ticked)
        wall.append(time.perf_counter() - started)
    return min(cpu), min(wall)


def _every_field(stores: list[Any]) -> list[Any]:
    return [tuple(store) for store in stores]  # iterating a summary gives every field


def _decoded(stores: list[Any]) -> list[Any]:
    from engine.persistence.fleet import decode_all

    decode_all(stores)
    return stores


def test_fleet_read_against_the_raw_fetch(offline_runtime: Any) -> None:
    from engine.persistence.fleet import _LazySummary
    from engine.persistence.models import database
    from engine.persistence.reads import fleet_summary, list_stores
    from tests.bench.test_tui_latency import _as_after_real_syncs
    from tests.tui.factories import bulk_fleet
    from tui.screens.dashboard import FIRST_PAGE

    bulk_fleet(STORES)
    _as_after_real_syncs()
    _as_after_health_checks()
    stores = list_stores()
    assert len(stores) == STORES
    lazy = all(isinstance(store, _LazySummary) for store in stores)
    assert len({store.readiness for store in stores}) > 100  # some blobs are the store's own
    del stores
    raw = sqlite3.connect(database.obj.database)
    try:
        floor_cpu, floor_wall = _best(
            lambda: [raw.execute(sql).fetchall() for sql in _FLOOR_SQL])
        read_cpu, read_wall = _best(lambda: (list_stores(), fleet_summary()))
        page_cpu, page_wall = _best(
            lambda: _every_field(list_stores()[:FIRST_PAGE]) and fleet_summary())
        all_cpu, all_wall = _best(lambda: _every_field(list_stores()) and fleet_summary())
        batch_cpu, batch_wall = _best(lambda: _every_field(_decoded(list_stores()))
                                      and fleet_summary())
        again_cpu, again_wall = _best(
            lambda: [raw.execute(sql).fetchall() for sql in _FLOOR_SQL])
    finally:
        raw.close()
    floor_cpu, floor_wall = min(floor_cpu, again_cpu), min(floor_wall, again_wall)

    def line(label: str, cpu: float, wall: float) -> str:
        return (f"  {label:44s} CPU {cpu * 1000:6.1f} ms   wall {wall * 1000:6.1f} ms   "
                f"({cpu / floor_cpu:.2f}x / {wall / floor_wall:.2f}x the floor)\n")

    print(f"\n[fleet read] {STORES:,} stores (load average {os.getloadavg()[0]:.1f}); "
          + ("each summary decodes its row on first use:\n" if lazy else
             "summaries built whole by the read:\n")
          + line("engine read (list_stores + fleet_summary)", read_cpu, read_wall)
          + line(f"  + every field of a screenful ({FIRST_PAGE})", page_cpu, page_wall)
          + line(f"  + every field of all {STORES:,}", all_cpu, all_wall)
          + line("  + decode_all first, then every field", batch_cpu, batch_wall)
          + f"  {'raw sqlite3 fetch of the same columns':44s} CPU {floor_cpu * 1000:6.1f} ms   "
          f"wall {floor_wall * 1000:6.1f} ms\n"
          f"  target: engine read <= 100 ms")
