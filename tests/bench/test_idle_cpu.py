"""CPU used by an idle dashboard over 10,000 stores: the real `shopsync tui` in a terminal.

    python3 dev.py bench -k idle_cpu        (SHOPSYNC_BENCH_IDLE_SECONDS=60 by default)

The TUI runs as its own process in a pseudo-terminal (120×40) on a database of 10,000 stores,
polling every second as it does for an operator, with no job runner (nothing writes). After it
has drawn the fleet, the process's CPU time (utime + stime of every thread, /proc/PID/stat) is
read at the start and the end of the window; the figure is that CPU time over the wall time, in
percent of one core. Target: under 2 %. A bare Textual app (one Static) is measured the same way
in the same run as the floor.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

import pytest

STORES = 10_000
SECONDS = float(os.environ.get("SHOPSYNC_BENCH_IDLE_SECONDS", "60"))
TICKS = os.sysconf("SC_CLK_TCK")
BARE_APP = textwrap.dedent("""
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        def compose(self):
            yield Static("bare")

    Bare().run()
""")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (after state, ppid…)


def _drain(fd: int, seconds: float) -> bytes:
    """Read the terminal's output for `seconds` (the app blocks if nobody reads)."""
    out = bytearray()
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return bytes(out)


def _idle_percent(argv: list[str], env: dict[str, str], ready_text: bytes,
                  settle: float) -> tuple[float, bytes]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: the app, in the terminal
        os.execvpe(argv[0], argv, env)
    try:
        fcntl_size = struct.pack("HHHH", 40, 120, 0, 0)
        import fcntl

        fcntl.ioctl(fd, termios.TIOCSWINSZ, fcntl_size)
        os.kill(pid, signal.SIGWINCH)
        seen = b""
        deadline = time.monotonic() + 120
        while ready_text not in seen and time.monotonic() < deadline:
            seen = (seen + _drain(fd, 0.5))[-200_000:]
        assert ready_text in seen, f"the app never drew {ready_text!r}"
        _drain(fd, settle)  # let the first reads and paints finish
        start_cpu, start = _cpu_seconds(pid), time.monotonic()
        _drain(fd, SECONDS)
        used, wall = _cpu_seconds(pid) - start_cpu, time.monotonic() - start
        return 100.0 * used / wall, seen
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


@pytest.mark.timeout(300 + 3 * SECONDS)  # two idle windows, a fleet to insert, two starts
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_an_idle_dashboard_over_ten_thousand_stores(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = dict(os.environ, SHOPSYNC_HOME=str(home), TERM="xterm-256color", COLUMNS="120",
               LINES="40")
    env.pop("SHOPSYNC_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-c",
         "from engine.config import load_settings\n"
         "from engine.persistence.runtime import open_runtime\n"
         "from tests.tui.factories import bulk_fleet\n"
         "rt = open_runtime(load_settings())\n"
         f"bulk_fleet({STORES})\n"
         "rt.close()\n"],
        env=env, check=True, cwd=Path(__file__).resolve().parents[2],
    )
    bare, _ = _idle_percent([sys.executable, "-c", BARE_APP], env, b"bare", settle=2.0)
    shopsync = str(Path(sys.executable).parent / "shopsync")
    dash, _ = _idle_percent([shopsync, "tui"], env, b"Bulk Store", settle=5.0)
    load = os.getloadavg()[0]
    print(f"\n[idle cpu] {STORES:,} stores, {SECONDS:.0f} s idle (load average {load:.1f}): "
          f"dashboard {dash:.2f} % of one core, bare Textual app {bare:.2f} %, "
          f"target < 2 %")
    assert dash < 2.0
