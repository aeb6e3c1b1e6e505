"""Syncs per second with 1, 2 and 4 `shopsync worker` processes on latency-bound jobs.

    python3 dev.py bench -k worker_scaling

The simulator runs in its own process with `latency_ms` 200 on every shop (each API call waits
200 ms, as a distant Shopify would), the shops are tiny, so a sync's time is its round trips,
not CPU. For each worker count a fresh database gets STORES stores with a full sync queued
(4 jobs each), then N `shopsync worker` processes (SHOPSYNC_MAX_CONCURRENT_STORES=4 each)
work the queue; the figure is jobs done per second, from the first worker's start to the last
job's end. Scaling is the ratio against one worker (ideal: 2x and 4x).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine import actions
from engine.config import load_settings
from engine.domain.jobs import ACTIVE
from engine.persistence.models import Job
from engine.persistence.runtime import open_runtime
from engine.simulator import DEMO_API_KEY, DEMO_API_SECRET

REPO = Path(__file__).resolve().parents[2]
STORES = int(os.environ.get("BENCH_SCALING_STORES", "12"))
LATENCY_MS = 200


@pytest.fixture
def shops(simulator_process: str) -> Iterator[list[tuple[str, str]]]:
    sim = httpx.Client(base_url=simulator_process, timeout=30)
    made = []
    for i in range(STORES * 3):  # a fresh set of stores per worker count
        domain = f"scale-{i:03d}.myshopify.com"
        shop = sim.post("/_sim/shops", json={"domain": domain, "customers": 3, "orders": 3,
                                             "products": 3, "collections": 1}).json()
        made.append((domain, str(shop["access_token"])))
    for domain, _token in made:  # latency only after the shops exist
        sim.patch(f"/_sim/shops/{domain}", json={"latency_ms": LATENCY_MS})
    yield made
    sim.close()


@pytest.mark.timeout(900)
def test_syncs_per_second_with_1_2_and_4_workers(
    shops: list[tuple[str, str]], simulator_process: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    figures: dict[int, float] = {}
    for round_index, workers in enumerate((1, 2, 4)):
        home = tmp_path / f"home{workers}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSYNC_")}
        env.update(SHOPSYNC_HOME=str(home), SHOPSYNC_SHOPIFY_URL=simulator_process + "/{shop}",
                   SHOPSYNC_API_KEY=DEMO_API_KEY, SHOPSYNC_API_SECRET=DEMO_API_SECRET,
                   SHOPSYNC_BULK_POLL_INTERVAL="0.2", SHOPSYNC_POLL_INTERVAL="0.1",
                   SHOPSYNC_MAX_CONCURRENT_STORES="4", SHOPSYNC_LOG_LEVEL="WARNING",
                   PYTHONPATH=str(REPO))
        for key, value in env.items():
            if key.startswith("SHOPSYNC_"):
                monkeypatch.setenv(key, value)
        runtime = open_runtime(load_settings())
        actions.use_runtime(runtime)
        for domain, token in shops[round_index * STORES:(round_index + 1) * STORES]:
            actions.connect_token(domain, token, start_sync=True)
        jobs = Job.select().where(Job.state.in_(ACTIVE)).count()
        started = time.monotonic()
        processes = [
            subprocess.Popen([sys.executable, "-m", "tui.cli", "worker"], env=env, cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(workers)
        ]
        try:
            while Job.select().where(Job.state.in_(ACTIVE)).exists():
                assert time.monotonic() - started < 600, "the queue did not drain"
                time.sleep(0.1)
            seconds = time.monotonic() - started
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(30)
        failed = Job.select().where(Job.state != "done").count()
        assert failed == 0
        figures[workers] = jobs / seconds
        runtime.close()
    load = os.getloadavg()[0]
    print(f"\n[worker scaling] {STORES} stores x 4 syncs per worker count, simulator latency "
          f"{LATENCY_MS} ms per call (load average {load:.1f})")
    for workers, rate in figures.items():
        print(f"  {workers} worker(s): {rate:6.2f} syncs/s   scaling {rate / figures[1]:.2f}x")
