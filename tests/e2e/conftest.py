"""Helpers for running `shopsync` (and `serve`) as a subprocess against the session simulator.

Fixtures: `cli_env`, `shopsync`, `sim_shop`, and `serve_env` / `launch` (a `serve` subprocess on
a free loopback port that is also SHOPSYNC_PUBLIC_URL; tests/reliability uses them too).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.engine.livedata_support import free_port
from tests.support import HTTP

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(settings, _isolated_environment: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSYNC_")}
    env.update({
        "SHOPSYNC_HOME": str(_isolated_environment),
        "SHOPSYNC_SHOPIFY_URL": settings.shopify_url,
        "SHOPSYNC_API_KEY": settings.api_key or "",
        "SHOPSYNC_API_SECRET": settings.api_secret.get_secret_value(),
        "SHOPSYNC_POLL_INTERVAL": "0.05",
        "SHOPSYNC_BULK_POLL_INTERVAL": "0.1",
        "PYTHONPATH": str(REPO),
    })
    return env


@pytest.fixture
def shopsync(cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, input: str | None = None, timeout: float = 120,
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tui.cli", *args],
            env=cli_env, cwd=REPO, capture_output=True, text=True, input=input,
            timeout=timeout,
        )

    return run


@pytest.fixture
def sim_shop(simulator) -> Callable[..., dict]:  # type: ignore[no-untyped-def]
    """Create a shop in the simulator; returns {"domain", "access_token"}."""

    def create(domain: str, **fields: object) -> dict:
        response = HTTP.post(f"{simulator.url}/_sim/shops", json={"domain": domain, **fields})
        response.raise_for_status()
        return response.json()

    return create


class ServeProcess:
    """One `serve` subprocess; its log (stderr) goes to a file next to the database."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.url = env["SHOPSYNC_PUBLIC_URL"]
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServeProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "serve"],  # `shopsync serve`, as deployed
            env=self.env, cwd=REPO, stdout=log, stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 20
        while True:
            assert self.proc.poll() is None, f"serve exited: {self.log()[-2000:]}"
            try:
                if HTTP.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"serve not healthy: {self.log()[-2000:]}")
            time.sleep(0.05)

    def terminate(self, signum: int = signal.SIGTERM) -> tuple[int, float]:
        """SIGTERM (or `signum`); returns (exit code, seconds it took to exit)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=20)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def serve_env(cli_env: dict[str, str]) -> dict[str, str]:
    port = free_port()
    return {
        **cli_env,
        "SHOPSYNC_LISTEN": f"127.0.0.1:{port}",
        "SHOPSYNC_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SHOPSYNC_SYNC_INTERVAL": "1",
        "SHOPSYNC_RECONCILE_INTERVAL": "2",
        "SHOPSYNC_WEBHOOK_ASSERT_INTERVAL": "5",
        "SHOPSYNC_LOG_LEVEL": "INFO",
    }


@pytest.fixture
def launch(serve_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    started: list[ServeProcess] = []

    def start(**env: str) -> ServeProcess:
        process = ServeProcess({**serve_env, **env}, tmp_path / "serve.log")
        started.append(process)  # before start(): a serve that never got healthy is killed too
        return process.start()

    yield start
    for process in started:
        process.kill()
