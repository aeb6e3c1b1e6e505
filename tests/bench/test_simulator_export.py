"""Benchmark: bulk export of a 1,000,000-order shop from the simulator, streamed over HTTP.

The simulator runs in its own process (as `shopsync simulator` does). We create the shop, run a
bulk export of orders with their line items, stream-download the JSONL counting lines, and
sample the simulator's RSS throughout. Figures printed:

- export lines/s over HTTP, and as a ratio against the floor measured in this same run: the
  in-process speed of generating + projecting + serialising the same lines with no HTTP at all
  (engine.simulator.projection.stream_jsonl over an identical dataset, first 200,000 orders,
  best of a run before and a run after the export);
- peak RSS growth of the simulator process over its idle RSS (asserted < 50 MB).

Run: python3 dev.py bench -k simulator_export   (or .venv/bin/python -m pytest
tests/bench/test_simulator_export.py -s -o addopts=)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from engine.shopify.documents import BULK_RUN, BULK_STATUS, bulk_query
from engine.simulator.data import Dataset
from engine.simulator.projection import compile_bulk, stream_jsonl
from engine.simulator.schema import schema
from engine.simulator.store import Records
from tests.bench.rss import RssSampler

ORDERS = 1_000_000
COUNTS = {"orders": ORDERS, "customers": 10_000, "products": 1_000, "collections": 10}
SEED = 424242
FLOOR_ROOTS = 200_000
MAX_GROWTH_MB = 50


@pytest.fixture
def simulator() -> Iterator[tuple[str, psutil.Process]]:
    code = ("from engine.simulator.server import run; "
            "run(host='127.0.0.1', port=0, seed=1, demo=False, api_key='bench', "
            "api_secret='bench-secret')")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        origin = line.split()[0].split("=", 1)[1].removesuffix("/{shop}")
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(origin + "/_sim/", trust_env=False)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.05)
        yield origin, psutil.Process(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _floor_lines_per_second(query: str) -> float:
    """Generate + project + serialise the same lines in-process, no HTTP (the physical floor)."""
    records = Records(Dataset(SEED, COUNTS))
    plan = compile_bulk(schema(), query)
    started = time.perf_counter()
    lines = sum(chunk.count(b"\n") for chunk in stream_jsonl(records, plan, FLOOR_ROOTS))
    return lines / (time.perf_counter() - started)


def test_million_order_export(simulator: tuple[str, psutil.Process]) -> None:
    origin, process = simulator
    client = httpx.Client(base_url=origin, trust_env=False, timeout=60)
    created = client.post("/_sim/shops", json={"domain": "bench", "seed": SEED, **COUNTS,
                                               "bulk_rate": 1e12})
    assert created.status_code == 201, created.text
    token = created.json()["access_token"]
    graphql = "/bench.myshopify.com/admin/api/2026-07/graphql.json"
    headers = {"X-Shopify-Access-Token": token}
    floor_before = _floor_lines_per_second(bulk_query("orders"))
    time.sleep(0.5)
    idle = max(process.memory_info().rss for _ in range(5) if time.sleep(0.05) is None)

    sampler = RssSampler(process, interval=0.05)
    sampler.start()
    query = bulk_query("orders")
    started = time.perf_counter()
    run = client.post(graphql, json={"query": BULK_RUN, "variables": {"query": query}},
                      headers=headers).json()
    op_id = run["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"]
    while True:
        status = client.post(graphql, json={"query": BULK_STATUS, "variables": {"id": op_id}},
                             headers=headers).json()["data"]["bulkOperation"]
        if status["status"] in ("COMPLETED", "FAILED"):
            break
        time.sleep(0.05)
    ready = time.perf_counter() - started
    assert status["status"] == "COMPLETED", status

    lines = 0
    size = 0
    download_started = time.perf_counter()
    with httpx.stream("GET", status["url"], trust_env=False, timeout=60) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
    download = time.perf_counter() - download_started
    sampler.stop()

    growth_mb = (sampler.peak - idle) / 2**20
    rate = lines / download
    # The floor is the best of two in-process runs (before and after the export), so a noisy
    # neighbour during one of them does not flatter the ratio.
    floor = max(floor_before, _floor_lines_per_second(query))
    print()
    print(f"simulator export: {ORDERS:,} orders -> {lines:,} JSONL lines, {size / 2**20:.0f} MiB")
    print(f"  bulk operation ready (count pass) in {ready:.2f} s; "
          f"objectCount={status['objectCount']} fileSize={status['fileSize']}")
    print(f"  download: {download:.2f} s = {rate:,.0f} lines/s = {size / 2**20 / download:.1f} "
          "MiB/s over HTTP")
    print(f"  floor (in-process generate+project+serialise, no HTTP): {floor:,.0f} lines/s")
    print(f"  ratio HTTP / floor: {rate / floor:.2f}")
    print(f"  simulator RSS: idle {idle / 2**20:.1f} MB, peak {sampler.peak / 2**20:.1f} MB, "
          f"growth {growth_mb:.1f} MB over {sampler.samples} samples "
          f"(limit {MAX_GROWTH_MB} MB)")
    assert lines == int(status["objectCount"])
    assert abs(size - int(status["fileSize"])) / size < 0.05
    assert growth_mb < MAX_GROWTH_MB
