"""Benchmark: signed webhook ingest of the real `serve` against a bare uvicorn + Starlette floor.

Both servers run as subprocesses on loopback with the same uvicorn settings; the same httpx
client (N concurrent connections) sends the same signed orders/create deliveries to each, first
a warm-up, then bounded rounds (count and time) alternating between the two so both see the
same machine load. Reported per server: deliveries/s (median of the rounds) and p50/p99 time to
2xx (over all rounds); then the ratios real/floor. For the real app it also reports how long
after the last 2xx every delivery was applied (rows in the orders table), which the floor does
not do.

Run:  .venv/bin/python -m pytest tests/bench/test_webhook_ingest.py -o addopts="" -s
Tune: BENCH_DELIVERIES (default 4000), BENCH_CONCURRENCY (32), BENCH_SECONDS (60).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from engine.config import load_settings
from engine.persistence.models import Order
from engine.persistence.runtime import open_runtime
from engine.webhooks.receipts import sign
from tests.engine.livedata_support import free_port, store_row
from tests.support import wait_until

REPO = Path(__file__).resolve().parents[2]
SECRET = "bench-secret"
SHOP = "bench.myshopify.com"
DELIVERIES = int(os.environ.get("BENCH_DELIVERIES", "4000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
MAX_SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
WARMUP = 200
ROUNDS = 3

BARE_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def ok(request):
    await request.body()
    return Response("received", media_type="text/plain")

app = Starlette(routes=[Route("/webhooks", ok, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, server_header=False)
"""


def order_payload(number: int) -> bytes:
    return orjson.dumps({
        "id": 6_000_000 + number,
        "admin_graphql_api_id": f"gid://shopify/Order/{6_000_000 + number}",
        "name": f"#{10_000 + number}", "email": f"b{number}@ex.com",
        "financial_status": "paid", "fulfillment_status": None, "currency": "USD",
        "total_price": "42.50", "created_at": "2026-11-02T10:00:00Z",
        "updated_at": "2026-11-02T10:00:00Z", "customer": {"id": 7_000_000 + number % 500},
        "line_items": [
            {"id": 8_000_000 + number * 3 + i, "sku": f"SKU-{i}", "title": f"Item {i}",
             "quantity": i + 1, "variant_id": 9_000 + i, "price": "10.00"}
            for i in range(3)
        ],
        "note": "x" * 600,
    })


def requests(start: int, count: int) -> list[tuple[bytes, dict[str, str]]]:
    out = []
    for number in range(start, start + count):
        body = order_payload(number)
        out.append((body, {
            "Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": sign(body, SECRET), "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-API-Version": "2026-07", "X-Shopify-Webhook-Id": f"w-{number}",
            "X-Shopify-Event-Id": f"e-{number}",
            "X-Shopify-Triggered-At": "2026-11-02T10:00:00.000Z",
        }))
    return out


async def blast(url: str, batch: list[tuple[bytes, dict[str, str]]]) -> tuple[float, list[float]]:
    """Send every request with CONCURRENCY workers; (wall seconds, per-request latencies)."""
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
    for item in batch:
        queue.put_nowait(item)
    deadline = time.monotonic() + MAX_SECONDS
    async with httpx.AsyncClient(limits=limits, timeout=10, trust_env=False) as client:

        async def worker() -> None:
            while not queue.empty() and time.monotonic() < deadline:
                body, headers = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return time.perf_counter() - started, latencies


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited"
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError("server did not start")


def summarise(rounds: list[tuple[float, list[float]]]) -> dict[str, Any]:
    latencies = sorted(x for _wall, lat in rounds for x in lat)
    rates = [len(lat) / wall for wall, lat in rounds]
    return {
        "count": len(latencies), "rate": statistics.median(rates),
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
    }


def measure(floor_url: str, app_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Alternate rounds floor, app, floor, app, … so both see the same machine load."""
    asyncio.run(blast(floor_url, requests(0, WARMUP)))
    asyncio.run(blast(app_url, requests(1_000_000, WARMUP)))
    per_round = DELIVERIES // ROUNDS
    floor, app = [], []
    for n in range(ROUNDS):
        floor.append(asyncio.run(blast(floor_url, requests(WARMUP + n * per_round, per_round))))
        app.append(asyncio.run(blast(app_url,
                                     requests(1_000_000 + WARMUP + n * per_round, per_round))))
    return summarise(floor), summarise(app)


@pytest.mark.timeout(300)
def test_webhook_ingest_against_a_bare_endpoint(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSYNC_API_SECRET", SECRET)
    runtime = open_runtime(load_settings())
    store_row(SHOP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSYNC_")}
    real_port, bare_port = free_port(), free_port()
    env.update(SHOPSYNC_HOME=os.environ["SHOPSYNC_HOME"], SHOPSYNC_API_SECRET=SECRET,
               SHOPSYNC_LISTEN=f"127.0.0.1:{real_port}", PYTHONPATH=str(REPO),
               SHOPSYNC_PUBLIC_URL=f"http://127.0.0.1:{real_port}", SHOPSYNC_LOG_LEVEL="WARNING")
    log = (tmp_path / "serve.log").open("wb")
    real = subprocess.Popen([sys.executable, "-c", "from engine.serve.app import main; main()"],
                            env=env, cwd=REPO, stdout=log, stderr=log)
    bare = subprocess.Popen([sys.executable, "-c", BARE_APP, str(bare_port)], env=env,
                            cwd=REPO, stdout=log, stderr=log)
    try:
        wait_healthy(f"http://127.0.0.1:{real_port}/healthz", real)
        wait_healthy(f"http://127.0.0.1:{bare_port}/", bare)
        floor, app = measure(f"http://127.0.0.1:{bare_port}/webhooks",
                             f"http://127.0.0.1:{real_port}/webhooks")
        last_2xx = time.monotonic()
        expected = WARMUP + app["count"]
        wait_until(lambda: Order.select().count() >= expected, timeout=120, interval=0.05)
        applied_after = time.monotonic() - last_2xx
        assert Order.select().count() == expected  # each applied exactly once
    finally:
        for proc in (real, bare):
            proc.terminate()
            proc.wait(15)
        log.close()
        runtime.close()
    print()
    print(f"webhook ingest, {app['count']} signed orders/create deliveries, "
          f"{CONCURRENCY} concurrent connections, loopback")
    for name, m in (("bare uvicorn+starlette 200", floor), ("shopsync serve", app)):
        print(f"  {name:28s} {m['rate']:8.0f} deliveries/s   p50 {m['p50']:6.2f} ms   "
              f"p99 {m['p99']:6.2f} ms")
    print(f"  ratio serve/floor: throughput {app['rate'] / floor['rate']:.2f}x, "
          f"p99 {app['p99'] / floor['p99']:.2f}x")
    print(f"  every delivery applied {applied_after:.2f} s after the last 2xx")
