"""Webhooks end to end with the simulator: subscriptions, real deliveries, chaos, compliance.

The receiver is the real app under uvicorn on a loopback port; the simulator delivers to the
URI the "webhooks" job registered, signing as Shopify does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from engine.credentials import open_client
from engine.lifecycle.subscriptions import ALL_TOPICS, webhook_problem
from engine.persistence.models import (
    Collection,
    Customer,
    Event,
    Order,
    OrderLineItem,
    Product,
    ProductVariant,
    Store,
    WebhookReceipt,
)
from engine.serve.app import create_app
from engine.shopify.documents import WEBHOOK_DELETE, WEBHOOK_LIST
from engine.sync.scheduler import Scheduler
from tests.engine.conftest import run_coroutine
from tests.engine.livedata_support import AppServer
from tests.support import wait_until

ROW_MODELS = (Customer, Order, OrderLineItem, Product, ProductVariant, Collection)


@pytest.fixture
def receiver(runtime: Any) -> Iterator[Any]:
    """The webhook app listening on a loopback port that is also the public URL."""
    app = create_app(runtime)
    server = AppServer(app)
    runtime.settings.public_url = server.url
    with server:
        yield app


def settle(app: Any) -> None:
    assert app.state.live.ingest.wait_idle(5.0)


def rows() -> dict[str, list[dict[str, Any]]]:
    """Every record row without the bookkeeping columns, ordered by Shopify id."""
    skip = {"id", "seen_run", "changed_run"}
    return {
        model.__name__: sorted(
            ({k: v for k, v in row.items() if k not in skip} for row in model.select().dicts()),
            key=lambda row: row["shopify_id"],
        )
        for model in ROW_MODELS
    }


def test_registration_is_complete_idempotent_and_repairs_gaps(
    runtime: Any, receiver: Any, make_store: Any, run_job: Any
) -> None:
    store = make_store(customers=1)
    assert webhook_problem(store) == (
        "Webhooks not registered: changes arrive only with scheduled syncs")
    first = run_job("webhooks", store)
    assert first.state == "done", first.error
    assert len(first.result["created"]) == len(ALL_TOPICS) == 15
    store = Store.get_by_id(store.id)
    assert set(store.webhook_topics.split(",")) == set(ALL_TOPICS)
    assert store.webhooks_registered_at is not None
    assert webhook_problem(store) is None
    again = run_job("webhooks", store)
    assert (again.result["created"], again.result["present"]) == ([], 15)

    async def drop_one() -> str:  # as Shopify does after repeated failed deliveries
        async with open_client(runtime, store) as client:
            nodes = (await client.graphql(WEBHOOK_LIST, {"after": None})
                     )["webhookSubscriptions"]["nodes"]
            target = next(n for n in nodes if n["topic"] == "ORDERS_CREATE")
            await client.graphql(WEBHOOK_DELETE, {"id": target["id"]})
            return target["topic"]

    assert run_coroutine(drop_one()) == "ORDERS_CREATE"
    repaired = run_job("webhooks", store)
    assert repaired.result["created"] == ["orders/create"]
    assert Event.select().where(Event.message.contains("orders/create re-created")).exists()


def test_a_registration_racing_another_runner_still_completes(
    receiver: Any, make_store: Any, run_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runners on one job (a lease taken over from a starved runner) both create the
    subscriptions: Shopify answers "already been taken" to the second, which is in place."""
    from engine.lifecycle import subscriptions

    store = make_store(customers=1)
    assert run_job("webhooks", store).state == "done"

    async def stale_list(_client: Any) -> list:  # listed before the other runner created them
        return []

    monkeypatch.setattr(subscriptions, "_list_subscriptions", stale_list)
    again = run_job("webhooks", store)
    assert again.state == "done", again.error
    assert set(Store.get_by_id(store.id).webhook_topics.split(",")) == set(ALL_TOPICS)


def test_category_off_topics_are_not_registered(receiver: Any, make_store: Any,
                                                run_job: Any) -> None:
    store = make_store()
    Store.update(cat_catalogue=False).where(Store.id == store.id).execute()
    job = run_job("webhooks", store)
    topics = set(Store.get_by_id(store.id).webhook_topics.split(","))
    assert not any(t.startswith(("PRODUCTS_", "COLLECTIONS_")) for t in topics)
    assert len(job.result["created"]) == 9


def test_webhook_rows_equal_what_a_bulk_sync_writes(
    sim: Any, receiver: Any, make_store: Any, run_job: Any
) -> None:
    store = make_store(customers=3, orders=3, products=2, collections=2)
    assert run_job("webhooks", store).state == "done"
    changes = {"customers": {"tags": "vip, early", "first_name": "Zoë"},
               "orders": {"financial_status": "partially_refunded", "note": "gift"},
               "products": {"vendor": "Acme Ltd", "status": "draft"},
               "collections": {"title": "Spring", "sort_order": "alpha-desc"}}
    expected = 0
    for entity, fields in changes.items():
        for record_id in sim.ids(store.domain, entity):
            sim.update(store.domain, entity, record_id, **fields)
            expected += 1
    sim.create(store.domain, "orders")
    expected += 1
    wait_until(lambda: WebhookReceipt.select().where(
        (WebhookReceipt.status == "applied")
        & (WebhookReceipt.topic != "bulk_operations/finish")).count() == expected, timeout=10)
    settle(receiver)
    from_webhooks = rows()
    assert {name: len(v) for name, v in from_webhooks.items()} == {
        "Customer": 3, "Order": 4, "OrderLineItem": sum(
            len(sim.http.get(f"/_sim/shops/{store.domain}/orders/{i}").json()["line_items"])
            for i in sim.ids(store.domain, "orders")),
        "Product": 2, "ProductVariant": len(from_webhooks["ProductVariant"]), "Collection": 2}
    assert from_webhooks["ProductVariant"]
    for entity in ("customers", "orders", "products", "collections"):
        assert run_job("sync", store, entity=entity, params={"mode": "full"}).state == "done"
    assert rows() == from_webhooks


def test_duplicates_and_out_of_order_deliveries_from_the_simulator(
    sim: Any, receiver: Any, make_store: Any, run_job: Any
) -> None:
    store = make_store(orders=1)
    assert run_job("webhooks", store).state == "done"
    order_id = sim.ids(store.domain, "orders")[0]
    sim.patch(store.domain, webhook_duplicates=True)
    sim.update(store.domain, "orders", order_id, total_price="11.00")
    wait_until(lambda: WebhookReceipt.select().count() == 2, timeout=10)
    settle(receiver)
    assert sorted(r.status for r in WebhookReceipt.select()) == ["applied", "duplicate"]
    # Out of order: the simulator holds the first delivery and sends it after the second.
    sim.patch(store.domain, webhook_duplicates=False, webhook_out_of_order=True)
    sim.update(store.domain, "orders", order_id, total_price="22.00")
    sim.update(store.domain, "orders", order_id, total_price="33.00")
    wait_until(lambda: WebhookReceipt.select().count() == 4, timeout=10)
    settle(receiver)
    late = WebhookReceipt.select().order_by(WebhookReceipt.id.desc()).first()
    assert (late.status, late.detail) == ("ignored", "stale")
    assert b'"22.00"' in late.body.encode()
    assert Order.get(Order.shopify_id == order_id).total_price == "33.00"


def test_uninstall_in_the_simulator_needs_a_reconnect_and_stops_syncs(
    sim: Any, runtime: Any, receiver: Any, make_store: Any, run_job: Any
) -> None:
    store = make_store(orders=2)
    assert run_job("webhooks", store).state == "done"
    assert run_job("sync", store, entity="orders").state == "done"
    sim.patch(store.domain, webhook_after_uninstall=True)
    started = time.monotonic()
    sim.patch(store.domain, installed=False)
    wait_until(lambda: Store.get_by_id(store.id).status == "reconnect_required", timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert Store.get_by_id(store.id).status_detail == "App uninstalled in Shopify"
    # Changes the shop still sends after the uninstall are acknowledged and not applied.
    created = sim.create(store.domain, "orders")
    wait_until(lambda: WebhookReceipt.select().where(
        WebhookReceipt.topic == "orders/create").exists(), timeout=5)
    settle(receiver)
    assert not Order.select().where(Order.shopify_id == created["id"]).exists()
    scheduler = Scheduler(runtime.settings, sync_interval=0.01, reconcile_interval=0.01,
                          webhook_assert_interval=0.01)
    assert scheduler.tick().queued == 0


def test_compliance_requests_from_the_simulator(
    sim: Any, receiver: Any, make_store: Any, run_job: Any
) -> None:
    store = make_store(customers=2, orders=4, products=1)
    assert run_job("webhooks", store).state == "done"
    for entity in ("customers", "orders", "products"):
        assert run_job("sync", store, entity=entity).state == "done"
    customer_id = sim.ids(store.domain, "customers")[0]
    before = Customer.get(Customer.shopify_id == customer_id)
    assert before.email
    orders = [o.shopify_id for o in Order.select().where(Order.customer_id == customer_id)]

    answer = sim.http.post(f"/_sim/shops/{store.domain}/compliance/customers_data_request",
                           json={"customer_id": customer_id}).json()
    assert answer["delivered_to"] == [receiver.state.live.runtime.settings.public_url
                                      + "/webhooks"]
    sim.http.post(f"/_sim/shops/{store.domain}/compliance/customers_redact",
                  json={"customer_id": customer_id, "order_ids": orders})
    wait_until(lambda: WebhookReceipt.select().where(
        WebhookReceipt.topic.in_(("customers/data_request", "customers/redact"))
        & (WebhookReceipt.status == "applied")).count() == 2, timeout=5)
    settle(receiver)
    request = Event.get(Event.message.startswith("Customer data request"))
    assert request.data["customer_id"] == customer_id
    erased = Customer.get(Customer.shopify_id == customer_id)
    assert (erased.email, erased.first_name, erased.last_name, erased.phone,
            erased.address1, erased.city, erased.zip) == (None,) * 7
    assert all(o.email is None for o in Order.select().where(Order.shopify_id.in_(orders)))
    others = Customer.select().where(Customer.shopify_id != customer_id)
    assert all(c.email for c in others)

    # shop/redact while Shopify still accepts the token is not confirmed: nothing is deleted.
    sim.http.post(f"/_sim/shops/{store.domain}/compliance/shop_redact", json={})
    refused = wait_until(lambda: WebhookReceipt.get_or_none(
        (WebhookReceipt.topic == "shop/redact") & (WebhookReceipt.status == "unconfirmed")),
        timeout=5)
    assert refused.detail.startswith("not confirmed: Shopify still accepts")
    assert Customer.select().exists()
    # After the uninstall (Shopify sends shop/redact 48 h later) the same body is applied.
    sim.patch(store.domain, webhook_after_uninstall=True)
    sim.patch(store.domain, installed=False)
    wait_until(lambda: Store.get_by_id(store.id).status == "reconnect_required", timeout=5)
    sim.http.post(f"/_sim/shops/{store.domain}/compliance/shop_redact", json={})
    wait_until(lambda: not Customer.select().exists(), timeout=5)
    redact = Event.get(Event.message.startswith("shop/redact") & (Event.kind == "webhook")
                       & Event.message.contains("applied"))
    assert redact.data["event_id"] and redact.data["webhook_id"]
    settle(receiver)
    for model in ROW_MODELS:
        assert not model.select().where(model.store == store.id).exists()


def test_an_uninstall_shopify_does_not_confirm_changes_nothing(
    sim: Any, runtime: Any, receiver: Any, make_store: Any
) -> None:
    import httpx
    import orjson

    from tests.engine.livedata_support import deliver

    store = make_store(orders=1)
    secret = runtime.settings.api_secret.get_secret_value()
    body = orjson.dumps({"id": 1, "myshopify_domain": store.domain})
    with httpx.Client(timeout=10) as client:
        answer = deliver(client, runtime.settings.public_url, "app/uninstalled", store.domain,
                         body, secret, event_id="old-uninstall")
    assert answer.status_code == 200
    settle(receiver)
    receipt = WebhookReceipt.get(WebhookReceipt.event_id == "old-uninstall")
    assert (receipt.status, receipt.detail) == (
        "unconfirmed", "not confirmed: Shopify still accepts the store's access token")
    after = Store.get_by_id(store.id)
    assert (after.needs_reauth, after.status) == (False, "connected")
    event = Event.get(Event.message.startswith("app/uninstalled"))
    assert event.data["event_id"] == "old-uninstall" and event.level == "warning"
