"""Several engines on one PostgreSQL: 4 `shopsync worker` and 2 `shopsync serve` processes.

300 stores on the simulator (small ones) are connected with a full sync queued (1,200 sync
jobs; 1,800 with each store's webhook registration and health check); 2,000 signed webhooks go
round-robin to both serve processes — new orders created in the simulator, and every 20th one
sent again to the other serve with the same event id; a random worker is SIGKILLed 5 times
during the run and started again. At the end: every job is done, once (one per store and
entity, no failures), every store's counts equal the simulator's, and no webhook was applied
twice.

    SHOPSYNC_FLEET_TEST=1 .venv/bin/pytest tests/e2e/test_fleet_postgres.py -s -n 0  # phases, CPU

Where the time went (this box, before): every engine process built a TLS context per HTTP client
(~60 ms of CPU each, two or three per job) and compiled its imports afresh; a delivery client
per webhook here did the same. A killed worker's jobs waited for their lease; runners on one
machine now release a dead runner's leases at the next beat (engine.jobs.runner).
"""

from __future__ import annotations

import concurrent.futures
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from engine import actions
from engine.config import load_settings
from engine.persistence.models import (
    Collection,
    Customer,
    Job,
    Order,
    Product,
    Store,
    WebhookReceipt,
)
from engine.persistence.runtime import open_runtime
from engine.serve.guard import KEEP_ALIVE
from engine.webhooks.receipts import sign
from tests.engine.livedata_support import free_port
from tests.pg_cluster import create_database
from tests.support import HTTP

REPO = Path(__file__).resolve().parents[2]
STORES = 300
WEBHOOKS = 2_000
DUPLICATE_EVERY = 20  # every 20th delivery is sent again, to the other serve process
# Distinct deliveries: with their duplicates they make WEBHOOKS requests in all.
DISTINCT = next(d for d in range(WEBHOOKS) if d + len(range(0, d, DUPLICATE_EVERY)) == WEBHOOKS)
WORKERS = 4
KILLS = 5
# Runs under CI (where a missing PostgreSQL fails it, as it fails the other PostgreSQL tests)
# and with SHOPSYNC_FLEET_TEST=1. Not in a plain local run: 1,800 jobs and 2,000 webhooks through
# eight processes take about 170 s of a quiet 2-core box (325-434 s at load 10-16). It is marked
# `alone`: the README's test command runs it after the parallel suite, by itself, because two
# Ctrl+C tests running beside it once missed their exit timeouts.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.alone,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not (os.environ.get("CI") or os.environ.get("SHOPSYNC_FLEET_TEST")),
                       reason="multi-process PostgreSQL run: under CI, or SHOPSYNC_FLEET_TEST=1"),
]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live (or unreaped) process; 0 where /proc cannot say."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Process:
    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.argv, self.env, self.log_path = argv, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.cpu = 0.0  # of the processes this one ran before (each kill)

    def start(self) -> Process:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=REPO, stdout=log,
                                         stderr=log)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.cpu += cpu_seconds(self.proc.pid)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def _wait_healthy(url: str, process: Process) -> None:
    deadline = time.monotonic() + 120  # six processes starting at once on a loaded 2-core box
    answer = "no answer"
    while time.monotonic() < deadline:
        assert process.proc is not None and process.proc.poll() is None, process.log()
        try:
            response = HTTP.get(url + "/healthz", timeout=2)
            if response.status_code == 200:
                return
            answer = response.text
        except httpx.HTTPError as error:
            answer = repr(error)
        time.sleep(0.2)
    raise AssertionError(f"serve not healthy ({answer}): {process.log()}")


@pytest.fixture
def simulator_process() -> Iterator[tuple[str, int]]:
    """The simulator in a process of its own: 6 engines hammer it, and this test's process
    must not share its GIL. Yields its origin (http://127.0.0.1:PORT) and its pid."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from engine.simulator.server import run; run(port=0, seed=7)"],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )
    try:
        assert process.stdout is not None
        match = re.search(r"SHOPSYNC_SHOPIFY_URL=(\S+)/\{shop\}", process.stdout.readline())
        assert match, "unexpected simulator banner"
        yield match.group(1), process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_four_workers_and_two_serves_on_one_postgres(
    pg_server: str, cli_env: dict[str, str], simulator_process: tuple[str, int],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    simulator_url, simulator_pid = simulator_process
    url = create_database(pg_server)
    # Leases long enough that a starved (not dead) runner keeps its job on a loaded box; a
    # SIGKILLed worker's jobs are released at the next beat of a runner on this machine.
    # The product's job poll interval (jobs queued elsewhere are found within it; a runner's own
    # finished job wakes it at once), not cli_env's 0.05 s: six runners polling 20 times a
    # second is CPU this box does not have to spare.
    env = {**cli_env, "SHOPSYNC_DATABASE_URL": url, "SHOPSYNC_LEASE_SECONDS": "10",
           "SHOPSYNC_POLL_INTERVAL": "0.5",
           "SHOPSYNC_SHOPIFY_URL": simulator_url + "/{shop}",
           "SHOPSYNC_MAX_CONCURRENT_STORES": "8", "SHOPSYNC_SYNC_INTERVAL": "3600",
           "SHOPSYNC_RECONCILE_INTERVAL": "86400", "SHOPSYNC_WEBHOOK_ASSERT_INTERVAL": "86400",
           "SHOPSYNC_LOG_LEVEL": "WARNING"}
    for key, value in env.items():
        if key.startswith("SHOPSYNC_"):
            monkeypatch.setenv(key, value)
    runtime = open_runtime(load_settings())
    actions.use_runtime(runtime)
    secret = env["SHOPSYNC_API_SECRET"]
    sim = httpx.Client(base_url=simulator_url, timeout=30)
    # One client for every delivery (thread-safe, pooled): a client per request costs a TLS
    # context each, ~50 ms of CPU, and would make this process the bottleneck.
    # Idle connections are dropped well before serve's keep-alive timeout closes them: at the
    # same 5 s, a request sent as serve closed the connection was reset (seen at load 17).
    hooks = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=16,
                                                         keepalive_expiry=KEEP_ALIVE / 2))
    tag = uuid.uuid4().hex[:6]
    domains = [f"f{tag}-{i:03d}.myshopify.com" for i in range(STORES)]

    def make_shop(domain: str) -> str:
        shop = sim.post("/_sim/shops", json={
            "domain": domain, "customers": 2, "orders": 3, "products": 2, "collections": 1,
            # The test sends every delivery itself: the simulator's own orders/create for the
            # same order has the same body, and whichever came first would be the original.
            "webhooks_enabled": False,
        }).json()
        return str(shop["access_token"])

    t0 = time.monotonic()

    def phase(name: str) -> None:  # where the time goes (-s shows it), and the work left
        busy = Job.select().where(Job.state.in_(("queued", "running"))).count()
        waiting = WebhookReceipt.select().where(WebhookReceipt.status == "received").count()
        print(f"[phase] {name}: {time.monotonic() - t0:.1f} s ({busy} jobs queued or running, "
              f"{waiting} webhooks unapplied)", flush=True)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(make_shop, domains))
    phase("shops created")

    serves, workers = [], []
    try:
        for index in range(2):
            port = free_port()
            serve_env = {**env, "SHOPSYNC_LISTEN": f"127.0.0.1:{port}",
                         "SHOPSYNC_PUBLIC_URL": f"http://127.0.0.1:{port}"}
            serve = Process([sys.executable, "-m", "tui.cli", "serve"], serve_env,
                            tmp_path / f"serve{index}.log").start()
            serves.append((serve, serve_env["SHOPSYNC_PUBLIC_URL"]))
        for index in range(WORKERS):
            workers.append(Process([sys.executable, "-m", "tui.cli", "worker"], env,
                                   tmp_path / f"worker{index}.log").start())
        for serve, serve_url in serves:
            _wait_healthy(serve_url, serve)
        phase("serves healthy")

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda pair: actions.connect_token(*pair, start_sync=True),
                          zip(domains, tokens, strict=True)))
        phase("stores connected")

        sent: list[tuple[str, str]] = []  # (event id, serve url) of every delivery
        def send(number: int) -> int:
            domain = domains[number % STORES]
            order = sim.post(f"/_sim/shops/{domain}/orders", json={}).json()
            body = orjson.dumps(order)
            event = f"ev-{tag}-{number}"
            targets = [serves[number % 2][1]]
            if number % DUPLICATE_EVERY == 0:
                targets.append(serves[(number + 1) % 2][1])  # the same event, the other serve
            for target in targets:
                response = hooks.post(target + "/webhooks", content=body, headers={
                    "Content-Type": "application/json",
                    "X-Shopify-Topic": "orders/create",
                    "X-Shopify-Hmac-Sha256": sign(body, secret),
                    "X-Shopify-Shop-Domain": domain,
                    "X-Shopify-API-Version": "2026-07",
                    "X-Shopify-Webhook-Id": f"wh-{tag}-{number}-{target[-5:]}",
                    "X-Shopify-Event-Id": event,
                })
                assert response.status_code == 200, response.text
                sent.append((event, target))
            return number

        killer_rng = random.Random(11)
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(send, n) for n in range(DISTINCT)]
            for _kill in range(KILLS):
                time.sleep(2.0)
                victim = killer_rng.randrange(WORKERS)
                workers[victim].kill()
                workers[victim].start()
            phase("kills done")
            for future in futures:
                future.result()
        phase("webhooks sent")
        assert len(sent) == WEBHOOKS

        def settled() -> bool:
            busy = Job.select().where(Job.state.in_(("queued", "running"))).count()
            waiting = WebhookReceipt.select().where(WebhookReceipt.status == "received").count()
            return busy == 0 and waiting == 0

        deadline = time.monotonic() + 400
        while not settled():
            assert time.monotonic() < deadline, "jobs or webhooks left unfinished"
            time.sleep(0.5)
        phase("settled")
        elapsed = time.monotonic() - started
        cpu = {"test": time.process_time(), "simulator": cpu_seconds(simulator_pid)}
    finally:
        for process in workers:
            process.kill()
        for serve, _url in serves:
            serve.kill()
    cpu["serve"] = sum(serve.cpu for serve, _url in serves)
    cpu["worker"] = sum(process.cpu for process in workers)

    jobs = list(Job.select(Job.store_id, Job.entity, Job.kind, Job.state, Job.error))
    failed = [(j.store_id, j.entity, j.error) for j in jobs if j.state != "done"]
    assert failed == [], failed[:5]
    syncs = [(j.store_id, j.entity) for j in jobs if j.kind == "sync"]
    assert len(syncs) == STORES * 4 and len(set(syncs)) == len(syncs)

    for domain in domains:
        store = Store.get(Store.domain == domain)
        for entity, model in (("customers", Customer), ("orders", Order),
                              ("products", Product), ("collections", Collection)):
            truth = sim.get(f"/_sim/shops/{domain}/{entity}/ids").json()["ids"]
            ours = [r.shopify_id for r in model.select(model.shopify_id).where(
                model.store == store.id)]
            assert sorted(ours) == sorted(int(i) for i in truth), (domain, entity)

    receipts = list(WebhookReceipt.select(WebhookReceipt.event_id, WebhookReceipt.status)
                    .where(WebhookReceipt.event_id.startswith(f"ev-{tag}-")))
    assert len(receipts) == WEBHOOKS
    applied: dict[str, int] = {}
    for receipt in receipts:
        if receipt.status != "duplicate":
            applied[receipt.event_id] = applied.get(receipt.event_id, 0) + 1
    assert set(applied.values()) == {1}, "a webhook was applied twice"
    assert len(applied) == DISTINCT
    assert {r.status for r in receipts} <= {"applied", "duplicate"}
    print(f"\n[multi-process] {STORES} stores, {WEBHOOKS} webhooks, {KILLS} kills: "
          f"{elapsed:.1f} s; CPU s: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
    runtime.close()
