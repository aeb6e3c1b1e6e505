"""Fixtures shared by every test: an isolated SHOPSYNC_HOME, a fresh database, a simulator.

Nothing reads the developer's real home or environment: every SHOPSYNC_* variable is removed,
NO_COLOR is dropped (it changes snapshots), and each test gets its own temp home and database.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pg_cluster import pg_runtime, pg_server  # noqa: F401 - fixtures for every test
from tests.prerequisites import missing_prerequisite  # noqa: F401 - re-exported

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
ADMIN_SCHEMA = SHARED / "reference" / "admin-schema" / "admin-2026-07.graphql"


# What the suite's subprocesses (`shopsync` commands, `serve`, `worker`, the simulator, the web
# dashboard) and the xdist workers import.
WARM_MODULES = (
    "tui.cli", "tui.app", "tui.web", "engine.serve.app", "engine.simulator.server",
    "engine.registry", "engine.actions", "psycopg2", "textual_serve.server", "pytest", "xdist",
    "xdist.remote", "hypothesis", "pytest_textual_snapshot", "textual.pilot", "pytest_asyncio",
    "pytest_timeout",
)


def pytest_configure(config: pytest.Config) -> None:
    _default_interrupt_signals()
    # Hypothesis runs every installed "hypothesis" entry point when it is imported: the one
    # installed is trio's (a dependency of the browser test's selenium), which imports trio and
    # registers trio's Random, a full gc.collect(): `import hypothesis` 0.92 -> 0.37 s of CPU
    # without it, in every xdist worker. No test uses trio.
    os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")
    if not hasattr(config, "workerinput"):  # the controller, before xdist starts its workers
        _warm_bytecode()


@pytest.hookimpl(tryfirst=True)  # before `-m "not alone"` deselects them
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """tests/run.py finds the `alone` modules by reading them (`pytest.mark.alone` in their
    text) and the parallel step deselects every `alone` test: a module marked some other way
    would run in neither step. Refuse it."""
    marked = {item.path for item in items if item.get_closest_marker("alone")}
    if not marked:
        return
    from tests.run import alone_modules

    missed = sorted(str(p) for p in marked - {REPO / m for m in alone_modules()})
    if missed:
        raise pytest.UsageError(f"tests marked alone in {missed}: spell the mark "
                                "`pytest.mark.alone` in the module, or tests/run.py misses it")


def _default_interrupt_signals() -> None:
    """A suite started in the background by a non-interactive shell (`pytest … &` in a
    script) inherits SIGINT and SIGQUIT ignored, and so does every `shopsync` it starts: the
    Ctrl+C tests then wait for an exit that never comes. Give them what a terminal gives."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGQUIT) is signal.SIG_IGN:
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def _warm_bytecode() -> None:
    """With PYTHONDONTWRITEBYTECODE set (as on the shared dev box) nothing is ever cached, so
    every process the suite starts compiles all it imports again: about a second of CPU per
    `shopsync` command, most of its start-up. Compile it once, into a cache inside the venv
    (PYTHONPYCACHEPREFIX; the checkout stays clean), and let every process read from there.
    A developer's own PYTHONPYCACHEPREFIX is used as it is; outside a venv nothing is done.

    What the warm-up cannot reach (modules imported on first use: httpcore and anyio at a
    command's first request, the CLI's output module, uvicorn's protocols, Textual's widgets,
    and the test modules pytest rewrites) is cached by the first process that compiles it:
    the suite's processes write to the same cache (PYTHONDONTWRITEBYTECODE is dropped for
    them), instead of each `shopsync` command compiling ~0.16 s of them again."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return  # Python caches bytecode itself
    prefix = os.environ.get("PYTHONPYCACHEPREFIX")
    if not prefix:
        if sys.prefix == sys.base_prefix:
            return
        prefix = str(Path(sys.prefix) / "pycache")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = prefix
    code = ("import importlib, sys\nfor name in sys.argv[1:]:\n    try:\n"
            "        importlib.import_module(name)\n    except Exception:\n        pass\n")
    subprocess.run([sys.executable, "-c", code, *WARM_MODULES], env=env, cwd=REPO,
                   capture_output=True, timeout=300, check=False)
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    sys.pycache_prefix = prefix
    del os.environ["PYTHONDONTWRITEBYTECODE"]  # into the prefix: never beside the sources
    sys.dont_write_bytecode = False


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


@pytest.fixture(scope="session")
def new_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new SQLite database, created and migrated by the engine (in a process of its own, so
    the models stay bound to nothing here), once per test process. The `runtime` fixtures
    start from a copy of it: the engine would open the copy as it opens any database it made
    before, and a test gets the same empty, current-schema database it would have created,
    for ~4 instead of ~30 ms of CPU (several hundred tests). Tests of creating a database
    open one themselves (tests/engine/test_db.py)."""
    path = tmp_path_factory.mktemp("new-database") / "shopsync.db"
    code = ("import sys; from engine.persistence.database import open_database; "
            "open_database(sys.argv[1]).close()")
    subprocess.run([sys.executable, "-c", code, f"sqlite:///{path}"], cwd=REPO, check=True,
                   timeout=120)
    assert not Path(f"{path}-wal").exists()  # the close checkpointed: one file is all of it
    return path


def _runtime_from(new_database: Path, settings: Any) -> Any:
    """open_runtime(settings), starting from a copy of `new_database` where the settings name
    the default SQLite file and there is none yet."""
    from engine.persistence.runtime import open_runtime

    if settings.database_url is None:
        target = settings.ensure_home() / "shopsync.db"
        if not target.exists():
            shutil.copyfile(new_database, target)
    return open_runtime(settings)


@pytest.fixture
def runtime(settings: Any, new_database: Path) -> Iterator[Any]:
    """An open runtime (database + vault) in the test's own SHOPSYNC_HOME."""
    rt = _runtime_from(new_database, settings)
    yield rt
    rt.close()


@pytest.fixture
def offline_runtime(new_database: Path) -> Iterator[Any]:
    """A runtime with no simulator behind it, for pure database tests."""
    from engine.config import load_settings

    rt = _runtime_from(new_database, load_settings())
    yield rt
    rt.close()


_shop_counter = iter(range(1, 1_000_000))


@pytest.fixture
def unique_domain(request: pytest.FixtureRequest) -> str:
    """A shop domain no other test in this session uses."""
    return f"t{next(_shop_counter):04d}-{os.getpid()}.myshopify.com"
