"""Helpers for running `shopsync` as a subprocess against the session simulator."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

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
        response = httpx.post(f"{simulator.url}/_sim/shops", json={"domain": domain, **fields})
        response.raise_for_status()
        return response.json()

    return create
