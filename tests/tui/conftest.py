"""Fixtures for the TUI tests: fixture databases and a deterministic app factory.

Every app made here has a frozen clock, no live polling, no embedded job runner, a fixed
theme and no database path in the header (the temp path differs per run), so snapshots and
Pilot tests see exactly the data the factories wrote.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.tui.factories import demo_fleet, frozen_clock

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_app(offline_runtime: Any) -> Callable[..., Any]:
    """`make_app(**overrides)`: a ShopsyncApp on the test's database, deterministic."""
    from tui.app import ShopsyncApp

    def factory(**overrides: Any) -> ShopsyncApp:
        options: dict[str, Any] = {
            "clock": frozen_clock, "poll": False, "embedded_runner": False,
            "theme": "textual-dark", "context": "", "ascii": False,
        }
        options.update(overrides)
        return ShopsyncApp(offline_runtime, **options)

    return factory


@pytest.fixture(scope="session")
def demo_fleet_database(tmp_path_factory: pytest.TempPathFactory,
                        new_database: Path) -> tuple[Path, dict[str, str]]:
    """demo_fleet() written once per test process (in a process of its own) into a copy of
    the new database: the file, and each fixture store's key → domain."""
    path = tmp_path_factory.mktemp("demo-fleet") / "shopsync.db"
    shutil.copyfile(new_database, path)
    code = ("import json, sys\n"
            "from engine.persistence.database import open_database\n"
            "db = open_database(sys.argv[1])\n"
            "from tests.tui.factories import demo_fleet\n"
            "print(json.dumps({key: store.domain for key, store in demo_fleet().items()}))\n"
            "db.close()\n")
    made = subprocess.run([sys.executable, "-c", code, f"sqlite:///{path}"], cwd=REPO,
                          check=True, capture_output=True, text=True, timeout=120)
    assert not Path(f"{path}-wal").exists()  # the close checkpointed: one file is all of it
    return path, json.loads(made.stdout)


@pytest.fixture
def fleet(offline_runtime: Any, demo_fleet_database: tuple[Path, dict[str, str]]
          ) -> dict[str, Any]:
    """The demo-like fleet (every status and state) in the test's database.

    Copied into the test's new database with SQLite's backup (the rows demo_fleet() writes are
    fixed, FROZEN_NOW-relative: every copy is what writing them here would give), ~0.1 s of
    CPU less per test than writing them. A database something was written to already gets
    demo_fleet() written into it instead."""
    from engine.persistence.models import Event, Job, Store

    if Store.select().exists() or Event.select().exists() or Job.select().exists():
        return demo_fleet()
    path, domains = demo_fleet_database
    source = sqlite3.connect(path)
    try:
        source.backup(offline_runtime.db.connection())
    finally:
        source.close()
    return {key: Store.get(Store.domain == domain) for key, domain in domains.items()}
