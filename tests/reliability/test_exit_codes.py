"""Exit codes and messages that tell the truth: a failed initial sync, a skipped job, Ctrl+C
while waiting, and a domain that starts with a hyphen."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.domain.jobs import JobKind, JobState
from engine.domain.views import JobView
from tests.support import HTTP
from tui import cli_output

REPO = Path(__file__).resolve().parents[2]


def test_a_domain_starting_with_a_hyphen_gets_the_domain_message(
    shopsync: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    for args in (("connect", "-abcd"), ("connect", "--no-sync", "-abcd"),
                 ("connect", "-abcd", "--token", "x")):
        result = shopsync(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "Store name cannot start or end with a hyphen" in result.stderr, result.stderr
        assert "No such option" not in result.stderr


def test_connect_exits_1_when_its_initial_sync_fails(
    shopsync: Callable[..., subprocess.CompletedProcess[str]], sim_shop: Callable[..., dict],
    simulator: Any, unique_domain: str,
) -> None:
    token = sim_shop(unique_domain, orders=3)["access_token"]
    HTTP.patch(f"{simulator.url}/_sim/shops/{unique_domain}",
               json={"fail_bulk": {"orders": "ACCESS_DENIED"}}).raise_for_status()
    result = shopsync("connect", unique_domain, "--token", token)
    assert result.returncode == 1, result.stderr
    assert "Connected" in result.stderr and "Error:" in result.stderr


def test_a_skipped_job_is_reported_as_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    progress = cli_output.Progress()
    progress.tty = False
    progress.update(JobView(1, JobKind.SYNC, JobState.DONE, "a.myshopify.com", "orders", 4891,
                            69948, None, {"skipped": "store needs reconnecting"}))
    err = capsys.readouterr().err
    assert err == "orders: skipped (store needs reconnecting)\n"


@pytest.mark.timeout(180)
def test_ctrl_c_while_waiting_says_what_becomes_of_the_job(
    cli_env: dict[str, str], sim_shop: Callable[..., dict], simulator: Any,
    unique_domain: str, shopsync: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    token = sim_shop(unique_domain, orders=5)["access_token"]
    assert shopsync("connect", unique_domain, "--token", token, "--no-sync").returncode == 0
    HTTP.patch(f"{simulator.url}/_sim/shops/{unique_domain}",
               json={"bulk_delay_ms": 60_000}).raise_for_status()
    process = subprocess.Popen([sys.executable, "-m", "tui.cli", "retry", unique_domain,
                                "orders"], env=cli_env, cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    seen = ""
    deadline = time.monotonic() + 60
    while "orders:" not in seen:  # waiting for the job now
        assert time.monotonic() < deadline, seen
        seen += process.stderr.readline()
    process.send_signal(signal.SIGINT)
    _out, rest = process.communicate(timeout=60)
    err = seen + rest
    assert process.returncode == 130, err
    assert "Interrupted: the job goes back to the queue" in err, err
    assert "Traceback" not in err
