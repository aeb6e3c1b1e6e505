"""Fixtures the benchmarks share."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest


@pytest.fixture
def simulator_process() -> Iterator[str]:
    """The simulator in a subprocess; yields its origin (http://127.0.0.1:PORT)."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from engine.simulator.server import run; run(port=0, seed=7)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"SHOPSYNC_SHOPIFY_URL=(\S+)/\{shop\}", line)
        assert match, f"unexpected simulator banner: {line!r}"
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)
