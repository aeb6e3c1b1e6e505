"""OAuth state poisoning (issue 10 §5): a callback with the right state but a bad signature (or
none: an unsigned "declined") is refused without settling the state, so the `connect` waiting for
it is not ended with an error; the real callback afterwards connects the store."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from tests.engine.livedata_support import free_port
from tests.support import HTTP

REPO = Path(__file__).resolve().parents[2]


def _result(database: Path, state: str) -> tuple[str | None, str | None]:
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT result, used_at FROM o_auth_state WHERE state = ?",
                                 (state,)).fetchone()
    connection.close()
    assert row is not None, "the connect's state was not stored"
    return row[0], row[1]


@pytest.mark.timeout(120)
def test_a_forged_callback_does_not_end_the_waiting_connect(
    cli_env: dict[str, str], sim_shop: object, unique_domain: str, _isolated_environment: Path,
) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = dict(cli_env, SHOPSYNC_LISTEN=f"127.0.0.1:{port}", SHOPSYNC_PUBLIC_URL=public)
    sim_shop(unique_domain, customers=1, orders=1, products=1, collections=1)  # type: ignore[operator]
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "connect", unique_domain, "--no-sync", "--timeout",
         "60"], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()  # printed once the listener is up
        assert url.startswith("http"), process.communicate(timeout=30)
        real = HTTP.get(url, follow_redirects=False, timeout=10).headers["location"]
        params = dict(parse_qsl(urlsplit(real).query))
        state = params["state"]
        callback = f"{public}/oauth/callback"
        forgeries = [
            {**params, "hmac": "0" * 64},                                # a bad signature
            {**params, "code": "attacker-code"},                         # altered parameters
            {key: v for key, v in params.items() if key != "hmac"},     # no signature at all
            {"error": "access_denied", "state": state, "shop": unique_domain},  # a fake decline
        ]
        for forged in forgeries:
            answer = HTTP.get(f"{callback}?{urlencode(forged)}", timeout=10)
            assert answer.status_code == 400, (forged, answer.text)
            assert process.poll() is None  # still waiting
            assert _result(_isolated_environment / "shopsync.db", state) == (None, None), forged
        assert HTTP.get(real, timeout=30).status_code == 200  # the merchant's real approval
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        assert ": Connected" in stdout and "Error" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
