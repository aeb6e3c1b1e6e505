#!/usr/bin/env python3
"""shopsync's bootstrap: the README's two commands go through here.

    python3 dev.py demo     install on first use, then run the demo (simulator + engine + TUI)
    python3 dev.py test     install on first use, then run the whole test suite (lint included)
    python3 dev.py bench    the benchmarks in tests/bench (not part of the test suite)
    python3 dev.py screenshots   regenerate screenshots/*.svg from the demo data
    python3 dev.py run ARGS...   any `shopsync` command inside the project's environment

Needs only Python 3.11+ and access to the package registry. It creates .venv in the checkout,
installs uv into it, and syncs the locked dependencies (uv.lock); later runs skip the install
while pyproject.toml and uv.lock are unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".shopsync-installed"
UV_VERSION = "0.13.9"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "uv.lock"):
        digest.update((ROOT / name).read_bytes())
    digest.update(UV_VERSION.encode())
    return digest.hexdigest()


def _outer_pip() -> list[str] | None:
    """This interpreter's pip, aimed at .venv, if it is pip 22.3 or newer (`--python`)."""
    found = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True,
                           text=True, check=False)
    words = found.stdout.split()
    if found.returncode != 0 or len(words) < 2:
        return None
    try:
        major, minor = (int(part) for part in words[1].split(".")[:2])
    except ValueError:
        return None
    if (major, minor) < (22, 3):
        return None
    return [sys.executable, "-m", "pip", "--python", str(BIN / "python")]


def ensure_installed() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs on any python3
        sys.exit(f"shopsync needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    fingerprint = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    print("shopsync: installing into .venv (first run only)…", file=sys.stderr, flush=True)
    # This interpreter's pip installs uv into the new venv when it can (pip 22.3+'s --python):
    # the venv then needs no pip of its own, and ensurepip costs ~8 s of CPU (a third of a
    # fresh clone's install). Without a usable pip here, the venv gets its own.
    outer_pip = _outer_pip()
    if not (BIN / "python").exists():
        try:
            venv.EnvBuilder(with_pip=outer_pip is None).create(VENV)
        except (subprocess.CalledProcessError, OSError) as error:
            shutil.rmtree(VENV, ignore_errors=True)
            sys.exit(
                f"shopsync: could not create .venv ({error}). On Debian/Ubuntu install the "
                "venv module first: sudo apt-get install python3-venv"
            )
    python = str(BIN / "python")
    has_own_pip = subprocess.run([python, "-m", "pip", "--version"], capture_output=True,
                                 check=False).returncode == 0
    pip = [python, "-m", "pip"] if has_own_pip or outer_pip is None else outer_pip
    subprocess.run(
        [*pip, "install", "--quiet", "--disable-pip-version-check", f"uv=={UV_VERSION}"],
        check=True,
    )
    env = dict(os.environ, VIRTUAL_ENV=str(VENV), UV_PROJECT_ENVIRONMENT=str(VENV))
    env.pop("UV_PYTHON", None)
    subprocess.run(
        [str(BIN / "uv"), "sync", "--locked", "--python", python, "--quiet"],
        cwd=ROOT, env=env, check=True,
    )
    STAMP.write_text(fingerprint)


def _exec(argv: list[str]) -> None:
    env = dict(os.environ, VIRTUAL_ENV=str(VENV))
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    os.chdir(ROOT)
    if os.name == "nt":  # no exec on Windows: run and pass the exit code on
        sys.exit(subprocess.run(argv, env=env).returncode)
    os.execvpe(argv[0], argv, env)


def main(argv: list[str]) -> None:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command in ("help", "-h", "--help"):
        print(__doc__)
        return
    ensure_installed()
    if command == "test":
        _exec([str(BIN / "python"), "-m", "tests.run", *rest])
    elif command == "bench":
        _exec([str(BIN / "python"), "-m", "pytest", "tests/bench", "-p", "no:cacheprovider",
               "-o", "addopts=", "-s", *rest])
    elif command == "screenshots":
        _exec([str(BIN / "python"), "-m", "tui.screenshots", *rest])
    elif command == "demo":
        _exec([str(BIN / "shopsync"), "demo", *rest])
    elif command == "run":
        _exec([str(BIN / "shopsync"), *rest])
    else:
        sys.exit(f"dev.py: unknown command {command!r}; try: python3 dev.py help")


if __name__ == "__main__":
    main(sys.argv[1:])
