"""Dashboard latency with 1,000 and 10,000 stores, as a ratio against a bare Textual app.

    python3 dev.py bench -k tui_latency        (or: pytest tests/bench/test_tui_latency.py -s)

Measured in the same run, the same way, for the dashboard and for the floor (a bare app: one
Static in a Screen):
- app ready: from calling `App.run_test` to its context being entered (screen mounted);
- first frame: from calling `App.run_test` to the first idle screen; for the dashboard also
  to the first frame that shows the stores (the fleet is read in a thread worker after the
  first paint, and that thread competes for the GIL, so first idle includes part of the read);
- key latency: the mean time of `pilot.press` for an arrow key (Pilot's own wait is part of
  both figures, which is why only the ratio means something).
The engine's own read of the fleet (list_stores + fleet_summary, outside any app) is printed
too. The dashboard shows a screenful of stores (and the fleet's counts) before it has read the
whole fleet: "first frame with stores" is that frame, "whole fleet read" the moment every store
is in memory. Key latency is measured after the whole fleet is read, as is the latency of the
status filter (`f`, five presses: every status) and of typing a text filter ("/", "1", "2").
Targets: first frame with stores <= 3x, key latency <= 1.3x the bare app.
Stores are inserted with executemany (tests/tui/factories.bulk_fleet).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Static

PRESSES = 30
WARM_UP = 3
SIZE = (120, 40)


class BareApp(App[None]):
    """The floor: a Static in a Screen."""

    def compose(self) -> ComposeResult:
        yield Static("bare")


async def measure(app: App[Any], keys: tuple[str, ...], ready: Any = None,
                  complete: Any = None, filter_keys: tuple[str, ...] = ()) -> dict[str, float]:
    """First idle, first data frame (when `ready()` turns true), the whole fleet read (when
    `complete()` turns true), mean key latency and mean filter-key latency (s)."""
    figures: dict[str, float] = {}
    start = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        figures["ready"] = time.perf_counter() - start
        await pilot.pause()
        figures["first_idle"] = time.perf_counter() - start
        if ready is not None:
            while not ready():
                await pilot.pause(0.005)
            await pilot.pause()
        figures["first_data"] = time.perf_counter() - start
        if complete is not None:
            while not complete():
                await pilot.pause(0.005)
            await pilot.pause()
        figures["complete"] = time.perf_counter() - start
        filter_times = []
        for key in filter_keys:
            begin = time.perf_counter()
            await pilot.press(key)
            filter_times.append(time.perf_counter() - begin)
        if filter_times:
            figures["filter"] = statistics.mean(filter_times)
            await pilot.press("escape", "escape")
        for key in keys[:WARM_UP]:
            await pilot.press(key)
        times = []
        for index in range(PRESSES):
            key = keys[index % len(keys)]
            begin = time.perf_counter()
            await pilot.press(key)
            times.append(time.perf_counter() - begin)
        figures["key"] = statistics.mean(times)
    return figures


@pytest.mark.parametrize("stores", [1_000, 10_000])
@pytest.mark.parametrize("view", ["cards", "table"])
async def test_dashboard_latency_against_a_bare_app(offline_runtime, stores: int,
                                                    view: str) -> None:
    from engine.persistence.reads import fleet_summary, list_stores
    from tests.tui.factories import bulk_fleet, frozen_clock
    from tui.app import ShopsyncApp

    def dashboard() -> ShopsyncApp:
        return ShopsyncApp(offline_runtime, clock=frozen_clock, poll=False,
                           embedded_runner=False, theme="textual-dark")

    # Warm up (imports, CSS parsing, first use of the database) so neither side pays for it.
    await measure(BareApp(), ("right",))
    await measure(dashboard(), ("right",))

    begin = time.perf_counter()
    bulk_fleet(stores)
    insert = time.perf_counter() - begin
    begin = time.perf_counter()
    list_stores(), fleet_summary()
    read = time.perf_counter() - begin  # the engine's read of the fleet, outside any app
    begin = time.perf_counter()
    list_stores()
    read = min(read, time.perf_counter() - begin)

    floor = await measure(BareApp(), ("right", "down"))
    app = dashboard()
    if view == "table":
        app.dashboard.view = "table"
    keys = ("right", "down", "left", "up") if view == "cards" else ("down", "up")
    # The status filter (f cycles it) and the text filter ("/" then a digit of the names).
    filters = ("f", "f", "f", "f", "f", "slash", "1", "2")
    dash = await measure(app, keys, ready=lambda: app.dashboard.live_loaded,
                         complete=lambda: len(app.dashboard.all_stores) == stores,
                         filter_keys=filters)
    assert len(app.dashboard.all_stores) == stores

    print(f"\n[tui latency] {stores:,} stores, {view} view (insert {insert:.2f} s, "
          f"engine read of every summary {read * 1000:.0f} ms, target <= 100 ms)")
    rows = [("app ready (run_test entered)", dash["ready"], floor["ready"]),
            ("first frame (first idle)", dash["first_idle"], floor["first_idle"]),
            ("first frame with stores", dash["first_data"], floor["first_data"]),
            (f"whole fleet read ({stores:,})", dash["complete"], floor["first_data"]),
            (f"key latency (mean of {PRESSES})", dash["key"], floor["key"]),
            ("filter key latency (mean of 8)", dash["filter"], floor["key"])]
    for label, value, base in rows:
        print(f"  {label:<28} dashboard {value * 1000:8.1f} ms   bare {base * 1000:7.1f} ms"
              f"   ratio {value / base:5.2f}x")
