"""The whole test suite, as the README's test command runs it: lint, contracts, types, pytest.

Each step prints its name; the first failing step's exit code is the result (in the order
listed: ruff, import contracts, types, pytest, pytest alone). With no arguments the three
static checks run beside the parallel pytest step, not before it: they are single processes
(mypy from a fresh clone is ~20 s of one core) and the parallel step leaves part of the CPU
idle. Their output is printed once they end, as if they had run first.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# A test module that marks itself `alone` (`pytest.mark.alone` in its text): found by reading
# the files, not by collecting the whole suite (~12 s of CPU) to pick one test out of 840.
_ALONE = re.compile(r"\bpytest\.mark\.alone\b")


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


def alone_modules(root: Path = REPO / "tests") -> list[str]:
    """The test modules with tests marked `alone`, as paths relative to the checkout."""
    found = []
    for path in sorted(root.rglob("test_*.py")):
        if "bench" in path.relative_to(root).parts:
            continue  # tests/bench is not part of the suite (pyproject's --ignore)
        if _ALONE.search(path.read_text(encoding="utf-8")):
            found.append(str(path.relative_to(REPO)))
    return found


# anyio's pytest plugin (installed with anyio, which httpx needs) lists the async backends it
# can run when it is imported, and so imports trio (there because selenium needs it): ~0.5 s of
# CPU in every pytest process, the controller and each xdist worker. No test is an anyio test
# (pytest-asyncio runs the async ones); one marked `anyio` would fail as an unknown marker.
_PLUGINS_OFF = ["-p", "no:anyio"]


def _pytest(python: str, argv: list[str]) -> list[tuple[str, list[str]]]:
    """The whole suite: the parallel part, then the tests marked `alone` (the multi-process
    PostgreSQL fleet run, which loads every core) by themselves. Arguments given: as given."""
    pytest = [python, "-m", "pytest", *_PLUGINS_OFF]
    if argv:
        return [("pytest", [*pytest, *_parallel(argv), *argv])]
    steps = [("pytest", [*pytest, *_parallel(argv), "-m", "not alone"])]
    alone = alone_modules()
    if alone:
        steps.append(("pytest, alone", [*pytest, "-n", "0", "-m", "alone", *alone]))
    return steps


class _Background:
    """A step started now whose output is kept in a file and printed when it is waited for.
    When it fails, `on_failure` is called at once (the run stops the pytest step then: a lint
    error is known in seconds, as when the checks ran first)."""

    def __init__(self, name: str, argv: list[str], on_failure: Callable[[], None]) -> None:
        self.name, self.argv = name, argv
        self.output = tempfile.TemporaryFile()  # noqa: SIM115 - closed in wait()
        self.process = subprocess.Popen(argv, stdout=self.output, stderr=subprocess.STDOUT)
        self._watch = threading.Thread(target=self._watch_exit, args=(on_failure,),
                                       daemon=True)
        self._watch.start()

    def _watch_exit(self, on_failure: Callable[[], None]) -> None:
        if self.process.wait() != 0:
            on_failure()

    def wait(self) -> int:
        code = self.process.wait()
        print(f"== {self.name}: {' '.join(self.argv)}", flush=True)
        self.output.seek(0)
        sys.stdout.buffer.write(self.output.read())
        sys.stdout.flush()
        self.output.close()
        return code


def main(argv: list[str]) -> int:
    python = sys.executable
    bindir = os.path.dirname(python)
    checks = [
        ("ruff", [os.path.join(bindir, "ruff"), "check", "."]),
        ("import contracts", [os.path.join(bindir, "lint-imports")]),
        ("types", [os.path.join(bindir, "mypy")]),  # engine/ and tui/, see [tool.mypy]
    ]
    tests = _pytest(python, argv)
    # The static checks beside the first pytest step (see the docstring). A failing check
    # interrupts that step (as Ctrl+C would) and is the result, as when it ran first.
    name, command = tests[0]
    print(f"== {name}: {' '.join(command)}", flush=True)
    first = subprocess.Popen(command)

    def interrupt() -> None:
        if first.poll() is None:
            first.send_signal(signal.SIGINT)

    background = [_Background(check, argv_, interrupt) for check, argv_ in checks]
    first_code = first.wait()
    codes = [step.wait() for step in background]  # all of them: none is left running
    for step, code in zip(background, codes, strict=True):
        if code != 0:
            print(f"== {step.name} failed (exit {code})", flush=True)
            return code
    if first_code != 0:
        print(f"== {name} failed (exit {first_code})", flush=True)
        return first_code
    for name, command in tests[1:]:
        code = _step(name, command)
        if code != 0:
            print(f"== {name} failed (exit {code})", flush=True)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
