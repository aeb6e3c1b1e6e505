"""`shopsync bulk` as a subprocess: someone else's bulk operations fill the shop's limit, a retry
fails within 5 s naming them, `bulk` lists them as not ours, `--cancel` frees a slot, and the
next retry succeeds."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path

from engine.shopify.documents import BULK_CANCEL, BULK_RUN, bulk_query
from tests.support import HTTP

LIMIT = 5


def graphql(settings, domain: str, token: str, document: str, variables: dict) -> dict:  # type: ignore[no-untyped-def]
    """A request to the simulator's Admin API with the store's token, as another tool sends."""
    url = f"{settings.shop_origin(domain)}/admin/api/{settings.api_version}/graphql.json"
    response = HTTP.post(url, headers={"X-Shopify-Access-Token": token},
                         json={"query": document, "variables": variables}, timeout=30)
    return response.json()["data"]  # type: ignore[no-any-return]


def start_foreign(settings, domain: str, token: str, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    ids = []
    for _ in range(count):
        data = graphql(settings, domain, token, BULK_RUN, {"query": bulk_query("customers")})
        payload = data["bulkOperationRunQuery"]
        assert payload["userErrors"] == [], payload
        ids.append(payload["bulkOperation"]["id"])
    return ids


def sync_seconds(home: Path, started_message: str, ended_message: str) -> float:
    """Seconds between two events of the activity log (the action and the sync's outcome)."""
    db = sqlite3.connect(home / "shopsync.db")
    rows = db.execute("select at, message from event order by id").fetchall()
    db.close()
    start = next(at for at, message in rows if message == started_message)
    end = next(at for at, message in rows if message.startswith(ended_message))
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def test_retry_blocked_by_foreign_operations_then_cancel_and_retry(
    shopsync, sim_shop, unique_domain, settings, _isolated_environment: Path
) -> None:
    shop = sim_shop(unique_domain, customers=2000, orders=20, products=2, collections=1,
                    bulk_rate=20)
    token = shop["access_token"]
    assert shopsync("connect", unique_domain, "--token", token, "--no-sync").returncode == 0
    foreign = start_foreign(settings, unique_domain, token, LIMIT)
    numbers = [gid.rsplit("/", 1)[1] for gid in foreign]

    started = time.monotonic()
    blocked = shopsync("retry", unique_domain, "orders")
    elapsed = time.monotonic() - started
    assert blocked.returncode == 1, blocked.stderr
    # From the Retry to the failure: well under the 30 s of waiting it used to take. The
    # process as a whole also pays for Python's start on a loaded machine, hence the looser bound.
    seconds = sync_seconds(_isolated_environment, "Retry Orders", "Orders sync failed")
    # 5 s is the requirement (tests/engine/test_bulk_operations.py holds the sync to it); here a
    # loaded machine running the suite in parallel adds start-up and lock waits, so 15.
    assert seconds < 15, f"the blocked sync took {seconds:.1f} s to fail"
    assert elapsed < 20, f"retry took {elapsed:.1f} s to exit"
    assert "Other bulk operations fill this store's limit" in blocked.stderr
    for number in numbers:
        assert number in blocked.stderr

    listed = shopsync("bulk", unique_domain, "--json")
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert document["blocked"] == ["orders"]
    assert (document["running"], document["limit"]) == (LIMIT, LIMIT)
    by_id = {op["id"]: op for op in document["operations"]}
    for gid in foreign:
        assert by_id[gid]["ours"] is False
        assert by_id[gid]["status"] == "RUNNING"
        assert by_id[gid]["entity"] == "customers"
    text = shopsync("bulk", unique_domain)
    assert text.returncode == 0
    assert "5 of 5 bulk operation slots in use — full" in text.stdout
    assert text.stdout.count("someone else's") == LIMIT
    assert token not in listed.stdout + text.stdout + blocked.stderr

    cancelled = shopsync("bulk", unique_domain, "--cancel", numbers[0])
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"Cancelled bulk operation {numbers[0]} (someone else's): canceled" in cancelled.stderr
    assert "the way is clear" in cancelled.stdout

    retried = shopsync("retry", unique_domain, "orders")
    assert retried.returncode == 0, retried.stderr
    after = json.loads(shopsync("bulk", unique_domain, "--json").stdout)
    assert after["blocked"] == []
    [ours] = [op for op in after["operations"] if op["ours"]]
    assert (ours["entity"], ours["status"]) == ("orders", "COMPLETED")

    bad = shopsync("bulk", unique_domain, "--cancel", "not-an-id")
    assert bad.returncode == 2 and "is not a bulk operation id" in bad.stderr
    for gid in foreign[1:]:  # leave the session simulator nothing running
        graphql(settings, unique_domain, token, BULK_CANCEL, {"id": gid})
