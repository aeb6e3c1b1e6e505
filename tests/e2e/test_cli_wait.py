"""What an action command says when it stops waiting for its job."""

from __future__ import annotations

import json


def test_timeout_without_a_background_runner_says_the_job_waits(
    shopsync, sim_shop, unique_domain
) -> None:
    shop = sim_shop(unique_domain, customers=5, bulk_delay_ms=60_000)
    connected = shopsync("connect", unique_domain, "--token", shop["access_token"], "--no-sync")
    assert connected.returncode == 0, connected.stderr
    result = shopsync("retry", unique_domain, "customers", "--timeout", "1")
    assert result.returncode == 1
    # No `serve` and no dashboard: the job stopped with the command, nothing runs it now.
    assert "keeps running in the background" not in result.stderr
    assert "resumes when `shopsync serve` or the dashboard runs" in result.stderr
    [store] = json.loads(shopsync("stores", "--json").stdout)
    assert store["entities"]["customers"]["state"] != "syncing"
