"""`shopsync demo`: the bundled simulator, a demo fleet, the engine and the dashboard.

Everything runs on this machine with no Shopify account: the simulator and `shopsync serve`
run as child processes, the demo database lives in its own folder (the header shows where;
wiped at every start, but only when the demo created it: a folder without the demo's marker
file is never touched, and never your real SHOPSYNC_HOME data), and the fleet is connected
in the background while the dashboard is already up, so cards appear within seconds and
every status shows up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx
import platformdirs

from engine.simulator import DEMO_API_KEY, DEMO_API_SECRET
from tui.safe_text import safe

# Faults that shape the initial sync are applied before it; the rest after it, so the store
# has data when it turns Reconnect required or Error.
_BEFORE_SYNC = {"fail_bulk", "throttle", "throttle_mode", "error_rate", "latency_ms",
                "bulk_rate", "bulk_delay_ms"}


SPARE_SHOP = "new-arrivals.myshopify.com"
log = logging.getLogger("shopsync.demo")


MARKER = ".shopsync-demo"  # written into the folder the demo creates; only such a folder is wiped


def demo_home() -> Path:
    return Path(platformdirs.user_data_dir("shopsync", appauthor=False)) / "demo"


def prepare_home(home: Path) -> None:
    """Start from an empty demo folder: wipe the last demo's, create a new one with the marker.

    A folder at that path that the demo did not create (no marker, not empty) is left alone and
    the demo refuses to start (RuntimeError) rather than delete someone's files."""
    if home.exists():
        if not (home / MARKER).is_file() and (not home.is_dir() or any(home.iterdir())):
            raise RuntimeError(f"{home} exists and was not created by `shopsync demo`; move it "
                               "away (the demo wipes its folder at every start)")
        shutil.rmtree(home)
    home.mkdir(parents=True, mode=0o700)
    (home / MARKER).write_text("created by `shopsync demo`; wiped at its next start\n")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_simulator(home: Path, port: int) -> subprocess.Popen:
    log = open(home / "simulator.log", "ab")  # noqa: SIM115 - lives as long as the child
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "simulator", "--demo", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
    )


def _simulator_ready(process: subprocess.Popen, home: Path) -> dict[str, str]:
    """Wait for the simulator's one line (SHOPSYNC_SHOPIFY_URL=… and the app's credentials)."""
    assert process.stdout is not None
    line = process.stdout.readline().decode().strip()
    if not line.startswith("SHOPSYNC_SHOPIFY_URL="):
        process.kill()
        raise RuntimeError(f"the simulator did not start (see {home / 'simulator.log'})")
    env = dict(part.split("=", 1) for part in line.split())
    with open(home / "simulator.log", "ab") as log:
        log.write(line.encode() + b"\n")
    threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
    return env


def _drain(stream: IO[bytes]) -> None:
    for _chunk in iter(lambda: stream.read(4096), b""):
        pass  # keep the pipe from filling up; the simulator logs to its own file


def _start_serve(home: Path) -> subprocess.Popen:
    log = open(home / "serve.log", "ab")  # noqa: SIM115 - lives as long as the child
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "serve"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL,
    )


def _wait_for_serve(process: subprocess.Popen, timeout: float = 20.0) -> None:
    from engine.actions import runner_alive

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("`shopsync serve` exited at start; see its log in the demo folder")
        if runner_alive("serve"):
            return
        time.sleep(0.1)
    raise RuntimeError("`shopsync serve` did not start in time")


def _connect_one(client: httpx.Client, index: int, shop: dict) -> tuple[dict, int] | None:
    from engine import actions
    from engine.domain.errors import ActionError

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
        return None
    return shop, summary.id


def _shape(client: httpx.Client, shop: dict, store_id: int, stop: threading.Event) -> None:
    """After its initial sync, give the store its demo fault (uninstalled, paused, …)."""
    from engine import actions
    from engine.domain.errors import ActionError
    from engine.persistence.reads import active_job_ids

    # Wait for the initial sync in short slices: quitting must not wait for a job that cannot
    # run any more once `serve` has stopped.
    while active_job_ids(store_id):
        if stop.wait(0.5):
            return
    after = {k: v for k, v in (shop.get("after_connect") or {}).items() if k not in _BEFORE_SYNC}
    if after:
        client.patch(f"/_sim/shops/{shop['domain']}", json=after)
    with contextlib.suppress(ActionError):
        if shop.get("paused"):
            actions.disconnect(store_id)
        else:
            actions.check_health(store_id)


def _side_by_side(work: Callable[[Any], Any], items: list[Any], workers: int,
                  stop: threading.Event) -> list[Any]:
    """`work` over `items` on `workers` daemon threads (the process never waits for them at
    exit, unlike a ThreadPoolExecutor's); returns the results in order, or early on `stop`."""
    results: list[Any] = [None] * len(items)
    pending = iter(enumerate(items))
    lock = threading.Lock()

    def run() -> None:
        while not stop.is_set():
            with lock:
                index, item = next(pending, (None, None))
            if index is None:
                return
            try:
                results[index] = work(item)
            except Exception:
                if not stop.is_set():
                    log.exception("demo fleet: %r failed", item)

    threads = [threading.Thread(target=run, daemon=True, name=f"demo-connect-{n}")
               for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive() and not stop.is_set():
            thread.join(0.2)
    return results


def _connect_fleet(sim_url: str, stop: threading.Event) -> None:
    """Connect every demo shop (OAuth for most, an access token for one) side by side, then
    shape each one once its initial sync is done. Quits quietly whenever `stop` is set."""
    try:
        with httpx.Client(base_url=sim_url, timeout=10) as client:
            fleet = client.get("/_sim/demo").json()
            # One shop is left for the operator to connect by hand (n, then "Approve in
            # simulator").
            client.post("/_sim/shops", json={"domain": SPARE_SHOP, "name": "New Arrivals",
                                             "customers": 80, "orders": 200, "products": 30,
                                             "collections": 3})
            connected = [c for c in _side_by_side(lambda item: _connect_one(client, *item),
                                                  list(enumerate(fleet)), 4, stop) if c]
            if stop.is_set():
                return
            _side_by_side(lambda c: _shape(client, c[0], c[1], stop), connected, 4, stop)
            if not stop.is_set():
                client.post("/_sim/activity", json={"enabled": True, "interval_ms": 2500})
    except Exception:
        if not stop.is_set():  # after a quit, the simulator and the database are gone: fine
            log.exception("demo fleet setup failed")


def _signal_all(processes: list[subprocess.Popen | None]) -> None:
    for process in processes:
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                process.send_signal(signal.SIGTERM)


def _stop_all(processes: list[subprocess.Popen | None], budget: float = 0.5) -> None:
    """SIGTERM every child at once; whatever has not exited within `budget` is killed (the demo
    keeps nothing worth a graceful shutdown: its folder is wiped at the next start)."""
    _signal_all(processes)
    running = [p for p in processes if p is not None and p.poll() is None]
    deadline = time.monotonic() + budget
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(1.0)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(*, mouse: bool = True, headless: bool = False) -> int:
    home = demo_home()
    simulator = serve = None
    stop = threading.Event()
    try:
        prepare_home(home)
        # Everything the dashboard waits for starts at once, side by side: the simulator (on a
        # port chosen here, so its URL is known before it is up), `serve`, and this process's
        # own imports. The fleet connects in the background while the cards appear.
        sim_port = _free_port()
        listen = f"127.0.0.1:{_free_port()}"
        os.environ.update({
            "SHOPSYNC_HOME": str(home),
            "SHOPSYNC_SHOPIFY_URL": f"http://127.0.0.1:{sim_port}/{{shop}}",
            "SHOPSYNC_API_KEY": DEMO_API_KEY,
            "SHOPSYNC_API_SECRET": DEMO_API_SECRET,
            "SHOPSYNC_LISTEN": listen,
            "SHOPSYNC_PUBLIC_URL": f"http://{listen}",
            "SHOPSYNC_SYNC_INTERVAL": "45",
            "SHOPSYNC_RECONCILE_INTERVAL": "300",
        })
        os.environ.pop("SHOPSYNC_DATABASE_URL", None)
        simulator = _start_simulator(home, sim_port)
        from engine import actions
        from engine.logs import configure_logging
        from engine.persistence.runtime import open_runtime

        runtime = open_runtime()  # creates the database before `serve` opens it
        configure_logging(runtime.settings, to_file=True)
        actions.use_runtime(runtime)
        serve = _start_serve(home)
        if not headless:
            from tui.app import ShopsyncApp  # imports while the children start

            class DemoApp(ShopsyncApp):
                def exit(self, *args: Any, **kwargs: Any) -> None:
                    # Quitting (q, Ctrl+C, SIGTERM) stops the fleet and the children at once,
                    # while the dashboard restores the terminal.
                    stop.set()
                    _signal_all([serve, simulator])
                    super().exit(*args, **kwargs)
        sim_env = _simulator_ready(simulator, home)
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
        DemoApp(runtime, demo=True).run(mouse=mouse)
        print(f"shopsync demo: its data is in {home} (wiped at the next start)", file=sys.stderr)
        return 0
    except RuntimeError as error:
        print(f"shopsync demo: {safe(error)}", file=sys.stderr)
        return 1
    finally:
        stop.set()
        _stop_all([serve, simulator])
