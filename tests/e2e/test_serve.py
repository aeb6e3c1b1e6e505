"""`serve` as a subprocess against the session simulator: the live-data acceptance checks.

Each test starts `python -c "from engine.serve.app import main; main()"` on a free loopback port
that is also SHOPSYNC_PUBLIC_URL, connects stores through engine.actions in this process (the
database is shared through SHOPSYNC_HOME), and drives the simulator's control API.
"""

from __future__ import annotations

import signal
from datetime import datetime
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine import actions
from engine.persistence.models import (
    Customer,
    EntitySync,
    Job,
    Order,
    OrderLineItem,
    Product,
    RunnerHeartbeat,
    Store,
    WebhookReceipt,
    database,
    utcnow,
)
from engine.webhooks.receipts import sign
from tests.support import HTTP, wait_until

RECORD_TABLES = ("customer", "order", "order_line_item", "product", "product_variant",
                 "collection", "collection_membership", "webhook_receipt")


@pytest.fixture
def connect(runtime: Any, sim_shop: Any, unique_domain: str) -> Any:
    actions.use_runtime(runtime)

    def run(suffix: str = "", *, sync: bool = True, **shop: Any) -> tuple[Store, str]:
        domain = unique_domain.replace(".myshopify.com", f"{suffix}.myshopify.com")
        token = sim_shop(domain, **shop)["access_token"]
        summary = actions.connect_token(domain, token, start_sync=sync)
        return Store.get_by_id(summary.id), token

    return run


def sim_call(simulator: Any, method: str, path: str, body: dict | None = None) -> Any:
    response = HTTP.request(method, simulator.url + path, json=body, timeout=30)
    assert response.status_code < 300, response.text[:300]
    return response.json()


def ready(store: Store) -> bool:
    row = Store.get_by_id(store.id)
    return row.initial_sync_completed_at is not None and len(row.webhook_topics.split(",")) == 15


def metric_samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = HTTP.get(url + "/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def within_a_second(triggered_at: str, received_at: datetime) -> bool:
    """Whether a receipt (naive UTC) was stored within a second of Shopify's trigger time."""
    triggered = datetime.fromisoformat(triggered_at.replace("Z", "+00:00")).replace(tzinfo=None)
    return (received_at - triggered).total_seconds() < 1.0


def quiet(simulator: Any, domain: str) -> bool:
    """Every delivery the simulator sent the shop is answered and its receipt processed."""
    log = sim_call(simulator, "GET", f"/_sim/shops/{domain}/deliveries")["deliveries"]
    return all(d["status"] in ("delivered", "failed") for d in log) and not (
        WebhookReceipt.select().where(WebhookReceipt.status == "received").exists())


def table_dump() -> dict[str, list[tuple]]:
    return {t: [tuple(r) for r in database.execute_sql(f'SELECT * FROM "{t}" ORDER BY 1')]
            for t in RECORD_TABLES}


def test_serve_applies_webhooks_refuses_forgeries_and_counts(
    simulator: Any, launch: Any, connect: Any, serve_env: dict[str, str], shopsync: Any
) -> None:
    store, token = connect(customers=3, orders=4, products=2, collections=1)
    # No scheduled work in the background: the refusals below must leave the tables as is.
    server = launch(SHOPSYNC_SYNC_INTERVAL="300", SHOPSYNC_RECONCILE_INTERVAL="3600")
    wait_until(lambda: ready(store), timeout=30)
    domain, url = store.domain, server.url
    secret = serve_env["SHOPSYNC_API_SECRET"]
    before = metric_samples(url)

    # 1. A signed orders/create is in the database within a second; a replay changes nothing.
    # The second is measured between the two services' own stamps (Shopify's trigger time and
    # the receipt), not by this test's polling, so a busy test machine cannot fail it.
    created = sim_call(simulator, "POST", f"/_sim/shops/{domain}/orders", {})
    wait_until(lambda: Order.select().where(Order.shopify_id == created["id"]).exists())
    sent = sim_call(simulator, "GET", f"/_sim/shops/{domain}/deliveries?topic=orders/create")
    original = sent["deliveries"][-1]
    receipt = WebhookReceipt.get(WebhookReceipt.event_id == original["event_id"])
    assert within_a_second(original["triggered_at"], receipt.received_at)
    body = orjson.dumps(original["payload"])
    headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": domain,
               "X-Shopify-Hmac-Sha256": sign(body, secret),
               "X-Shopify-Event-Id": original["event_id"], "X-Shopify-Webhook-Id": "replay-1"}
    wait_until(lambda: WebhookReceipt.select().where(
        WebhookReceipt.event_id == original["event_id"]).count() == 1)
    snapshot = table_dump()
    replay = HTTP.post(url + "/webhooks", content=body, headers=headers, timeout=5)
    assert (replay.status_code, replay.text) == (200, "duplicate")
    assert [r for t, r in table_dump().items() if t != "webhook_receipt"] == [
        r for t, r in snapshot.items() if t != "webhook_receipt"]

    # An older update delivered after a newer one is ignored.
    sim_call(simulator, "PATCH", f"/_sim/shops/{domain}", {"webhook_out_of_order": True})
    sim_call(simulator, "PUT", f"/_sim/shops/{domain}/orders/{created['id']}",
             {"total_price": "20.00"})
    sim_call(simulator, "PUT", f"/_sim/shops/{domain}/orders/{created['id']}",
             {"total_price": "30.00"})
    stale = wait_until(lambda: WebhookReceipt.get_or_none(
        (WebhookReceipt.topic == "orders/updated") & (WebhookReceipt.status == "ignored")),
        timeout=5)
    assert stale.detail == "stale"
    assert Order.get(Order.shopify_id == created["id"]).total_price == "30.00"
    sim_call(simulator, "PATCH", f"/_sim/shops/{domain}", {"webhook_out_of_order": False})

    # 2. Forged, unsigned, malformed and oversized deliveries: refused, nothing written.
    wait_until(lambda: quiet(simulator, domain))  # every delivery so far is in and applied
    snapshot = table_dump()
    forged = {**headers, "X-Shopify-Event-Id": "new-1",
              "X-Shopify-Hmac-Sha256": sign(body, "not-the-secret")}
    unsigned = {k: v for k, v in forged.items() if k != "X-Shopify-Hmac-Sha256"}
    malformed = b'{"id": 1,'
    bad_json = {**forged, "X-Shopify-Hmac-Sha256": sign(malformed, secret)}
    huge = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    oversized = {**forged, "X-Shopify-Hmac-Sha256": sign(huge, secret)}
    answers = [HTTP.post(url + "/webhooks", content=c, headers=h, timeout=5).status_code
               for c, h in ((body, forged), (body, unsigned), (malformed, bad_json),
                            (huge, oversized))]
    assert answers == [401, 401, 400, 413]
    wait_until(lambda: table_dump() == snapshot)
    # Webhook health counts the refusals against the store they claim (a counter row per
    # topic, hour and reason, never a receipt): forged and unsigned (signature), malformed.
    # The oversized one is refused before its headers are read, so it is not counted.

    def counted() -> dict[str, Any] | None:
        shown = shopsync("show", domain, "--json")
        assert shown.returncode == 0, shown.stderr
        topic = {t["topic"]: t for t in orjson.loads(shown.stdout)["webhooks"]}["orders/create"]
        return topic if topic["rejected_24h"] == 3 else None

    assert wait_until(counted)["rejected_reasons_24h"] == {"malformed": 1, "signature": 2}
    assert [tuple(row) for row in database.execute_sql(
        'SELECT store_id, topic, reason, count FROM "webhook_rejection" ORDER BY reason'
    ).fetchall()] == [(store.id, "orders/create", "malformed", 1),
                      (store.id, "orders/create", "signature", 2)]
    assert table_dump() == snapshot  # still no receipt, no body, no record

    # 7. /metrics parses and its counters moved with the work.
    after = metric_samples(url)
    applied = ("shopsync_webhooks_total", (("outcome", "applied"), ("topic", "orders/create")))
    assert after[applied] - before.get(applied, 0) == 1
    duplicate = ("shopsync_webhooks_total", (("outcome", "duplicate"),
                                             ("topic", "orders/create")))
    assert after[duplicate] == 1
    assert after[("shopsync_webhooks_rejected_total",
                  (("reason", "signature"), ("topic", "orders/create")))] == 2
    assert after[("shopsync_syncs_total", (("entity", "orders"), ("outcome", "synced")))] >= 1
    assert after[("shopsync_import_rows_total", (("entity", "orders"),))] >= 4
    assert after[("shopsync_jobs", (("kind", "webhooks"), ("state", "done")))] >= 1
    assert after[("shopsync_stores", (("status", "connected"),))] == 1

    code, seconds = server.terminate()
    assert (code, seconds < 10) == (0, True)
    assert token not in server.log()
    assert "serve stopped" in server.log()


def test_serve_catches_up_by_schedule_and_stops_syncing_after_uninstall(
    simulator: Any, launch: Any, connect: Any
) -> None:
    store, _token = connect(customers=4, orders=4, products=3, collections=1)
    # A second store the scheduler keeps syncing: its runs show the scheduler's ticks.
    witness, _token = connect("-witness", customers=1, orders=1, products=1, collections=1)
    server = launch()
    wait_until(lambda: ready(store) and ready(witness), timeout=30)
    domain = store.domain
    sim_call(simulator, "PATCH", f"/_sim/shops/{domain}", {"webhooks_enabled": False})
    ours = WebhookReceipt.select().where(WebhookReceipt.shop_domain == domain)
    receipts = ours.count()
    customer_id = sim_call(simulator, "GET", f"/_sim/shops/{domain}/customers/ids")["ids"][0]
    sim_call(simulator, "PUT", f"/_sim/shops/{domain}/customers/{customer_id}",
             {"tags": "changed-offline"})
    created = sim_call(simulator, "POST", f"/_sim/shops/{domain}/orders", {})
    gone_product = sim_call(simulator, "GET", f"/_sim/shops/{domain}/products/ids")["ids"][0]
    gone_order = sim_call(simulator, "GET", f"/_sim/shops/{domain}/orders/ids")["ids"][0]
    sim_call(simulator, "DELETE", f"/_sim/shops/{domain}/products/{gone_product}")
    sim_call(simulator, "DELETE", f"/_sim/shops/{domain}/orders/{gone_order}")

    def caught_up() -> bool:
        customer = Customer.get_or_none((Customer.store == store.id)
                                        & (Customer.shopify_id == customer_id))
        orders = Order.select().where(Order.store == store.id)
        return (
            customer is not None and customer.tags == "changed-offline"
            and orders.where(Order.shopify_id == created["id"]).exists()
            and not Product.select().where((Product.store == store.id)
                                           & (Product.shopify_id == gone_product)).exists()
            and not orders.where(Order.shopify_id == gone_order).exists()
        )

    wait_until(caught_up, timeout=20, interval=0.1)
    assert ours.count() == receipts  # by schedule, not by webhook
    assert not OrderLineItem.select().where((OrderLineItem.store == store.id)
                                            & (OrderLineItem.order_id == gone_order)).exists()
    for entity, model in (("orders", Order), ("products", Product)):
        truth = set(sim_call(simulator, "GET", f"/_sim/shops/{domain}/{entity}/ids")["ids"])
        assert {r.shopify_id for r in model.select().where(model.store == store.id)} == truth
    assert Store.get_by_id(store.id).last_reconcile_at is not None

    # 3. Uninstall: Reconnect required within a second (Shopify's trigger time to the receipt,
    # as in the test above), and no sync is attempted afterwards.
    sim_call(simulator, "PATCH", f"/_sim/shops/{domain}", {"webhooks_enabled": True})
    sim_call(simulator, "PATCH", f"/_sim/shops/{domain}", {"installed": False})
    # Either the delivery or a scheduled sync's 401 may set the status first; the delivery is
    # applied either way (after its confirming probe), so wait for both.
    wait_until(lambda: Store.get_by_id(store.id).status == "reconnect_required")
    uninstall = sim_call(simulator, "GET",
                         f"/_sim/shops/{domain}/deliveries?topic=app/uninstalled")["deliveries"][-1]
    receipt = wait_until(lambda: WebhookReceipt.get_or_none(
        (WebhookReceipt.event_id == uninstall["event_id"]) & (WebhookReceipt.status == "applied")))
    assert within_a_second(uninstall["triggered_at"], receipt.received_at)
    uninstalled_at = utcnow()
    for _ in range(3):  # three sync intervals, as the witness store's scheduled runs show
        last = Store.get_by_id(witness.id).last_incremental_at
        wait_until(lambda last=last: Store.get_by_id(witness.id).last_incremental_at != last)
    late = Job.select().where((Job.store_id == store.id) & (Job.kind == "sync")
                              & (Job.started_at > uninstalled_at))
    assert list(late) == []
    assert not Job.select().where((Job.store_id == store.id)
                                  & Job.state.in_(("queued", "running"))).exists()

    assert server.terminate()[0] == 0


def test_sigterm_during_an_import_then_a_new_serve_finishes_it(
    simulator: Any, launch: Any, connect: Any
) -> None:
    store, _token = connect(customers=2, orders=60_000, products=1, collections=1,
                            bulk_rate=1e9)
    first = launch(SHOPSYNC_SYNC_INTERVAL="300", SHOPSYNC_RECONCILE_INTERVAL="3600")
    job = wait_until(lambda: Job.get_or_none(
        (Job.store_id == store.id) & (Job.entity == "orders") & (Job.state == "running")
        & (Job.progress_done > 20_000)), timeout=60, interval=0.02)
    code, seconds = first.terminate()
    assert code == 0 and seconds < 10, first.log()[-2000:]
    interrupted = Job.get_by_id(job.id)
    assert (interrupted.state, interrupted.lease_owner) == ("queued", None)
    assert Order.select().where(Order.store == store.id).count() < 60_000

    second = launch(SHOPSYNC_SYNC_INTERVAL="300", SHOPSYNC_RECONCILE_INTERVAL="3600")
    finished = wait_until(lambda: (j := Job.get_by_id(job.id)).state in ("done", "failed")
                          and j, timeout=60, interval=0.1)
    assert finished.state == "done", finished.error
    truth = sim_call(simulator, "GET", f"/_sim/shops/{store.domain}/orders/ids")["ids"]
    assert len(truth) == 60_000
    assert Order.select().where(Order.store == store.id).count() == 60_000
    assert {o.shopify_id for o in Order.select(Order.shopify_id)} == set(truth)
    assert EntitySync.get(store=store.id, entity="orders").records == 60_000
    lines = OrderLineItem.select().where(OrderLineItem.store == store.id).count()
    assert lines == finished.result["rows"] - 60_000
    assert second.terminate()[0] == 0


def test_sighup_during_an_import_exits_cleanly_with_the_lease_handed_back(
    simulator: Any, launch: Any, connect: Any
) -> None:
    store, _token = connect(customers=2, orders=60_000, products=1, collections=1,
                            bulk_rate=1e9)
    server = launch(SHOPSYNC_SYNC_INTERVAL="300", SHOPSYNC_RECONCILE_INTERVAL="3600")
    job = wait_until(lambda: Job.get_or_none(
        (Job.store_id == store.id) & (Job.entity == "orders") & (Job.state == "running")
        & (Job.progress_done > 10_000)), timeout=60, interval=0.02)
    owner = job.lease_owner
    code, seconds = server.terminate(signal.SIGHUP)
    assert code == 0 and seconds < 10, server.log()[-2000:]
    assert "SIGHUP received: stopping" in server.log()
    assert "serve stopped" in server.log()
    interrupted = Job.get_by_id(job.id)
    assert (interrupted.state, interrupted.lease_owner) == ("queued", None)
    assert not RunnerHeartbeat.select().where(RunnerHeartbeat.owner == owner).exists()


def test_serve_warns_at_start_when_the_app_secret_is_missing(launch: Any) -> None:
    server = launch(SHOPSYNC_API_SECRET="")
    wait_until(lambda: "serve listening" in server.log(), timeout=20)
    assert "SHOPSYNC_API_SECRET not set" in server.log()
    assert "SHOPSYNC_API_KEY" not in server.log()
    assert server.terminate()[0] == 0
