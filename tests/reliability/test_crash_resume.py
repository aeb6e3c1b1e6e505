"""A runner killed with SIGKILL mid-import: the next one adopts the same bulk operation and
finishes with exact counts and no duplicates (issue 3, acceptance 9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from engine import actions
from engine.persistence.models import EntitySync, Job, Order, OrderLineItem
from tests.e2e.conftest import REPO
from tests.support import HTTP

pytestmark = pytest.mark.slow


def _worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tui.cli", "worker"], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_import_then_restart_adopts_the_bulk_operation(
    runtime, simulator, sim_shop, unique_domain, cli_env
) -> None:
    shop = sim_shop(unique_domain, customers=10, orders=6000, products=5, collections=1)
    actions.use_runtime(runtime)
    store = actions.connect_token(unique_domain, shop["access_token"])
    # Slow the result download (about 60 pauses of 80 ms) so the kill lands while rows stream in.
    HTTP.patch(f"{simulator.url}/_sim/shops/{unique_domain}",
               json={"download_delay_ms": 80}).raise_for_status()
    job = actions.retry(store.id, "orders")
    env = dict(cli_env, SHOPSYNC_LEASE_SECONDS="2")
    first = _worker(env)
    try:
        _wait(lambda: EntitySync.get(store=store.id, entity="orders").bulk_operation_id
              is not None, 30, "the bulk operation to start")
        op_id = EntitySync.get(store=store.id, entity="orders").bulk_operation_id
        _wait(lambda: Order.select().where(Order.store == store.id).count() > 0, 30,
              "the first imported rows")
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    assert Job.get_by_id(job.id).state == "running"  # the dead runner's lease is still there
    # The kill has landed mid-download: the second runner's download need not be slowed (it
    # would wait out the same ~60 pauses again, ~5 s of an idle core).
    HTTP.patch(f"{simulator.url}/_sim/shops/{unique_domain}",
               json={"download_delay_ms": 0}).raise_for_status()
    second = _worker(env)
    try:
        _wait(lambda: Job.get_by_id(job.id).state in ("done", "failed"), 90, "the job to end")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(15)
    assert Job.get_by_id(job.id).state == "done", Job.get_by_id(job.id).error
    truth = HTTP.get(f"{simulator.url}/_sim/shops/{unique_domain}/orders/ids").json()["ids"]
    ours = [o.shopify_id for o in Order.select(Order.shopify_id).where(Order.store == store.id)]
    assert sorted(ours) == sorted(truth)  # exact, and no duplicates
    assert OrderLineItem.select().where(OrderLineItem.store == store.id).count() > len(truth)
    sim_state = HTTP.get(f"{simulator.url}/_sim/shops/{unique_domain}").json()
    order_ops = [op for op in sim_state["bulk_operations"]]
    assert [op["id"] for op in order_ops] == [op_id]  # adopted, not started again
    assert EntitySync.get(store=store.id, entity="orders").state == "synced"
