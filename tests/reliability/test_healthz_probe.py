"""/healthz probes the database (issue 10 §5): a database damaged under a running `serve` turns
/healthz into 503 with a one-line reason, and /metrics into a clear 503, never a 500 traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import wait_until

PAGE = 4096


def _corrupt(database: Path) -> None:
    """Overwrite the pages of every table but the schema version's with garbage, in place: the
    old probe (read the schema version) still passed, while /metrics failed with a traceback."""
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
        pages = [row[0] for row in connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE rootpage > 1 AND tbl_name != 'schema_meta'")]
    connection.close()
    with database.open("r+b") as file:
        for page in pages:
            file.seek((page - 1) * PAGE)
            file.write(b"\xde\xad\xbe\xef" * (PAGE // 4))


@pytest.mark.timeout(120)
def test_healthz_answers_503_when_the_database_is_damaged(
    launch: Any, shopsync: Any, _isolated_environment: Path,
) -> None:
    assert shopsync("stores").returncode == 0
    serve = launch()
    with httpx.Client(base_url=serve.url, timeout=5) as client:
        healthy = client.get("/healthz")
        assert healthy.status_code == 200, healthy.text
        assert client.get("/metrics").status_code == 200
        _corrupt(_isolated_environment / "shopsync.db")
        broken = wait_until(lambda: (r := client.get("/healthz")).status_code == 503 and r, 30)
        body = broken.json()
        assert body["status"] == "unavailable" and body["database"] == "error", body
        assert body["reason"].startswith("database "), body
        assert "\n" not in body["reason"], body
        metrics = client.get("/metrics")
        assert metrics.status_code == 503, metrics.text[:500]
        assert metrics.text.startswith("database ") and metrics.text.count("\n") == 1
    # Neither answered with a 500 (uvicorn logs each one with its traceback).
    assert "Exception in ASGI application" not in serve.log()
