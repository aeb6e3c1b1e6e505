"""Running the simulator: SimulatorThread starts fast and stops cleanly; `run()` prints the
environment line first and exits cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from engine.simulator import DEMO_API_KEY, DEMO_API_SECRET
from engine.simulator.server import SimulatorThread


def test_thread_starts_fast_and_stops_cleanly() -> None:
    before = threading.active_count()
    started = time.monotonic()
    sim = SimulatorThread(seed=1).start()
    elapsed = time.monotonic() - started
    try:
        assert elapsed < 0.5
        assert sim.url.startswith("http://127.0.0.1:")
        assert sim.shopify_url == sim.url + "/{shop}"
        assert httpx.get(sim.url + "/_sim/", trust_env=False).json()["api_key"] == DEMO_API_KEY
    finally:
        sim.stop()
    assert threading.active_count() == before
    with pytest.raises(httpx.ConnectError):
        httpx.get(sim.url + "/_sim/", trust_env=False, timeout=1)


def test_two_simulators_side_by_side() -> None:
    with SimulatorThread() as one, SimulatorThread(demo=True) as two:
        assert one.url != two.url
        assert httpx.get(two.url + "/_sim/demo", trust_env=False).json()
        assert httpx.get(one.url + "/_sim/demo", trust_env=False).json() == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_prints_the_line_and_exits_on_signal(sig: signal.Signals) -> None:
    code = ("from engine.simulator.server import run; "
            "run(host='127.0.0.1', port=0, seed=0, demo=False, api_key='k', api_secret='s')")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        url, key, secret = line.split(" ")
        assert url.startswith("SHOPSYNC_SHOPIFY_URL=http://127.0.0.1:") and url.endswith(
            "/{shop}")
        assert key == "SHOPSYNC_API_KEY=k" and secret == "SHOPSYNC_API_SECRET=s"
        origin = url.split("=", 1)[1].removesuffix("/{shop}")
        deadline = time.monotonic() + 10
        while True:
            try:
                assert httpx.get(origin + "/_sim/", trust_env=False).status_code == 200
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        process.send_signal(sig)
        assert process.wait(timeout=10) == 0
        assert "Traceback" not in (process.stderr.read() if process.stderr else "")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_default_credentials() -> None:
    assert DEMO_API_KEY == "shopsync-demo-app"
    assert DEMO_API_SECRET == "shpss_demo_not_a_real_secret"


def test_time_scale_speeds_up_simulated_durations() -> None:
    with SimulatorThread(time_scale=20) as sim, httpx.Client(base_url=sim.url,
                                                             trust_env=False) as client:
        client.post("/_sim/shops", json={"domain": "fast", "token_ttl": 4})
        location = client.get("/fast.myshopify.com/admin/oauth/authorize", params={
            "client_id": DEMO_API_KEY, "redirect_uri": "https://app.example/cb"}
        ).headers["location"]
        code = dict(parse_qsl(urlsplit(location).query))["code"]
        token = client.post("/fast.myshopify.com/admin/oauth/access_token", json={
            "client_id": DEMO_API_KEY, "client_secret": DEMO_API_SECRET, "code": code,
            "expiring": "1"}).json()["access_token"]

        def ping() -> int:
            return client.post("/fast.myshopify.com/admin/api/2026-07/graphql.json",
                               json={"query": "{ shop { name } }"},
                               headers={"X-Shopify-Access-Token": token}).status_code

        assert ping() == 200
        time.sleep(0.25)  # 5 simulated seconds > token_ttl of 4
        assert ping() == 401
