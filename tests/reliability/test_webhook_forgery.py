"""The webhook forgery matrix: what an attacker holding captured signed bodies can and cannot do.

Shopify signs only the body, so every header is the attacker's to choose. Each case posts a
delivery to the real app over HTTP and checks that a refusal writes nothing (every table equal
before and after) but the rejected-delivery counters (the in-process one on /metrics, and webhook
health's per-store counter row), and that replays keep one body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from engine.config import load_settings
from engine.persistence.models import Customer, Event, Metric, Order, Store, WebhookReceipt
from engine.persistence.runtime import open_runtime
from engine.serve.app import create_app
from engine.webhooks.receipts import sign
from tests.engine.livedata_support import AppServer, dump_tables, store_row, webhook_headers

SECRET = "forgery-secret"
VICTIM = "victim.myshopify.com"
ATTACKER = "attacker.myshopify.com"


class Receiver:
    def __init__(self, app: Any, url: str, client: httpx.Client) -> None:
        self.app, self.url, self.client = app, url, client

    def post(self, topic: str, body: bytes, shop: str, **options: Any) -> httpx.Response:
        headers = webhook_headers(body, topic, shop, SECRET, **options)
        return self.client.post(self.url + "/webhooks", content=body, headers=headers)

    def settle(self) -> None:
        assert self.app.state.live.ingest.wait_idle(5.0)

    def rejected(self) -> dict[str, float]:
        counters = self.app.state.live.counters
        totals: dict[str, float] = {}
        for name, labels, value in counters.items():
            if name == "shopsync_webhooks_rejected_total":
                totals[labels["reason"]] = totals.get(labels["reason"], 0) + value
        return totals


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv("SHOPSYNC_API_SECRET", SECRET)
    monkeypatch.setenv("SHOPSYNC_WEBHOOK_MAX_BODY", "65536")
    runtime = open_runtime(load_settings())
    app = create_app(runtime)
    try:
        with AppServer(app) as server, httpx.Client(timeout=10) as client:
            yield Receiver(app, server.url, client)
    finally:
        runtime.close()


def customer(number: int) -> dict[str, Any]:
    return {"id": number, "admin_graphql_api_id": f"gid://shopify/Customer/{number}",
            "email": f"c{number}@example.com", "first_name": "Ada",
            "updated_at": "2026-11-02T10:00:00Z"}


def order(number: int) -> dict[str, Any]:
    return {"id": number, "admin_graphql_api_id": f"gid://shopify/Order/{number}",
            "name": f"#{number}", "updated_at": "2026-11-02T10:00:00Z", "line_items": []}


@pytest.fixture
def stores(receiver: Receiver) -> tuple[Store, Store]:
    """The victim has data; the attacker's own store is connected too (its bodies are real)."""
    victim = store_row(VICTIM)
    attacker = store_row(ATTACKER)
    for number in (1, 2):
        assert receiver.post("customers/create", orjson.dumps(customer(number)),
                             VICTIM).status_code == 200
    receiver.settle()
    return victim, attacker


def _captured(topic: str) -> bytes:
    """A genuine signed body of `topic` from the attacker's own store."""
    return {
        "orders/create": orjson.dumps(order(900)),
        "customers/update": orjson.dumps(customer(901)),
        "products/delete": orjson.dumps({"id": 902}),
        "shop/redact": orjson.dumps({"shop_id": 2, "shop_domain": ATTACKER}),
        "customers/redact": orjson.dumps({"shop_id": 2, "shop_domain": ATTACKER,
                                          "customer": {"id": 1}, "orders_to_redact": []}),
        "app/uninstalled": orjson.dumps({"id": 2, "myshopify_domain": ATTACKER}),
    }[topic]


# (captured topic, topic header sent, shop header sent, status, rejected reason)
SWAPS = [
    ("orders/create", "shop/redact", VICTIM, 401, "shop_mismatch"),
    ("customers/update", "shop/redact", VICTIM, 401, "shop_mismatch"),
    ("shop/redact", "shop/redact", VICTIM, 401, "shop_mismatch"),
    ("customers/redact", "customers/redact", VICTIM, 401, "shop_mismatch"),
    ("customers/redact", "customers/data_request", VICTIM, 401, "shop_mismatch"),
    ("app/uninstalled", "app/uninstalled", VICTIM, 401, "shop_mismatch"),
    ("orders/create", "app/uninstalled", VICTIM, 401, "shop_mismatch"),
    ("orders/create", "customers/update", VICTIM, 401, "resource_mismatch"),
    ("customers/update", "orders/updated", ATTACKER, 401, "resource_mismatch"),
    ("orders/create", "orders/delete", ATTACKER, 401, "resource_mismatch"),
    ("products/delete", "products/update", ATTACKER, 401, "resource_mismatch"),
    ("orders/create", "bulk_operations/finish", VICTIM, 401, "resource_mismatch"),
    ("orders/create", "shop/update", VICTIM, 400, "unknown_topic"),
    ("orders/create", "invented/topic-42", VICTIM, 400, "unknown_topic"),
]


@pytest.mark.parametrize(("captured", "topic", "shop", "status", "reason"), SWAPS)
def test_swapped_headers_are_refused_and_write_nothing(
    receiver: Receiver, stores: tuple[Store, Store], captured: str, topic: str, shop: str,
    status: int, reason: str,
) -> None:
    before = dump_tables()
    response = receiver.post(topic, _captured(captured), shop)
    assert response.status_code == status, response.text
    receiver.settle()
    assert dump_tables() == before
    assert receiver.rejected() == {reason: 1}


def test_signature_failures_write_nothing(receiver: Receiver, stores: tuple[Store, Store]
                                          ) -> None:
    body = orjson.dumps(order(7))
    url = receiver.url + "/webhooks"
    reserialised = orjson.dumps(order(7), option=orjson.OPT_INDENT_2)  # same JSON, new bytes
    before = dump_tables()
    cases = {
        "forged": (body, {**webhook_headers(body, "orders/create", VICTIM, SECRET),
                          "X-Shopify-Hmac-Sha256": sign(body, "guessed")}),
        "missing": (body, {k: v for k, v in webhook_headers(
            body, "orders/create", VICTIM, SECRET).items() if "Hmac" not in k}),
        "re-serialised": (reserialised, webhook_headers(body, "orders/create", VICTIM,
                                                        SECRET)),
        "truncated": (body[:-1], webhook_headers(body, "orders/create", VICTIM, SECRET)),
    }
    for name, (content, headers) in cases.items():
        assert receiver.client.post(url, content=content, headers=headers).status_code == 401, (
            name)
    malformed = b'{"id": 7, '
    assert receiver.post("orders/create", malformed, VICTIM).status_code == 400
    oversized = orjson.dumps({**order(8), "note": "x" * 70_000})
    assert receiver.post("orders/create", oversized, VICTIM).status_code == 413
    receiver.settle()
    assert dump_tables() == before
    assert receiver.rejected() == {"signature": 4, "malformed": 1, "too_large": 1}


def test_a_replay_with_any_new_headers_is_a_duplicate_with_one_stored_body(
    receiver: Receiver, stores: tuple[Store, Store]
) -> None:
    victim, attacker = stores
    body = orjson.dumps({**customer(901), "note": "n" * 20_000})
    assert receiver.post("customers/update", body, ATTACKER, event_id="ev-a").text == "received"
    receiver.settle()
    replays = [
        receiver.post("customers/update", body, ATTACKER, event_id=f"new-{n}").text
        for n in range(10)
    ]
    replays.append(receiver.post("customers/update", body, VICTIM).text)  # another shop
    replays.append(receiver.post("customers/create", body, VICTIM).text)  # another topic
    assert replays == ["duplicate"] * 12
    receiver.settle()
    assert Customer.select().where(Customer.store == victim.id).count() == 2  # untouched
    assert Customer.get(Customer.shopify_id == 901).store_id == attacker.id
    stored = [len(r.body) for r in WebhookReceipt.select().where(
        WebhookReceipt.body_digest == WebhookReceipt.get(
            WebhookReceipt.event_id == "ev-a").body_digest)]
    assert sorted(stored) == [0] * 12 + [len(body)]


def test_unknown_topics_never_become_metric_labels(receiver: Receiver,
                                                   stores: tuple[Store, Store]) -> None:
    body = orjson.dumps(order(5))
    for n in range(50):
        assert receiver.post(f"made/up-{n}", body, VICTIM).status_code == 400
    receiver.settle()
    labels = [m.labels for m in Metric.select()]
    assert not any("made/" in str(label) for label in labels)
    assert not WebhookReceipt.select().where(WebhookReceipt.topic.startswith("made/")).exists()
    assert receiver.rejected() == {"unknown_topic": 50}


def test_destructive_deliveries_are_recorded_with_their_ids(
    receiver: Receiver, stores: tuple[Store, Store]
) -> None:
    body = orjson.dumps({"shop_id": 1, "shop_domain": VICTIM, "customer": {"id": 1},
                         "orders_to_redact": []})
    assert receiver.post("customers/redact", body, VICTIM, event_id="redact-ev",
                         triggered_at="2026-11-03T10:00:00Z").status_code == 200
    receiver.settle()
    event = Event.get(Event.message.startswith("customers/redact"))
    assert event.data["event_id"] == "redact-ev"
    assert event.data["triggered_at"] == "2026-11-03T10:00:00Z"
    assert event.data["webhook_id"].startswith("wh-")
    assert len(event.data["body_sha256"]) == 64
    assert Customer.get(Customer.shopify_id == 1).email is None
    assert Order.select().count() == 0
