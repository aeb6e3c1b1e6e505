"""`shopsync --version` and `--help` load nothing but click: the heavy modules (Textual, the
database layer, the HTTP client, package metadata) are imported by the commands that use them.
The time itself is a figure in tests/bench/test_cli_startup.py (a wall-clock bound here would
fail on a loaded machine for reasons that are not the code's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("textual", "rich", "peewee", "httpx", "pydantic", "orjson", "engine.persistence",
         "engine.actions", "importlib.metadata", "tui.cli_output", "textual_serve")

PROBE = """
import sys
from tui.cli import main
try:
    main([{args}], prog_name="shopsync")
except SystemExit:
    pass
heavy = [m for m in {heavy!r} if m in sys.modules]
print("HEAVY:", ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("args", ["'--help'", "'web', '--help'", "'demo', '--help'"])
def test_help_imports_nothing_heavy(args: str) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "Usage:" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "HEAVY:"


def test_version_reads_only_the_package_metadata() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE.format(args="'--version'", heavy=HEAVY)],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("shopsync, version ")
    assert result.stderr.strip().splitlines()[-1] == "HEAVY: importlib.metadata"


def test_a_command_that_uses_http_does_not_import_httpx_s_own_cli(tmp_path: Path) -> None:
    """httpx imports its command-line client (rich.console, pygments) on `import httpx` unless
    that import fails; tui.cli blocks it (about half the CPU of the engine's HTTP stack)."""
    probe = """
import sys
from tui.cli import main
try:
    main(['health', 'nosuch.myshopify.com'], prog_name="shopsync")
except SystemExit as exit:
    print("EXIT:", exit.code, file=sys.stderr)
print("LOADED:", ",".join(m for m in ("httpx", "engine.actions", "httpx._main", "pygments",
                                      "rich.console") if sys.modules.get(m)), file=sys.stderr)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSYNC_")}
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                            text=True, timeout=60, env={**env, "SHOPSYNC_HOME": str(tmp_path)})
    lines = result.stderr.strip().splitlines()
    assert "No store 'nosuch.myshopify.com'" in result.stderr and lines[-2] == "EXIT: 2"
    assert lines[-1] == "LOADED: httpx,engine.actions"
