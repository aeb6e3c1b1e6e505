"""`shopsync demo`: the bundled simulator, a demo fleet, the engine and the dashboard.

Everything runs on this machine with no Shopify account: the simulator and `shopsync serve`
run as child processes, the demo database lives in its own folder (wiped at every start, never
your real SHOPSYNC_HOME data), and the fleet is connected in the background while the
dashboard is already up, so cards appear within seconds and every status shows up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import platformdirs

# Faults that shape the initial sync are applied before it; the rest after it, so the store
# has data when it turns Reconnect required or Error.
_BEFORE_SYNC = {"fail_bulk", "throttle", "throttle_mode", "error_rate", "latency_ms",
                "bulk_rate", "bulk_delay_ms"}


def demo_home() -> Path:
    return Path(platformdirs.user_data_dir("shopsync", appauthor=False)) / "demo"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_simulator(home: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    port = _free_port()
    log = open(home / "simulator.log", "ab")  # noqa: SIM115 - lives as long as the child
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "simulator", "--demo", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode().strip()
    if not line.startswith("SHOPSYNC_SHOPIFY_URL="):
        process.kill()
        raise RuntimeError(f"the simulator did not start (see {home / 'simulator.log'})")
    env = dict(part.split("=", 1) for part in line.split())
    threading.Thread(target=_drain, args=(process.stdout, log), daemon=True).start()
    return process, env


def _drain(stream, sink) -> None:  # type: ignore[no-untyped-def]
    for chunk in iter(lambda: stream.read(4096), b""):
        sink.write(chunk)


def _start_serve(home: Path) -> subprocess.Popen:
    log = open(home / "serve.log", "ab")  # noqa: SIM115 - lives as long as the child
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "serve"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL,
    )


def _wait_for_serve(process: subprocess.Popen, timeout: float = 20.0) -> None:
    from engine.jobs import runner_alive

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("`shopsync serve` exited at start; see its log in the demo folder")
        if runner_alive("serve"):
            return
        time.sleep(0.1)
    raise RuntimeError("`shopsync serve` did not start in time")


def _connect_fleet(sim_url: str, stop: threading.Event) -> None:
    """Connect every demo shop (OAuth for most, an access token for one), then shape it."""
    from engine import actions
    from engine.errors import ActionError
    from engine.jobs import wait_for_job

    client = httpx.Client(base_url=sim_url, timeout=10)
    fleet = client.get("/_sim/demo").json()
    connected: list[tuple[dict, int]] = []
    for index, shop in enumerate(fleet):
        if stop.is_set():
            return
        before = {k: v for k, v in (shop.get("after_connect") or {}).items() if k in _BEFORE_SYNC}
        if before:
            client.patch(f"/_sim/shops/{shop['domain']}", json=before)
        try:
            if index % 4 == 3:  # show both ways in
                summary = actions.connect_token(shop["domain"], shop["access_token"])
            else:
                summary = actions.simulate_approval(actions.begin_connect(shop["domain"]))
            actions.start_initial_sync(summary.id)
        except ActionError:
            continue
        connected.append((shop, summary.id))
    for shop, store_id in connected:
        if stop.is_set():
            return
        from engine.models import Job

        pending = [j.id for j in Job.select(Job.id).where(
            (Job.store_id == store_id) & Job.state.in_(("queued", "running")))]
        for job_id in pending:
            with contextlib.suppress(TimeoutError):
                wait_for_job(job_id, timeout=60)
        after = {k: v for k, v in (shop.get("after_connect") or {}).items()
                 if k not in _BEFORE_SYNC}
        if after:
            client.patch(f"/_sim/shops/{shop['domain']}", json=after)
        with contextlib.suppress(ActionError):
            if shop.get("paused"):
                actions.disconnect(store_id)
            else:
                actions.check_health(store_id)
    client.post("/_sim/activity", json={"enabled": True, "interval_ms": 2500})


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(*, mouse: bool = True, headless: bool = False) -> int:
    home = demo_home()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True, mode=0o700)
    simulator = serve = None
    stop = threading.Event()
    try:
        simulator, sim_env = _start_simulator(home)
        listen = f"127.0.0.1:{_free_port()}"
        os.environ.update(sim_env)
        os.environ.update({
            "SHOPSYNC_HOME": str(home),
            "SHOPSYNC_LISTEN": listen,
            "SHOPSYNC_PUBLIC_URL": f"http://{listen}",
            "SHOPSYNC_SYNC_INTERVAL": "45",
            "SHOPSYNC_RECONCILE_INTERVAL": "300",
        })
        os.environ.pop("SHOPSYNC_DATABASE_URL", None)
        from engine import actions
        from engine.runtime import open_runtime

        runtime = open_runtime()
        actions.use_runtime(runtime)
        serve = _start_serve(home)
        _wait_for_serve(serve)
        sim_url = sim_env["SHOPSYNC_SHOPIFY_URL"].split("/{shop}")[0]
        threading.Thread(target=_connect_fleet, args=(sim_url, stop), daemon=True,
                         name="demo-fleet").start()
        if headless:
            print(f"demo running: SHOPSYNC_HOME={home} (Ctrl+C stops)", flush=True)
            signal.signal(signal.SIGTERM, _raise_interrupt)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
            return 0
        from tui.app import ShopsyncApp

        ShopsyncApp(runtime).run(mouse=mouse)
        return 0
    except RuntimeError as error:
        print(f"shopsync demo: {error}", file=sys.stderr)
        return 1
    finally:
        stop.set()
        _stop(serve)
        _stop(simulator)
