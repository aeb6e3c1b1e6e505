"""`shopsync --version` and `--help` wall time, against the floor of the same interpreter
starting and importing click (what any click CLI costs), measured in the same run.

Run with:  .venv/bin/python -m pytest tests/bench/test_cli_startup.py -s -o addopts=
Target: both under 0.3 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHOPSYNC = Path(sys.executable).parent / "shopsync"
RUNS = 7
TARGET = 0.3


def _median(argv: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(argv, cwd=REPO, capture_output=True, check=True, timeout=60)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_version_and_help_start_fast() -> None:
    floor = _median([sys.executable, "-c", "import click"])
    version = _median([str(SHOPSYNC), "--version"])
    help_ = _median([str(SHOPSYNC), "--help"])
    web_help = _median([str(SHOPSYNC), "web", "--help"])
    print(f"\nfloor (python + import click): {floor:.3f} s")
    for name, seconds in (("--version", version), ("--help", help_), ("web --help", web_help)):
        print(f"shopsync {name}: {seconds:.3f} s = {seconds / floor:.2f}x the floor")
    assert version < TARGET and help_ < TARGET
