"""Fixtures shared by every test: an isolated SHOPSYNC_HOME, a fresh database, a simulator.

Nothing reads the developer's real home or environment: every SHOPSYNC_* variable is removed,
NO_COLOR is dropped (it changes snapshots), and each test gets its own temp home and database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg_cluster import pg_runtime, pg_server  # noqa: F401 - fixtures for every test
from tests.prerequisites import missing_prerequisite  # noqa: F401 - re-exported

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
ADMIN_SCHEMA = SHARED / "reference" / "admin-schema" / "admin-2026-07.graphql"


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("SHOPSYNC_") or name == "NO_COLOR":
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("SHOPSYNC_HOME", str(home))
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    return home


@pytest.fixture(scope="session")
def simulator_session() -> Iterator[object]:
    """One simulator for the whole session; tests create their own shops in it."""
    from engine.simulator.server import SimulatorThread

    with SimulatorThread(seed=7) as sim:
        yield sim


@pytest.fixture
def simulator(simulator_session: object) -> object:
    return simulator_session


@pytest.fixture
def settings(simulator: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings pointing at the session simulator with the demo app's credentials."""
    from engine.config import load_settings
    from engine.simulator import DEMO_API_KEY, DEMO_API_SECRET

    monkeypatch.setenv("SHOPSYNC_SHOPIFY_URL", simulator.shopify_url)  # type: ignore[attr-defined]
    monkeypatch.setenv("SHOPSYNC_API_KEY", DEMO_API_KEY)
    monkeypatch.setenv("SHOPSYNC_API_SECRET", DEMO_API_SECRET)
    monkeypatch.setenv("SHOPSYNC_POLL_INTERVAL", "0.05")
    monkeypatch.setenv("SHOPSYNC_BULK_POLL_INTERVAL", "0.1")
    return load_settings()


@pytest.fixture
def runtime(settings):
    """An open runtime (database + vault) in the test's own SHOPSYNC_HOME."""
    from engine.persistence.runtime import open_runtime

    rt = open_runtime(settings)
    yield rt
    rt.close()


@pytest.fixture
def offline_runtime():
    """A runtime with no simulator behind it, for pure database tests."""
    from engine.config import load_settings
    from engine.persistence.runtime import open_runtime

    rt = open_runtime(load_settings())
    yield rt
    rt.close()


_shop_counter = iter(range(1, 1_000_000))


@pytest.fixture
def unique_domain(request: pytest.FixtureRequest) -> str:
    """A shop domain no other test in this session uses."""
    return f"t{next(_shop_counter):04d}-{os.getpid()}.myshopify.com"
