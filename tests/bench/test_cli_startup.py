"""`shopsync --version`, `--help` and shell completion wall time (the median of RUNS runs, the
first of them cold), against two floors measured in the same run: the interpreter alone
(`python -c pass`) and the interpreter importing click (what any click CLI costs).

Run with:  python3 dev.py bench -k cli_startup
Target: --version and --help under 0.3 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHOPSYNC = Path(sys.executable).parent / "shopsync"
RUNS = 7
TARGET = 0.3


def _median(argv: list[str], env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(argv, cwd=REPO, capture_output=True, check=True, timeout=60,
                       env=None if env is None else {**os.environ, **env})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_version_and_help_start_fast() -> None:
    bare = _median([sys.executable, "-c", "pass"])
    floor = _median([sys.executable, "-c", "import click"])
    version = _median([str(SHOPSYNC), "--version"])
    help_ = _median([str(SHOPSYNC), "--help"])
    web_help = _median([str(SHOPSYNC), "web", "--help"])
    complete = _median([str(SHOPSYNC)], {"_SHOPSYNC_COMPLETE": "bash_complete",
                                         "COMP_WORDS": "shopsync retry x ", "COMP_CWORD": "3"})
    print(f"\nmedians of {RUNS} runs, load average {os.getloadavg()[0]:.1f}; floors: "
          f"python -c pass {bare:.3f} s, python + import click {floor:.3f} s")
    for name, seconds in (("--version", version), ("--help", help_), ("web --help", web_help),
                          ("completion of an entity", complete)):
        print(f"shopsync {name}: {seconds:.3f} s = {seconds / floor:.2f}x python + click, "
              f"{seconds / bare:.2f}x bare python")
    assert version < TARGET and help_ < TARGET
