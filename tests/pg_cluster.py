"""A throwaway PostgreSQL cluster for the tests: `pg_server` (session) and `pg_runtime`.

The cluster is started with the machine's initdb/pg_ctl (as the `postgres` user when run as
root) on a free port, with fsync off; each `pg_runtime` gets a database of its own. Where
PostgreSQL is absent the tests skip with a clear message, or fail when CI is set
(tests.conftest.missing_prerequisite).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.prerequisites import missing_prerequisite


def create_database(server: str) -> str:
    """A new, empty database on the cluster; its URL."""
    import psycopg2

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(f"{server}/postgres")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return f"{server}/{name}"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    bindir = _pg_bin()
    if bindir is None:
        missing_prerequisite("PostgreSQL tests need initdb/pg_ctl (Debian package postgresql)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing_prerequisite("running as root needs runuser to start PostgreSQL as `postgres`")
    workdir = Path(tempfile.mkdtemp(prefix="shopsync-pg-"))
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = workdir / "data"
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust",
                                 "-U", "postgres"]), check=True, capture_output=True)
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
                                 "-l", str(workdir / "log"), "-w", "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast",
                                     "stop"]), capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def pg_runtime(pg_server: str, settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from engine import actions
    from engine.config import load_settings
    from engine.persistence.runtime import open_runtime

    monkeypatch.setenv("SHOPSYNC_DATABASE_URL", create_database(pg_server))
    runtime = open_runtime(load_settings())
    actions.use_runtime(runtime)
    yield runtime
    runtime.close()
