"""Bad SHOPSYNC_* values: a clear message naming the variable and exit 2, never a traceback,
and never the rejected value when it is a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSYNC_")}
    clean.update(SHOPSYNC_HOME=str(home), PYTHONPATH=str(REPO), **env)
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], env=clean, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("SHOPSYNC_LISTEN", "127.0.0.1:abc", "SHOPSYNC_LISTEN must be HOST:PORT"),
    ("SHOPSYNC_LISTEN", "127.0.0.1:99999", "SHOPSYNC_LISTEN must be HOST:PORT"),
    ("SHOPSYNC_LOG_LEVEL", "loud", "SHOPSYNC_LOG_LEVEL must be one of"),
    ("SHOPSYNC_MAX_CONCURRENT_STORES", "many", "SHOPSYNC_MAX_CONCURRENT_STORES"),
    ("SHOPSYNC_SHOPIFY_URL", "https://example.com", "SHOPSYNC_SHOPIFY_URL must contain {shop}"),
    ("SHOPSYNC_SECRET_KEY", "hunter2-not-a-key", "SHOPSYNC_SECRET_KEY is not a Fernet key"),
])
def test_bad_setting_is_a_clear_usage_error(tmp_path: Path, variable: str, value: str,
                                            expected: str) -> None:
    result = _run(tmp_path / "home", "stores", **{variable: value})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert expected in result.stderr
    if variable == "SHOPSYNC_SECRET_KEY":
        assert value not in result.stderr


def test_serve_with_a_bad_listen_address_says_so(tmp_path: Path) -> None:
    result = _run(tmp_path / "home", "serve", SHOPSYNC_LISTEN="localhost")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "SHOPSYNC_LISTEN must be HOST:PORT" in result.stderr


def test_bad_database_url_port_and_unusable_home(tmp_path: Path) -> None:
    result = _run(tmp_path / "home", "stores",
                  SHOPSYNC_DATABASE_URL="postgresql://ops:s3cret@db.example:five/shopsync")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
    assert "invalid port in database URL" in result.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _run(blocker / "home", "stores")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "SHOPSYNC_HOME" in result.stderr
