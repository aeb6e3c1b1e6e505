"""The whole test suite, as the README's test command runs it: lint, contracts, types, pytest.

Each step prints its name; the first failing step's exit code is the result.
"""

from __future__ import annotations

import os
import subprocess
import sys


def _step(name: str, argv: list[str]) -> int:
    print(f"== {name}: {' '.join(argv)}", flush=True)
    return subprocess.run(argv).returncode


def _parallel(argv: list[str]) -> list[str]:
    """One pytest worker per core (xdist) unless the caller chose otherwise."""
    if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in argv):
        return []
    # worksteal: a worker that runs out takes queued tests from the other, so one long test
    # drawn late (random order) does not leave a core idle at the end.
    return ["-n", str(min(4, os.cpu_count() or 1)), "--dist", "worksteal"]


def _pytest(python: str, argv: list[str]) -> list[tuple[str, list[str]]]:
    """The whole suite: the parallel part, then the tests marked `alone` (the multi-process
    PostgreSQL fleet run, which loads every core) by themselves. Arguments given: as given."""
    if argv:
        return [("pytest", [python, "-m", "pytest", *_parallel(argv), *argv])]
    return [
        ("pytest", [python, "-m", "pytest", *_parallel(argv), "-m", "not alone"]),
        ("pytest, alone", [python, "-m", "pytest", "-n", "0", "-m", "alone"]),
    ]


def main(argv: list[str]) -> int:
    python = sys.executable
    bindir = os.path.dirname(python)
    steps = [
        ("ruff", [os.path.join(bindir, "ruff"), "check", "."]),
        ("import contracts", [os.path.join(bindir, "lint-imports")]),
        ("types", [os.path.join(bindir, "mypy")]),  # engine/ and tui/, see [tool.mypy]
        *_pytest(python, argv),
    ]
    for name, command in steps:
        code = _step(name, command)
        if code != 0:
            print(f"== {name} failed (exit {code})", flush=True)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
