"""`pip install .` into a fresh virtual environment outside the checkout, then the installed
`shopsync` answers --version, `demo --help` and `web --help` (run from outside the checkout, so
nothing is imported from the source tree).

The install is uv's pip (`uv pip install`, constrained to uv.lock's versions), which takes the
wheels from the local package cache that `python3 dev.py` filled and only revalidates the index
(uv's `--offline` also wants the index pages cached, which they are not); about ten seconds.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"


def _uv_env() -> dict[str, str]:
    """The environment without the test's fake HOME: uv's cache lives in the real one."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SHOPSYNC_", "VIRTUAL_ENV", "PYTHONPATH"))}
    env["HOME"] = pwd.getpwuid(os.getuid()).pw_dir
    return env


@pytest.mark.slow
def test_pip_install_into_a_fresh_venv_outside_the_checkout(tmp_path: Path) -> None:
    if not UV.exists():
        pytest.fail(f"uv is missing from {UV.parent}: `python3 dev.py` installs it")
    env = _uv_env()
    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)],
                   env=env, check=True, timeout=120, cwd=tmp_path)
    # The locked versions (uv.lock): the ones the local cache holds.
    pins = tmp_path / "constraints.txt"
    subprocess.run([str(UV), "export", "--frozen", "--no-dev", "--no-hashes",
                    "--no-emit-project", "--quiet", "-o", str(pins)],
                   env=env, check=True, timeout=120, cwd=REPO)
    install = subprocess.run(
        [str(UV), "pip", "install", "--quiet", "--python",
         str(venv / "bin" / "python"), "--constraint", str(pins), str(REPO)],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert install.returncode == 0, install.stderr[-3000:]
    shopsync = venv / "bin" / "shopsync"
    outside = {**env, "HOME": str(tmp_path)}
    version = subprocess.run([str(shopsync), "--version"], env=outside, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("shopsync, version 0."), (
        version.stdout + version.stderr)
    for command in ("demo", "web"):
        shown = subprocess.run([str(shopsync), command, "--help"], env=outside, cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and "Usage: shopsync " + command in shown.stdout, (
            shown.stdout + shown.stderr)
    # The installed copy, not the checkout, answered.
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import tui, engine; print(tui.__file__, engine.__file__)"],
                           env=outside, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert str(REPO) not in where.stdout and str(venv) in where.stdout
