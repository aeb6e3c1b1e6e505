"""Bytes the real `shopsync tui` writes to a real terminal (a pseudo-terminal, 120×40): what a
slow SSH link carries for opening a store and going back, and for an idle minute on the
dashboard and on the store screen with the default live refresh (1 s) against --refresh 5.

    python3 dev.py bench -k bytes_pty     (SHOPSYNC_BENCH_IDLE_SECONDS=60 by default)

The app runs as its own process (`shopsync tui --read-only`: no job runner, so nothing writes
to the database and every byte is the UI's own) over the demo-like fleet of the TUI tests
(tests/tui/factories.demo_fleet). The floor is one whole frame of the dashboard at 120×40,
measured in the same run: the terminal is made one line shorter, then 120×40 again, and what
Textual writes for that resize (whole frames only, each starting at the top-left corner) is
divided by the number of frames. Open and back are each the bytes from the key to the
first 1.5 s without output, the median of three; they run under --refresh 3600 so no live
refresh falls into the window. `SHOPSYNC_BENCH_ROOT=DIR` runs the code of another checkout
(e.g. an export of an older commit) with this environment, for before/after figures.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("SHOPSYNC_BENCH_ROOT", REPO))
IDLE = float(os.environ.get("SHOPSYNC_BENCH_IDLE_SECONDS", "60"))
COLUMNS, LINES = 120, 40
QUIET = 1.5  # seconds without output that end a transition

pytestmark = pytest.mark.timeout(300 + 4 * IDLE)


class Terminal:
    """The app in a pseudo-terminal; every byte it writes is read and counted."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the app, in the terminal
            os.chdir(ROOT)
            os.execvpe(argv[0], argv, env)
        self.seen = bytearray()
        self.resize(LINES)

    def resize(self, lines: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", lines, COLUMNS, 0, 0))
        os.kill(self.pid, signal.SIGWINCH)

    def read(self, seconds: float) -> int:
        """Bytes written in the next `seconds` (the app blocks if nobody reads)."""
        total = 0
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.1))
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    break
                total += len(data)
                self.seen = (self.seen + data)[-300_000:]
        return total

    def until_quiet(self, limit: float = 60.0) -> int:
        """Bytes written from now until the first QUIET seconds without output (after some)."""
        total = 0
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            got = self.read(QUIET)
            total += got
            if total and not got:
                return total
        raise AssertionError(f"the app never went quiet ({total:,} bytes in {limit:.0f} s)")

    def settle(self, limit: float) -> None:
        """Read until QUIET seconds pass without output, or `limit` (a screen that repaints
        every second is never quiet)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and self.read(min(QUIET, deadline - time.monotonic())):
            pass

    def press(self, key: bytes) -> int:
        os.write(self.fd, key)
        return self.until_quiet()

    def close(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


def _seed(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-c",
         "from engine.config import load_settings\n"
         "from engine.persistence.runtime import open_runtime\n"
         "from tests.tui.factories import demo_fleet\n"
         "rt = open_runtime(load_settings())\n"
         "demo_fleet()\n"
         "rt.close()\n"],
        env=env, check=True, cwd=ROOT,
    )


def _app(env: dict[str, str], refresh: float) -> Terminal:
    code = "import sys; from tui.cli import main; main(sys.argv[1:], prog_name='shopsync')"
    terminal = Terminal([sys.executable, "-c", code, "tui", "--read-only", "--refresh",
                         str(refresh)], env)
    terminal.until_quiet(limit=120)
    assert b"Acme Outdoor" in terminal.seen, "the dashboard never drew the fleet"
    return terminal


def test_bytes_for_open_and_back_and_idle_minutes(tmp_path: Path) -> None:
    env = dict(os.environ, SHOPSYNC_HOME=str(tmp_path / "home"), TERM="xterm-256color",
               LANG="C.UTF-8",
               PYTHONPATH=str(ROOT))
    for name in [n for n in env if n.startswith("SHOPSYNC_") and n != "SHOPSYNC_HOME"]:
        env.pop(name)
    env.pop("NO_COLOR", None)
    _seed(env)

    terminal = _app(env, 3600)
    try:
        terminal.resize(LINES - 1)
        terminal.until_quiet()
        terminal.resize(LINES)
        start = len(terminal.seen)
        resized = terminal.until_quiet()
        frames = max(1, bytes(terminal.seen[start:]).count(b"\x1b[1;1H"))
        floor = resized // frames
        opened, back = [], []
        for _ in range(3):
            opened.append(terminal.press(b"\r"))
            back.append(terminal.press(b"\x1b"))
    finally:
        terminal.close()
    print(f"\n[bytes, pty {COLUMNS}x{LINES}, code of {ROOT}]")
    print(f"one whole frame of the dashboard (floor): {floor:,} bytes "
          f"(a resize wrote {frames} frames)")
    for name, runs in (("open a store (enter)", opened), ("back (escape)", back)):
        middle = statistics.median(runs)
        print(f"{name}: {middle:,.0f} bytes = {middle / floor:.2f}x the floor "
              f"(runs: {', '.join(f'{n:,}' for n in runs)})")

    for refresh in (1.0, 5.0):
        terminal = _app(env, refresh)
        try:
            dashboard = terminal.read(IDLE)
            os.write(terminal.fd, b"\r")
            terminal.settle(limit=15.0)  # its first paints, not counted as idle
            store = terminal.read(IDLE)
        finally:
            terminal.close()
        print(f"idle {IDLE:.0f} s, --refresh {refresh:g}: dashboard {dashboard:,} bytes, "
              f"store screen {store:,} bytes ({(dashboard + store) / floor:.2f}x the floor)")
