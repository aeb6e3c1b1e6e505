"""A damaged database: every command says so in one line and exits 1; an empty file is reported,
never silently replaced by a new database."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

COMMANDS = [("stores",), ("stores", "--json"), ("show", "acme"), ("resync", "acme"),
            ("health", "acme"), ("retry", "acme", "orders"), ("settings", "acme"),
            ("disconnect", "acme"), ("delete", "acme", "--yes")]


def _check_all(shopsync: Callable[..., subprocess.CompletedProcess[str]], words: str) -> None:
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda args: (args, shopsync(*args)), COMMANDS))
    for args, result in results:
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: "), (args, result.stderr)
        assert words in lines[0], (args, lines[0])


@pytest.mark.timeout(300)
def test_a_corrupt_database_is_one_clear_line_and_exit_1(
    shopsync: Callable[..., subprocess.CompletedProcess[str]], _isolated_environment: Path,
) -> None:
    assert shopsync("stores").returncode == 0  # creates the database
    database = _isolated_environment / "shopsync.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    database.write_bytes(b"SQLite format 3\x00" + b"\xde\xad\xbe\xef" * 4096)
    _check_all(shopsync, "database")


@pytest.mark.timeout(300)
def test_an_empty_database_file_is_reported_not_reinitialised(
    shopsync: Callable[..., subprocess.CompletedProcess[str]], _isolated_environment: Path,
) -> None:
    assert shopsync("stores").returncode == 0
    database = _isolated_environment / "shopsync.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    database.write_bytes(b"")
    _check_all(shopsync, "is empty (0 bytes)")
    assert database.stat().st_size == 0  # left as found
