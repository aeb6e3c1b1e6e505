"""The webhook receiver over real HTTP: verification, refusals, dedupe, newest-wins, topics.

The app runs under uvicorn on a random loopback port; deliveries are signed here exactly as
Shopify signs them (the simulator's own deliveries are covered by test_webhooks_simulator.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from engine.config import load_settings
from engine.persistence.models import (
    Collection,
    CollectionMembership,
    Customer,
    EntitySync,
    Event,
    Job,
    Order,
    OrderLineItem,
    Product,
    ProductVariant,
    Store,
    WebhookReceipt,
    database,
)
from engine.persistence.runtime import Runtime, open_runtime
from engine.serve.app import create_app
from engine.webhooks.ingest import WebhookIngest
from engine.webhooks.receipts import read_headers, sign, signature_valid
from tests.engine.livedata_support import (
    AppServer,
    deliver,
    dump_tables,
    order,
    rejection_counts,
    store_row,
    webhook_headers,
)
from tests.support import wait_until

SECRET = "test-app-secret"
PREVIOUS = "rotated-out-secret"
SHOP = "acme.myshopify.com"


@dataclass
class Live:
    runtime: Runtime
    app: Any
    url: str
    client: httpx.Client

    def post(self, topic: str, payload: dict[str, Any] | bytes, *, shop: str = SHOP,
             secret: str = SECRET, **options: Any) -> httpx.Response:
        return deliver(self.client, self.url, topic, shop, payload, secret, **options)

    def settle(self) -> None:
        assert self.app.state.live.ingest.wait_idle(5.0)


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    monkeypatch.setenv("SHOPSYNC_API_SECRET", SECRET)
    monkeypatch.setenv("SHOPSYNC_API_SECRET_PREVIOUS", PREVIOUS)
    monkeypatch.setenv("SHOPSYNC_WEBHOOK_MAX_BODY", "4096")
    runtime = open_runtime(load_settings())
    app = create_app(runtime)
    try:
        with AppServer(app) as server, httpx.Client(timeout=10) as client:
            yield Live(runtime, app, server.url, client)
    finally:
        runtime.close()


def receipt_statuses() -> list[tuple[str, str, str | None]]:
    return [(r.topic, r.status, r.detail)
            for r in WebhookReceipt.select().order_by(WebhookReceipt.id)]


# -- verification -------------------------------------------------------------------------------

def test_signature_matches_the_reference_vector() -> None:
    body = b'{"id":788032119674292922}'
    assert sign(body, "hush") == "fhhqwxYconmiOqTJ0cD1XzOlT7ONdp6Ryc18pkvlq5Q="
    assert signature_valid(body, "fhhqwxYconmiOqTJ0cD1XzOlT7ONdp6Ryc18pkvlq5Q=", [b"hush"])
    assert signature_valid(body, sign(body, "hush"), [b"other", b"hush"])
    assert not signature_valid(body + b" ", sign(body, "hush"), [b"hush"])
    assert not signature_valid(body, sign(body, "hush"), [b"other"])
    assert not signature_valid(body, "not base64 !!", [b"hush"])
    assert not signature_valid(body, None, [b"hush"])
    assert not signature_valid(body, sign(body, "hush"), [])


def test_headers_are_read_with_either_prefix_in_any_case() -> None:
    prefixed = read_headers({"X-SHOPIFY-TOPIC": "Orders/Create", "x-shopify-shop-domain":
                             "Acme.myshopify.com", "X-Shopify-Event-Id": "e1"})
    assert (prefixed.topic, prefixed.shop_domain, prefixed.event_id) == (
        "orders/create", "acme.myshopify.com", "e1")
    bare = read_headers({"shopify-topic": "orders/create", "Shopify-Hmac-Sha256": "abc",
                         "shopify-webhook-id": "w1", "SHOPIFY-TRIGGERED-AT": "t"})
    assert (bare.topic, bare.hmac, bare.webhook_id, bare.triggered_at) == (
        "orders/create", "abc", "w1", "t")


def test_refused_deliveries_write_nothing(live: Live) -> None:
    store_row(SHOP)
    body = orjson.dumps(order(1, "2026-11-02T10:00:00Z"))
    good = webhook_headers(body, "orders/create", SHOP, SECRET)
    before = dump_tables()
    url = live.url + "/webhooks"

    bad_signature = {**good, "X-Shopify-Hmac-Sha256": sign(body, "wrong-secret")}
    assert live.client.post(url, content=body, headers=bad_signature).status_code == 401
    missing = {k: v for k, v in good.items() if k != "X-Shopify-Hmac-Sha256"}
    assert live.client.post(url, content=body, headers=missing).status_code == 401
    tampered = body.replace(b"12.50", b"0.01")
    assert live.client.post(url, content=tampered, headers=good).status_code == 401
    malformed = b'{"id": 5, "name": '
    assert live.client.post(
        url, content=malformed, headers=webhook_headers(malformed, "orders/create", SHOP, SECRET)
    ).status_code == 400
    not_object = b"[1, 2]"
    assert live.client.post(
        url, content=not_object,
        headers=webhook_headers(not_object, "orders/create", SHOP, SECRET),
    ).status_code == 400
    huge = orjson.dumps(order(2, "2026-11-02T10:00:00Z", note="x" * 5000))
    huge_headers = webhook_headers(huge, "orders/create", SHOP, SECRET)
    assert live.client.post(url, content=huge, headers=huge_headers).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
        for start in range(0, len(huge), 1000):
            yield huge[start:start + 1000]

    assert live.client.post(url, content=chunks(), headers=huge_headers).status_code == 413
    live.settle()
    assert dump_tables() == before
    # Only webhook health's counter moved, against the store the refusals claimed.
    store_id = Store.get(Store.domain == SHOP).id
    assert rejection_counts() == {(store_id, "orders/create", "signature"): 3,
                                  (store_id, "orders/create", "malformed"): 2}


def test_previous_secret_and_unprefixed_headers_are_accepted(live: Live) -> None:
    store_row(SHOP)
    assert live.post("orders/create", order(1, "2026-11-02T10:00:00Z"),
                     secret=PREVIOUS).status_code == 200
    assert live.post("orders/create", order(2, "2026-11-02T10:00:00Z"),
                     prefix="shopify-").status_code == 200
    live.settle()
    assert Order.select().count() == 2


# -- dedupe, newest wins, mapping ----------------------------------------------------------------

def test_order_is_applied_once_and_newest_wins(live: Live) -> None:
    store = store_row(SHOP)
    started = time.monotonic()
    response = live.post("orders/create", order(1042, "2026-11-02T10:00:00-02:00"),
                         event_id="event-1")
    assert (response.status_code, response.text) == (200, "received")
    row = wait_until(lambda: Order.get_or_none(Order.shopify_id == 5042), timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert (row.name, row.financial_status, row.fulfillment_status, row.updated_at) == (
        "#1042", "PARTIALLY_REFUNDED", "PARTIALLY_FULFILLED", "2026-11-02T12:00:00Z")
    assert (row.customer_id, row.total_price, row.currency) == (77, "12.50", "EUR")
    items = {i.shopify_id: (i.order_id, i.sku, i.quantity, i.variant_id, i.unit_price)
             for i in OrderLineItem.select()}
    assert items == {10042: (5042, "SKU-1", 2, 31, "5.00"), 10542: (5042, None, 1, None, "2.50")}
    live.settle()
    snapshot = dump_tables(skip=("runner_heartbeat", "webhook_receipt", "event", "metric",
                                 "store"))

    again = live.post("orders/create", order(1042, "2026-11-02T10:00:00-02:00"),
                      event_id="event-1")
    assert (again.status_code, again.text) == (200, "duplicate")
    live.settle()
    assert dump_tables(skip=("runner_heartbeat", "webhook_receipt", "event", "metric",
                             "store")) == snapshot

    newer = order(1042, "2026-11-02T13:00:00Z", total_price="99.00", line_items=[
        {"id": 10042, "sku": "SKU-1", "title": "Mug", "quantity": 5, "variant_id": 31,
         "price": "5.00"}])
    older = order(1042, "2026-11-02T12:30:00Z", total_price="1.00")
    assert live.post("orders/updated", newer).status_code == 200
    assert live.post("orders/updated", older).status_code == 200
    live.settle()
    row = Order.get(Order.shopify_id == 5042)
    assert (row.total_price, row.updated_at) == ("99.00", "2026-11-02T13:00:00Z")
    assert [(i.shopify_id, i.quantity) for i in OrderLineItem.select()] == [(10042, 5)]
    assert receipt_statuses() == [
        ("orders/create", "applied", None),
        ("orders/create", "duplicate", f"same event as receipt "
         f"{WebhookReceipt.select().order_by(WebhookReceipt.id).first().id}"),
        ("orders/updated", "applied", None),
        ("orders/updated", "ignored", "stale"),
    ]
    messages = [e.message for e in Event.select().where(Event.kind == "webhook")
                .order_by(Event.id)]
    assert messages == ["orders/create #1042 applied", "orders/create #1042 duplicate",
                        "orders/updated #1042 applied", "orders/updated #1042 ignored: stale"]
    assert EntitySync.get(store=store.id, entity="orders").records == 1
    assert Store.get_by_id(store.id).last_webhook_at is not None


def test_same_second_updates_are_ordered_by_their_trigger_time(live: Live) -> None:
    store_row(SHOP)
    same_second = "2026-11-02T10:00:00Z"
    live.post("orders/updated", order(1, same_second, total_price="2.00"),
              triggered_at="2026-11-02T10:00:00.900Z")
    live.post("orders/updated", order(1, same_second, total_price="1.00"),
              triggered_at="2026-11-02T10:00:00.100Z")
    live.post("orders/updated", order(1, same_second, total_price="3.00"))  # no trigger time
    live.settle()
    assert [r[1:] for r in receipt_statuses()] == [("applied", None), ("ignored", "stale"),
                                                   ("applied", None)]
    assert Order.get(Order.shopify_id == 4001).total_price == "3.00"


def test_customer_fields_and_consent_switches(live: Live) -> None:
    store_row(SHOP, cat_sms_consent=False)
    customer = {
        "id": 77, "admin_graphql_api_id": "gid://shopify/Customer/77",
        "email": "ada@example.com", "phone": "+15550001", "first_name": "Ada",
        "last_name": "Lovelace", "state": "enabled", "tags": "vip, early",
        "orders_count": 3, "total_spent": "120.00", "currency": "USD",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-11-02T10:00:00Z",
        "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in",
                                    "consent_updated_at": "2026-05-01T00:00:00+01:00"},
        "sms_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in"},
        "default_address": {"address1": "1 Main St", "city": "Oslo", "province": None,
                            "country": "Norway", "country_code": "NO", "zip": "0150"},
    }
    assert live.post("customers/create", customer).status_code == 200
    live.settle()
    row = Customer.get(Customer.shopify_id == 77)
    assert (row.email, row.first_name, row.state, row.tags, row.orders_count) == (
        "ada@example.com", "Ada", "ENABLED", "vip, early", 3)
    assert (row.email_marketing_state, row.email_opt_in_level, row.email_consent_updated_at) == (
        "SUBSCRIBED", "SINGLE_OPT_IN", "2026-04-30T23:00:00Z")
    assert (row.sms_marketing_state, row.sms_opt_in_level) == (None, None)  # category off
    assert (row.city, row.country_code, row.zip, row.amount_spent) == ("Oslo", "NO", "0150",
                                                                       "120.00")


def test_delete_removes_children_and_is_not_undone_by_a_late_update(live: Live) -> None:
    store = store_row(SHOP)
    product = {
        "id": 500, "admin_graphql_api_id": "gid://shopify/Product/500",
        "title": "Lamp", "handle": "lamp", "status": "active", "vendor": "V",
        "product_type": "Light", "tags": "", "updated_at": "2026-11-02T10:00:00Z",
        "variants": [{"id": 501, "title": "Red", "sku": "L-R", "price": "10.00",
                      "updated_at": "2026-11-02T10:00:00Z"},
                     {"id": 502, "title": "Blue", "sku": "L-B", "price": "11.00"}],
    }
    collection = {"id": 600, "admin_graphql_api_id": "gid://shopify/Collection/600",
                  "handle": "lights", "title": "Lights",
                  "sort_order": "best-selling", "updated_at": "2026-11-02T10:00:00Z"}
    live.post("products/create", product)
    live.post("collections/create", collection)
    live.settle()
    CollectionMembership.create(store=store.id, collection_id=600, product_id=500)
    assert Product.get(Product.shopify_id == 500).status == "ACTIVE"
    assert Collection.get(Collection.shopify_id == 600).sort_order == "BEST_SELLING"
    assert ProductVariant.select().count() == 2

    live.post("products/delete", {"id": 500}, triggered_at="2026-11-02T10:05:00Z")
    live.post("products/update", {**product, "updated_at": "2026-11-02T10:01:00Z"})
    live.settle()
    assert Product.select().count() == 0
    assert ProductVariant.select().count() == 0
    assert CollectionMembership.select().count() == 0
    assert receipt_statuses()[-2:] == [("products/delete", "applied", None),
                                       ("products/update", "ignored", "deleted")]
    live.post("collections/delete", {"id": 600})
    live.settle()
    assert Collection.select().count() == 0
    assert EntitySync.get(store=store.id, entity="products").records == 0


def test_ignored_deliveries_are_acknowledged(live: Live) -> None:
    paused = store_row(SHOP, paused=True)
    store_row("no-orders.myshopify.com", cat_orders=False)
    assert live.post("orders/create", order(1, "2026-11-02T10:00:00Z")).status_code == 200
    assert live.post("orders/create", order(2, "2026-11-02T10:00:00Z"),
                     shop="no-orders.myshopify.com").status_code == 200
    assert live.post("orders/create", order(3, "2026-11-02T10:00:00Z"),
                     shop="stranger.myshopify.com").status_code == 200
    live.settle()
    assert Order.select().count() == 0
    assert receipt_statuses() == [
        ("orders/create", "ignored", "store disconnected"),
        ("orders/create", "ignored", "category off"),
        ("orders/create", "ignored", "unknown shop"),
    ]
    unknown = Event.select().where(Event.store_domain == "stranger.myshopify.com").get()
    assert (unknown.store_id, unknown.message) == (
        None, "orders/create #3 ignored: unknown shop")
    assert Store.get_by_id(paused.id).last_webhook_at is not None


# -- lifecycle and compliance topics ---------------------------------------------------------------

def test_uninstall_makes_the_store_reconnect_required_at_once(live: Live) -> None:
    from engine.jobs.queue import enqueue

    store = store_row(SHOP, webhook_topics="ORDERS_CREATE")
    queued = enqueue("sync", store, entity="orders", params={"mode": "incremental"})
    started = time.monotonic()
    assert live.post("app/uninstalled", {"id": 1, "myshopify_domain": SHOP}).status_code == 200
    wait_until(lambda: Store.get_by_id(store.id).status == "reconnect_required", timeout=1.0)
    assert time.monotonic() - started < 1.0
    after = Store.get_by_id(store.id)
    assert (after.needs_reauth, after.reauth_reason, after.status_detail, after.webhook_topics) \
        == (True, "App uninstalled in Shopify", "App uninstalled in Shopify", "")
    assert Job.get_by_id(queued.id).state == "cancelled"
    # Data sent after the uninstall is acknowledged, not applied.
    assert live.post("orders/create", order(1, "2026-11-02T10:00:00Z")).status_code == 200
    live.settle()
    assert Order.select().count() == 0


def test_scopes_update_rechecks_health(live: Live) -> None:
    store = store_row(SHOP)
    live.post("app/scopes_update", {"id": 1, "previous": ["read_orders"],
                                    "current": ["read_customers", "read_products"]})
    live.settle()
    after = Store.get_by_id(store.id)
    assert after.granted_scopes == "read_customers,read_products"
    assert after.status == "reconnect_required"
    assert Job.select().where((Job.kind == "health") & (Job.store_id == store.id)).exists()


def test_bulk_finish_wakes_the_waiting_sync(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.jobs.wakeups

    calls: list[tuple[int, str | None]] = []
    monkeypatch.setattr(engine.jobs.wakeups, "wake", lambda store_id, entity=None: calls.append(
        (store_id, entity)) or True)
    store = store_row(SHOP)
    EntitySync.update(bulk_operation_id="gid://shopify/BulkOperation/42").where(
        (EntitySync.store == store.id) & (EntitySync.entity == "orders")).execute()
    live.post("bulk_operations/finish", {"admin_graphql_api_id":
                                         "gid://shopify/BulkOperation/42", "status": "completed"})
    live.post("bulk_operations/finish", {"admin_graphql_api_id":
                                         "gid://shopify/BulkOperation/1", "status": "failed"})
    live.settle()
    assert calls == [(store.id, "orders"), (store.id, None)]


def test_compliance_topics(live: Live) -> None:
    store = store_row(SHOP)
    live.post("customers/create", {"id": 77, "admin_graphql_api_id": "gid://shopify/Customer/77",
                                   "email": "ada@example.com", "first_name": "Ada",
                                   "last_name": "L", "phone": "+1555",
                                   "default_address": {"address1": "1 Main", "city": "Oslo",
                                                       "zip": "0150"},
                                   "tags": "vip", "updated_at": "2026-11-02T10:00:00Z"})
    live.post("customers/create", {"id": 78, "admin_graphql_api_id": "gid://shopify/Customer/78",
                                   "email": "bob@example.com",
                                   "updated_at": "2026-11-02T10:00:00Z"})
    live.post("orders/create", order(1, "2026-11-02T10:00:00Z"))
    live.post("products/create", {"id": 500, "admin_graphql_api_id": "gid://shopify/Product/500",
                                  "title": "Lamp", "updated_at":
                                  "2026-11-02T10:00:00Z", "variants": [{"id": 501}]})
    live.settle()

    live.post("customers/data_request", {"shop_id": 1, "shop_domain": SHOP, "customer": {
        "id": 77, "email": "ada@example.com"}, "orders_requested": [5001],
        "data_request": {"id": 9999}})
    live.settle()
    request = Event.select().where(Event.message.startswith("Customer data request")).get()
    assert request.message == "Customer data request: customer 77, orders 5001"
    assert request.data == {"customer_id": 77, "orders_requested": [5001],
                            "data_request_id": 9999}

    live.post("customers/redact", {"shop_id": 1, "shop_domain": SHOP, "customer": {"id": 77},
                                   "orders_to_redact": [4001]})
    live.settle()
    ada = Customer.get(Customer.shopify_id == 77)
    assert (ada.email, ada.first_name, ada.last_name, ada.phone, ada.address1, ada.city,
            ada.zip) == (None,) * 7
    assert ada.tags == "vip"  # not personal: kept
    assert Customer.get(Customer.shopify_id == 78).email == "bob@example.com"
    assert Order.get(Order.shopify_id == 4001).email is None

    live.post("shop/redact", {"shop_id": 1, "shop_domain": SHOP})
    live.settle()
    for model in (Customer, Order, OrderLineItem, Product, ProductVariant):
        assert model.select().where(model.store == store.id).count() == 0
    assert Store.get_or_none(Store.id == store.id) is not None
    assert [r[1] for r in receipt_statuses()[-3:]] == ["applied"] * 3


def test_a_delivery_that_cannot_be_applied_fails_alone(live: Live) -> None:
    store = store_row(SHOP)
    # A database that refuses one line item: the apply raises after the order row was written.
    database.execute_sql(
        'CREATE TRIGGER refuse_line BEFORE INSERT ON "order_line_item" '
        "WHEN NEW.shopify_id = 9002 BEGIN SELECT RAISE(ABORT, 'line 9002 refused'); END"
    )
    assert live.post("orders/create", order(1, "2026-11-02T10:00:00Z")).status_code == 200
    assert live.post("orders/create", order(2, "2026-11-02T10:00:00Z")).status_code == 200
    assert live.post("orders/create", order(3, "2026-11-02T10:00:00Z")).status_code == 200
    live.settle()
    assert sorted(o.shopify_id for o in Order.select()) == [4001, 4003]
    failed = WebhookReceipt.get(WebhookReceipt.status == "failed")
    assert failed.detail.startswith("IntegrityError")
    event = Event.get(Event.level == "error")
    assert event.message.startswith("orders/create #2 failed: IntegrityError")
    assert EntitySync.get(store=store.id, entity="orders").records == 2


def test_an_id_no_column_can_hold_drops_that_line_not_the_delivery(live: Live) -> None:
    store_row(SHOP)
    huge = order(2, "2026-11-02T10:00:00Z")
    huge["line_items"][0]["id"] = 2**63  # used to fail the whole delivery with OverflowError
    assert live.post("orders/create", huge).status_code == 200
    live.settle()
    assert WebhookReceipt.get().status == "applied"
    lines = OrderLineItem.select().where(OrderLineItem.order_id == 4002)
    assert [line.shopify_id for line in lines] == [9502]


# -- durability ---------------------------------------------------------------------------------

def test_receipts_left_received_by_a_crash_are_applied_at_start(live: Live) -> None:
    store_row(SHOP)
    body = orjson.dumps(order(7, "2026-11-02T10:00:00Z")).decode()
    receipt = WebhookReceipt.create(topic="orders/create", shop_domain=SHOP, body=body,
                                    event_id="crashed-1", status="received")
    worker = WebhookIngest().start()
    try:
        wait_until(lambda: WebhookReceipt.get_by_id(receipt.id).status == "applied")
        assert Order.get(Order.shopify_id == 4007).name == "#7"
    finally:
        worker.stop()
    # The same event delivered again (a Shopify retry) is a duplicate, not a second apply.
    assert live.post("orders/create", body.encode(), event_id="crashed-1").text == "duplicate"


def test_a_flood_that_never_pauses_is_applied_within_the_lag_bound(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under concurrent requests the worker records receipts first and applies once they pause
    (engine.webhooks.ingest, LULL); a flood that never pauses still gets applied once its
    oldest unapplied delivery is MAX_LAG old, and every delivery is applied once, in the end."""
    import asyncio
    import threading

    from engine.webhooks import ingest
    from engine.webhooks.receipts import Delivery

    monkeypatch.setattr(ingest, "MAX_LAG", 0.3)
    store_row(SHOP)
    worker = WebhookIngest().start()
    sent: list[int] = []

    async def flood(seconds: float) -> None:
        numbers = iter(range(1, 1_000_000))
        deadline = time.monotonic() + seconds

        async def client() -> None:  # answered, then at once the next one: no pause
            while time.monotonic() < deadline:
                number = next(numbers)
                body = orjson.dumps(order(number, "2026-11-02T10:00:00Z"))
                delivery = Delivery(topic="orders/create", shop_domain=SHOP, body=body,
                                    payload=orjson.loads(body), event_id=f"flood-{number}")
                assert await worker.submit(delivery) == "received"
                sent.append(number)

        await asyncio.gather(*(client() for _ in range(8)))

    flooding = threading.Thread(target=asyncio.run, args=(flood(4.0),), daemon=True)
    try:
        flooding.start()
        wait_until(lambda: Order.select().exists(), 3.0)
        assert flooding.is_alive()  # applied while the flood went on
        flooding.join(30)
        assert worker.wait_idle(30)
    finally:
        worker.stop()
    assert len(sent) > 8
    assert Order.select().count() == len(sent)
    assert WebhookReceipt.select().where(WebhookReceipt.status != "applied").count() == 0


def test_child_and_dependent_deletes_search_an_index(live: Live) -> None:
    """Each upsert replaces the record's children and each delete removes its dependents: on
    SQLite every one of those DELETEs must search an index (a table scan per delivery made
    ingest slow down with the size of the store)."""
    from engine.webhooks.apply import CHILDREN, DEPENDENTS, KEY, MODELS, delete_sql

    statements = [(m._meta.table_name, KEY) for m in MODELS.values()]
    for pairs in (*DEPENDENTS.values(), CHILDREN.values()):
        statements += [(m._meta.table_name, ("store_id", column)) for m, column in pairs]
    for table, keys in statements:
        sql = delete_sql(table, keys).replace("?", "1")
        plan = " ".join(str(row[-1]) for row in database.execute_sql(
            "EXPLAIN QUERY PLAN " + sql).fetchall())
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (sql, plan)


def test_the_webhook_fast_path_answers_as_the_routes_did(live: Live) -> None:
    """POST /webhooks is answered before Starlette's router (engine.serve.app.ServeApp): the
    answer is still plain text with its length, any other method still gets 405, and a body
    that never finishes arriving records nothing."""
    import socket

    store_row(SHOP)
    response = live.post("orders/create", order(1043, "2026-11-02T10:00:00Z"))
    assert (response.status_code, response.text) == (200, "received")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == str(len("received"))
    assert live.client.get(live.url + "/webhooks").status_code == 405
    assert live.client.put(live.url + "/webhooks/customers/data_request").status_code == 405
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
                     b"X-Shopify-Topic: orders/create\r\n\r\n{\"id\": 1")
    live.settle()
    assert [r.status for r in WebhookReceipt.select()] == ["applied"]
