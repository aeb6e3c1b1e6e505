"""Peak RSS of a `shopsync worker` importing 100,000 (and 1,000,000) orders, against its idle RSS.

    python3 dev.py bench -k worker_memory                    (100,000 orders)
    SHOPSYNC_BENCH_MILLION=1 python3 dev.py bench -k worker_memory   (also 1,000,000: minutes)

The simulator runs in its own process and serves a shop of N orders (with their line items) as
a bulk export; the worker is the real `shopsync worker` in its own process, on its own SQLite
home. The worker is started first and left to settle with nothing to do: its idle RSS is the
highest of the samples taken over IDLE_SECONDS after it settled. Then one orders sync is queued
and the worker's RSS (psutil, every 20 ms) is sampled until the job ends: the figure is the peak
and its growth over idle. Targets (issue 11): peak <= 150 MB, and growth <= 20 MB at both sizes.
The figure is printed, with the load average; the bench fails only when the import does not
complete or imports a wrong count (the targets are reported, not asserted, so a miss is measured
rather than hidden behind a failure).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from engine import actions
from engine.config import load_settings
from engine.domain.jobs import ACTIVE
from engine.jobs.queue import enqueue
from engine.persistence.models import Job, Order, Store
from engine.persistence.runtime import open_runtime
from engine.simulator import DEMO_API_KEY, DEMO_API_SECRET
from tests.bench.rss import RssSampler

REPO = Path(__file__).resolve().parents[2]
SIZES = [100_000] + ([1_000_000] if os.environ.get("SHOPSYNC_BENCH_MILLION") else [])
IDLE_SECONDS = 2.0
PEAK_TARGET_MB = 150
GROWTH_TARGET_MB = 20
MB = 2**20


def _sample_for(process: psutil.Process, seconds: float) -> int:
    sampler = RssSampler(process)
    sampler.start()
    time.sleep(seconds)
    return sampler.stop()


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("orders", SIZES)
def test_worker_memory_importing_orders(orders: int, simulator_process: str,
                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    domain = f"memory-{orders}.myshopify.com"
    sim = httpx.Client(base_url=simulator_process, timeout=120, trust_env=False)
    created = sim.post("/_sim/shops", json={"domain": domain, "orders": orders, "customers": 100,
                                            "products": 100, "collections": 5,
                                            "bulk_rate": 1e12})
    assert created.status_code == 201, created.text
    token = str(created.json()["access_token"])

    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSYNC_")}
    env.update(SHOPSYNC_HOME=str(tmp_path / "home"),
               SHOPSYNC_SHOPIFY_URL=simulator_process + "/{shop}",
               SHOPSYNC_API_KEY=DEMO_API_KEY, SHOPSYNC_API_SECRET=DEMO_API_SECRET,
               SHOPSYNC_BULK_POLL_INTERVAL="0.2", SHOPSYNC_POLL_INTERVAL="0.1",
               SHOPSYNC_LOG_LEVEL="WARNING", PYTHONPATH=str(REPO))
    for key, value in env.items():
        if key.startswith("SHOPSYNC_"):
            monkeypatch.setenv(key, value)
    runtime = open_runtime(load_settings())
    actions.use_runtime(runtime)
    summary = actions.connect_token(domain, token, start_sync=False)
    store = Store.get_by_id(summary.id)

    worker = subprocess.Popen([sys.executable, "-m", "tui.cli", "worker"], env=env, cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process = psutil.Process(worker.pid)
        # Settled: whatever the connect queued is done, and the RSS stopped moving.
        deadline = time.monotonic() + 120
        while Job.select().where(Job.state.in_(ACTIVE)).exists():
            assert time.monotonic() < deadline, "the worker never drained the connect's jobs"
            time.sleep(0.1)
        previous = 0
        while abs(process.memory_info().rss - previous) > MB // 2:
            previous = process.memory_info().rss
            time.sleep(0.5)
        idle = _sample_for(process, IDLE_SECONDS)

        sampler = RssSampler(process)
        sampler.start()
        started = time.monotonic()
        job = enqueue("sync", store, entity="orders")
        while Job.get_by_id(job.id).state in ACTIVE:
            assert worker.poll() is None, "the worker died"
            assert time.monotonic() - started < 1700, "the import did not finish"
            time.sleep(0.1)
        seconds = time.monotonic() - started
        peak = sampler.stop()
        after = _sample_for(process, 1.0)
    finally:
        worker.terminate()
        worker.wait(30)
    job = Job.get_by_id(job.id)
    imported = Order.select().where(Order.store == store).count()
    runtime.close()
    sim.close()
    assert job.state == "done", job.error
    assert imported == orders

    growth = (peak - idle) / MB
    met = peak / MB <= PEAK_TARGET_MB and growth <= GROWTH_TARGET_MB
    print(f"\n[worker memory] {orders:,} orders imported by `shopsync worker` in {seconds:.1f} s "
          f"(load average {os.getloadavg()[0]:.1f})")
    print(f"  RSS idle {idle / MB:.1f} MB, peak {peak / MB:.1f} MB (growth {growth:.1f} MB, "
          f"{sampler.samples} samples), after {after / MB:.1f} MB; targets: peak <= "
          f"{PEAK_TARGET_MB} MB, growth <= {GROWTH_TARGET_MB} MB: {'met' if met else 'MISSED'}")
