"""Outgoing webhooks: signatures (the §5.3 vector), headers, payloads, retries, subscription
removal, and the chaos switches (disabled, duplicates, out of order, after uninstall)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import orjson

from engine.simulator.webhooks import sign, topic_enum, topic_slash
from tests.simulator.conftest import API_SECRET, Admin, Receiver, ShopFactory
from tests.support import wait_until


def deliveries(shop: Admin) -> list[dict]:
    """The simulator's delivery log of the shop (queued, retried, delivered or failed)."""
    return shop.http.get(f"/_sim/shops/{shop.domain}/deliveries").json()["deliveries"]  # type: ignore[no-any-return]


def verify(body: bytes, signature: str, secret: str = API_SECRET) -> bool:
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(digest, signature)


def test_signature_vector() -> None:
    body = b'{"id":788032119674292922}'
    assert sign("hush", body) == "fhhqwxYconmiOqTJ0cD1XzOlT7ONdp6Ryc18pkvlq5Q="
    assert verify(body, sign("hush", body), "hush")


def test_topic_names() -> None:
    assert topic_slash("ORDERS_UPDATED") == "orders/updated"
    assert topic_slash("APP_SCOPES_UPDATE") == "app/scopes_update"
    assert topic_slash("BULK_OPERATIONS_FINISH") == "bulk_operations/finish"
    assert topic_enum("bulk_operations/finish") == "BULK_OPERATIONS_FINISH"


def test_record_webhooks_headers_and_payloads(shop: Admin, receiver: Receiver) -> None:
    path = f"/records/{shop.domain}"
    for topic in ("CUSTOMERS_CREATE", "CUSTOMERS_UPDATE", "CUSTOMERS_DELETE"):
        shop.subscribe(topic, receiver.url + path)
    created = shop.http.post(f"/_sim/shops/{shop.domain}/customers",
                             json={"first_name": "Ada", "email": "ada@example.com"})
    assert created.status_code == 201
    numeric = created.json()["id"]
    shop.http.put(f"/_sim/shops/{shop.domain}/customers/{numeric}", json={"last_name": "L"})
    shop.http.delete(f"/_sim/shops/{shop.domain}/customers/{numeric}")
    calls = receiver.wait(path, 3)
    assert [c.headers["x-shopify-topic"] for c in calls] == [
        "customers/create", "customers/update", "customers/delete"]
    for call in calls:
        assert verify(call.body, call.headers["x-shopify-hmac-sha256"])
        assert call.headers["x-shopify-shop-domain"] == shop.domain
        assert call.headers["x-shopify-api-version"] == "2026-07"
        assert call.headers["x-shopify-webhook-id"] and call.headers["x-shopify-event-id"]
        assert call.headers["x-shopify-triggered-at"].endswith("Z")
        assert call.headers["content-type"] == "application/json"
    assert len({c.headers["x-shopify-webhook-id"] for c in calls}) == 3
    create = orjson.loads(calls[0].body)
    assert create["id"] == numeric and create["first_name"] == "Ada"
    assert create["email"] == "ada@example.com"
    assert create["admin_graphql_api_id"] == f"gid://shopify/Customer/{numeric}"
    update = orjson.loads(calls[1].body)
    assert update["last_name"] == "L" and update["updated_at"] >= create["updated_at"]
    assert orjson.loads(calls[2].body) == {"id": numeric}
    # The simulator records a delivery's outcome after the receiver has answered.
    assert wait_until(lambda: [d["status"] for d in shop.http.get(
        f"/_sim/shops/{shop.domain}/deliveries").json()["deliveries"]] == ["delivered"] * 3)


def test_orders_updated_topic(make_shop: ShopFactory, receiver: Receiver) -> None:
    shop = make_shop(orders=5)
    path = f"/orders/{shop.domain}"
    shop.subscribe("ORDERS_UPDATED", receiver.url + path)
    order_id = shop.http.get(f"/_sim/shops/{shop.domain}/orders/ids").json()["ids"][0]
    shop.http.put(f"/_sim/shops/{shop.domain}/orders/{order_id}",
                  json={"financial_status": "refunded"})
    call = receiver.wait(path)[0]
    assert call.headers["x-shopify-topic"] == "orders/updated"
    body = orjson.loads(call.body)
    assert body["financial_status"] == "refunded" and body["line_items"]


def test_retries_then_success(shop: Admin, receiver: Receiver) -> None:
    shop.patch(webhook_retry_base_ms=20)
    path = f"/fail/2/{shop.domain}"
    shop.subscribe("PRODUCTS_CREATE", receiver.url + path)
    shop.http.post(f"/_sim/shops/{shop.domain}/products", json={"title": "Retry me"})
    calls = receiver.wait(path, 3)
    assert len(calls) == 3
    assert len({c.headers["x-shopify-event-id"] for c in calls}) == 1
    assert len({c.headers["x-shopify-webhook-id"] for c in calls}) == 1
    assert calls[2].at - calls[1].at >= calls[1].at - calls[0].at - 0.005  # backoff grows
    log = wait_until(lambda: (d := deliveries(shop)) and d[0]["status"] == "delivered" and d)
    assert log[0]["attempts"] == 3


def test_exhausted_retries_remove_subscription(shop: Admin, receiver: Receiver) -> None:
    shop.patch(webhook_retry_base_ms=1, webhook_retries=2)
    path = f"/fail/99/{shop.domain}"
    shop.subscribe("PRODUCTS_CREATE", receiver.url + path)
    shop.http.post(f"/_sim/shops/{shop.domain}/products", json={"title": "Doomed"})
    assert len(receiver.wait(path, 3)) == 3
    wait_until(lambda: shop.info()["subscriptions"] == [])
    log = deliveries(shop)
    assert log[0]["status"] == "failed" and log[0]["response_status"] == 500


def test_disabled_duplicates_and_out_of_order(make_shop: ShopFactory,
                                              receiver: Receiver) -> None:
    shop = make_shop(customers=5)
    path = f"/chaos/{shop.domain}"
    shop.subscribe("CUSTOMERS_UPDATE", receiver.url + path)
    ids = shop.http.get(f"/_sim/shops/{shop.domain}/customers/ids").json()["ids"]

    def touch(index: int, name: str) -> None:
        shop.http.put(f"/_sim/shops/{shop.domain}/customers/{ids[index]}",
                      json={"first_name": name})

    shop.patch(webhooks_enabled=False)
    touch(0, "Silent")
    assert deliveries(shop) == []  # nothing queued, so nothing can arrive later
    assert receiver.at(path) == []
    shop.patch(webhooks_enabled=True, webhook_duplicates=True)
    touch(1, "Twice")
    calls = receiver.wait(path, 2)
    assert len(calls) == 2
    assert calls[0].headers["x-shopify-event-id"] == calls[1].headers["x-shopify-event-id"]
    assert calls[0].headers["x-shopify-webhook-id"] != calls[1].headers["x-shopify-webhook-id"]
    assert calls[0].body == calls[1].body
    shop.patch(webhook_duplicates=False, webhook_out_of_order=True)
    touch(2, "First")
    touch(3, "Second")
    later = receiver.wait(path, 4)[2:]
    assert [orjson.loads(c.body)["first_name"] for c in later] == ["Second", "First"]


def test_after_uninstall_switch(make_shop: ShopFactory, receiver: Receiver) -> None:
    shop = make_shop(customers=2)
    path = f"/after/{shop.domain}"
    shop.subscribe("CUSTOMERS_CREATE", receiver.url + path)
    shop.patch(webhook_after_uninstall=True, installed=False)
    assert shop.info()["subscriptions"]
    shop.http.post(f"/_sim/shops/{shop.domain}/customers", json={"first_name": "Ghost"})
    assert len(receiver.wait(path)) == 1
    other = make_shop(customers=2)
    other_path = f"/after/{other.domain}"
    other.subscribe("CUSTOMERS_CREATE", receiver.url + other_path)
    other.patch(installed=False)
    assert other.info()["subscriptions"] == []
    other.http.post(f"/_sim/shops/{other.domain}/customers", json={"first_name": "Nobody"})
    assert deliveries(other) == []  # nothing queued, so nothing can arrive later
    assert receiver.at(other_path) == []


def test_scopes_update_and_shop_update(shop: Admin, receiver: Receiver) -> None:
    path = f"/app/{shop.domain}"
    shop.subscribe("APP_SCOPES_UPDATE", receiver.url + path)
    shop.subscribe("SHOP_UPDATE", receiver.url + path)
    shop.patch(scopes=["read_orders"])
    shop.patch(name="New Name")
    calls = receiver.wait(path, 2)
    topics = {c.headers["x-shopify-topic"]: orjson.loads(c.body) for c in calls}
    assert topics["app/scopes_update"]["current"] == ["read_orders"]
    assert "read_customers" in topics["app/scopes_update"]["previous"]
    assert topics["shop/update"]["name"] == "New Name"


def test_compliance_webhooks(make_shop: ShopFactory, receiver: Receiver) -> None:
    shop = make_shop(customers=3, orders=30)
    path = f"/compliance/{shop.domain}"
    shop.patch(compliance_uri=receiver.url + path)
    for kind, topic in (("customers_data_request", "customers/data_request"),
                        ("customers_redact", "customers/redact"),
                        ("shop_redact", "shop/redact")):
        response = shop.http.post(f"/_sim/shops/{shop.domain}/compliance/{kind}")
        assert response.status_code == 200 and response.json()["topic"] == topic
    calls = receiver.wait(path, 3)
    bodies = {c.headers["x-shopify-topic"]: orjson.loads(c.body) for c in calls}
    request = bodies["customers/data_request"]
    assert request["shop_domain"] == shop.domain and request["customer"]["id"]
    assert "orders_requested" in request and "data_request" in request
    assert "orders_to_redact" in bodies["customers/redact"]
    assert set(bodies["shop/redact"]) == {"shop_id", "shop_domain"}
    for call in calls:
        assert verify(call.body, call.headers["x-shopify-hmac-sha256"])
    bad = shop.http.post(f"/_sim/shops/{shop.domain}/compliance/nope")
    assert bad.status_code == 404
