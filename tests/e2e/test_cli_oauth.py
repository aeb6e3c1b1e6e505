"""`shopsync connect` by OAuth without --approve: the CLI waits for the real callback at its
own listener (engine.actions.wait_for_oauth, the same wait the TUI's Connect drawer uses)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import REPO
from tests.engine.livedata_support import free_port
from tests.support import HTTP


@pytest.fixture
def connecting(cli_env: dict[str, str], sim_shop, unique_domain: str  # type: ignore[no-untyped-def]
               ) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """`shopsync connect DOMAIN` running, with the authorize URL it printed and its public URL."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = dict(cli_env, SHOPSYNC_LISTEN=f"127.0.0.1:{port}", SHOPSYNC_PUBLIC_URL=public)
    sim_shop(unique_domain, customers=2, orders=2, products=1, collections=1)
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "connect", unique_domain, "--no-sync", "--timeout", "60"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()  # printed once the listener is up
        assert url.startswith("http"), process.communicate(timeout=30)
        yield process, url, public
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_the_approval_reaches_the_cli_and_it_connects(connecting, unique_domain: str) -> None:
    process, url, public = connecting
    authorize = HTTP.get(url, follow_redirects=False, timeout=10)
    callback = authorize.headers["location"]
    assert callback.startswith(f"{public}/oauth/callback")
    assert HTTP.get(callback, timeout=30).status_code == 200
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert ": Connected" in stdout


def test_a_declined_approval_ends_the_wait_with_the_reason(  # type: ignore[no-untyped-def]
        connecting, simulator, unique_domain: str) -> None:
    process, url, public = connecting
    HTTP.patch(f"{simulator.url}/_sim/shops/{unique_domain}", json={"deny_oauth": True},
               timeout=10).raise_for_status()
    callback = HTTP.get(url, follow_redirects=False, timeout=10).headers["location"]
    assert callback.startswith(f"{public}/oauth/callback")
    declined = HTTP.get(callback, timeout=10)  # the signed decline Shopify redirects with
    assert declined.status_code == 400
    _stdout, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "declined" in stderr


def test_no_approval_in_time_is_a_clear_error(cli_env: dict[str, str], sim_shop,  # type: ignore[no-untyped-def]
                                               unique_domain: str) -> None:
    sim_shop(unique_domain, customers=1, orders=1, products=1, collections=1)
    port = free_port()
    env = dict(cli_env, SHOPSYNC_LISTEN=f"127.0.0.1:{port}",
               SHOPSYNC_PUBLIC_URL=f"http://127.0.0.1:{port}")
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "connect", unique_domain, "--no-sync",
         "--timeout", "0.2"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Timed out waiting for the approval on Shopify" in result.stderr
