"""SHOPSYNC_HOME on a shared folder (issue 10 §5): shopsync never changes the mode of a folder it
did not create; a folder other users can write to (like /tmp) is refused with one clear line;
log files are created 0600 (the rotated ones too)."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(env: dict[str, str], home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args], env={**env, "SHOPSYNC_HOME": str(home)},
        cwd=REPO, capture_output=True, text=True, timeout=60, umask=0,
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.timeout(120)
def test_a_folder_other_users_can_write_to_is_refused_and_left_as_it_was(
    cli_env: dict[str, str], tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # what /tmp is
    result = _run(cli_env, shared, "stores")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "other users can write to" in lines[0] and str(shared / "shopsync") in lines[0]
    assert _mode(shared) == 0o1777  # never chmod-ed
    assert list(shared.iterdir()) == []  # no database, key or log left in it
    # What the message suggests works: a folder of its own, created private.
    assert _run(cli_env, shared / "shopsync", "stores").returncode == 0
    assert _mode(shared / "shopsync") == 0o700 and _mode(shared) == 0o1777


@pytest.mark.timeout(120)
def test_an_existing_folder_keeps_its_mode_and_the_files_are_private(
    cli_env: dict[str, str], tmp_path: Path,
) -> None:
    home = tmp_path / "ops"
    home.mkdir()
    os.chmod(home, 0o750)  # the operator's choice: shopsync did not create it
    result = _run(cli_env, home, "stores")  # umask 0: any file not created private shows
    assert result.returncode == 0, result.stderr
    assert _mode(home) == 0o750
    assert _mode(home / "shopsync.log") == 0o600
    assert _mode(home / "shopsync.db") == 0o600


def test_rotated_log_files_are_created_0600(tmp_path: Path) -> None:
    from engine.logs import PrivateRotatingFileHandler

    old = os.umask(0)
    try:
        handler = PrivateRotatingFileHandler(tmp_path / "shopsync.log", maxBytes=200,
                                             backupCount=2, encoding="utf-8")
        log = logging.getLogger("tests.rotation")
        log.addHandler(handler)
        try:
            for n in range(40):
                log.warning("line %d of a log that rotates", n)
        finally:
            log.removeHandler(handler)
            handler.close()
    finally:
        os.umask(old)
    files = sorted(tmp_path.glob("shopsync.log*"))
    assert len(files) == 3, files
    assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}
