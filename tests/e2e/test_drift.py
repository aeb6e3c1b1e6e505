"""Issue 9 acceptance, the count check: local records that silently drifted from Shopify.

With the simulator's webhooks off, 2 customers are deleted and 3 added in Shopify; `shopsync
health STORE` (a subprocess) exits 1 naming "Customers: 250 here, 251 in Shopify"; Troubleshoot
(Pilot, on the same database) lists it with the re-sync key; `shopsync retry STORE customers`
repairs it and the count check that follows the full sync clears the Error.
"""

from __future__ import annotations

import json
import re
from typing import Any

from engine.persistence.models import EntitySync, Store
from tests.support import HTTP
from tests.tui.factories import frozen_clock
from tests.tui.screen_helpers import screen_text, settle
from tui.screens.troubleshoot import TroubleshootScreen

DRIFT = "Customers: 250 here, 251 in Shopify"


def _drift_customers(simulator: Any, domain: str) -> None:
    """Webhooks off; 2 customers deleted and 3 created in Shopify."""
    base = f"{simulator.url}/_sim/shops/{domain}"
    HTTP.patch(base, json={"webhooks_enabled": False}).raise_for_status()
    ids = HTTP.get(f"{base}/customers/ids").json()["ids"]
    for numeric in ids[:2]:
        HTTP.delete(f"{base}/customers/{numeric}").raise_for_status()
    for n in range(3):
        HTTP.post(f"{base}/customers", json={"first_name": f"Drift{n}"}).raise_for_status()


async def _troubleshoot_text(runtime: Any) -> tuple[str, list[Any]]:
    from tui.app import ShopsyncApp

    app = ShopsyncApp(runtime, clock=frozen_clock, poll=False, embedded_runner=False,
                      theme="textual-dark", context="", ascii=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, TroubleshootScreen)
        return screen_text(app), list(screen.findings)


async def test_drift_is_found_shown_and_repaired(shopsync, sim_shop, unique_domain, simulator,
                                                 runtime) -> None:
    shop = sim_shop(unique_domain, customers=250, orders=5, products=4, collections=2)
    connected = shopsync("connect", unique_domain, "--token", shop["access_token"])
    assert connected.returncode == 0, connected.stderr
    # The count check after the initial sync found everything matching.
    shown = json.loads(shopsync("show", unique_domain, "--json").stdout)
    assert shown["status"] == "connected"
    assert shown["readiness"]["records_match"] is True

    _drift_customers(simulator, unique_domain)
    checked = shopsync("health", unique_domain)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert f"✖ Records match Shopify — {DRIFT}. Fix: Run a full re-sync of that entity" \
        in checked.stdout
    as_json = json.loads(shopsync("health", unique_domain, "--json").stdout)
    assert as_json["readiness"]["records_match"] is False
    assert as_json["status"] == "error"
    assert as_json["status_detail"] == f"Records do not match Shopify: {DRIFT}"
    assert as_json["count_check"]["customers"] == {
        **as_json["count_check"]["customers"], "here": 250, "shopify": 251, "matches": False}
    assert as_json["count_check"]["orders"]["matches"] is True

    text, findings = await _troubleshoot_text(runtime)
    flat = re.sub(r" +", " ", text)
    assert f"Records do not match Shopify: {DRIFT}" in flat
    assert "Key: r Retry" in flat
    [finding] = [f for f in findings if f.problem.startswith("Records do not match")]
    assert (finding.action, finding.entity, finding.key) == ("retry", "customers", "r")

    retried = shopsync("retry", unique_domain, "customers")
    assert retried.returncode == 0, retried.stderr
    shown = json.loads(shopsync("show", unique_domain, "--json").stdout)
    assert shown["status"] == "connected", shown["status_detail"]
    assert shown["readiness"]["records_match"] is True
    assert shown["count_check"]["customers"]["here"] == 251
    store = Store.get(Store.domain == unique_domain)
    row = EntitySync.get((EntitySync.store == store.id) & (EntitySync.entity == "customers"))
    assert row.count_check["mismatch"] is False and row.count_check["shopify"] == 251
    assert shopsync("health", unique_domain).returncode == 0
