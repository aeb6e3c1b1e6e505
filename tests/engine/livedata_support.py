"""Helpers for the live-data tests (webhooks, server, scheduler, serve): not a test module.

- `AppServer`: an ASGI app under a real uvicorn server on 127.0.0.1 (random port), in a thread.
- `deliver(...)`: POST a signed webhook the way Shopify does.
- `store_row(...)`: a Connected store row (optionally with a real simulator token).
- `dump_tables()`: every table's rows, to prove a refused request wrote nothing (but the
  rejected-delivery counter: `rejection_counts()`).
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import uvicorn

from engine.persistence.models import (
    ALL_MODELS,
    EntitySync,
    Store,
    WebhookReceipt,
    database,
    utcnow,
)
from engine.persistence.records import ensure_entity_rows, refresh_status
from engine.webhooks.receipts import sign

ALL_SCOPES = "read_customers,read_orders,read_products"


class AppServer:
    """Serve an ASGI app on a free loopback port until `stop()` (or the `with` block ends)."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(
            app, log_level="warning", lifespan="on", access_log=False, log_config=None,
        ))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> AppServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("app server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_event_ids = iter(range(1, 10_000_000))


def webhook_headers(
    body: bytes, topic: str, shop: str, secret: str, *, event_id: str | None = None,
    prefix: str = "X-Shopify-", triggered_at: str | None = None,
) -> dict[str, str]:
    number = next(_event_ids)
    headers = {
        "Content-Type": "application/json",
        f"{prefix}Topic": topic,
        f"{prefix}Hmac-Sha256": sign(body, secret),
        f"{prefix}Shop-Domain": shop,
        f"{prefix}API-Version": "2026-07",
        f"{prefix}Webhook-Id": f"wh-{number}",
        f"{prefix}Event-Id": event_id or f"ev-{number}",
    }
    if triggered_at:
        headers[f"{prefix}Triggered-At"] = triggered_at
    return headers


def deliver(
    client: httpx.Client, url: str, topic: str, shop: str, payload: dict[str, Any] | bytes,
    secret: str, **options: Any,
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    headers = webhook_headers(body, topic, shop, secret, **options)
    return client.post(url.rstrip("/") + "/webhooks", content=body, headers=headers)


def store_row(domain: str, *, token: str | None = None, vault: Any = None,
               **fields: Any) -> Store:
    values: dict[str, Any] = {
        "domain": domain, "name": domain.split(".")[0], "granted_scopes": ALL_SCOPES,
        "auth_method": "token",
    }
    if token is not None:
        values["token_enc"] = vault.encrypt(token)
    values.update(fields)
    store = Store.create(**values)
    ensure_entity_rows(store)
    refresh_status(store.id)
    return Store.get_by_id(store.id)


def mark_synced(store: Store, at: datetime | None = None) -> None:
    """As if every entity had finished its initial full sync (an hour ago by default)."""
    moment = at or utcnow() - timedelta(hours=1)
    EntitySync.update(state="synced", last_synced_at=moment).where(
        EntitySync.store == store.id
    ).execute()
    Store.update(initial_sync_completed_at=moment).where(Store.id == store.id).execute()


COUNTER_COLUMNS = ["id", "store_id", "topic", "hour", "reason", "count"]


def dump_tables(skip: tuple[str, ...] = ("runner_heartbeat",)) -> dict[str, list[tuple]]:
    """Every table's rows; the store change log (a log of writes, like the heartbeats) and the
    rejected-delivery counter (numbers only: see `rejection_counts`) never count as content."""
    columns = [c.name for c in database.get_columns("webhook_rejection")]
    assert columns == COUNTER_COLUMNS  # a counter: never a body, an id or a header
    # A refused delivery leaves no receipt at all (the forgery rule).
    assert not WebhookReceipt.select().where(WebhookReceipt.status == "rejected").exists()
    dump = {}
    for model in ALL_MODELS:
        table = model._meta.table_name
        if table in skip or table in ("store_change", "webhook_rejection"):
            continue
        cursor = database.execute_sql(f'SELECT * FROM "{table}" ORDER BY 1')
        dump[table] = [tuple(row) for row in cursor.fetchall()]
    return dump


def order(number: int, updated_at: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": 4000 + number, "admin_graphql_api_id": f"gid://shopify/Order/{4000 + number}",
        "name": f"#{number}", "email": "buyer@example.com",
        "financial_status": "partially_refunded", "fulfillment_status": "partial",
        "currency": "EUR", "total_price": "12.50", "created_at": "2026-11-01T09:00:00Z",
        "updated_at": updated_at, "customer": {"id": 77},
        "line_items": [
            {"id": 9000 + number, "sku": "SKU-1", "title": "Mug", "quantity": 2,
             "variant_id": 31, "price": "5.00"},
            {"id": 9500 + number, "sku": None, "title": "Tea", "quantity": 1,
             "variant_id": None, "price": "2.50"},
        ],
        **extra,
    }


def rejection_counts() -> dict[tuple[int, str, str], int]:
    """The rejected-delivery counter: (store id, topic, reason) → refusals (every hour)."""
    cursor = database.execute_sql(
        'SELECT store_id, topic, reason, SUM("count") FROM "webhook_rejection" '
        "GROUP BY store_id, topic, reason")
    return {(store_id, topic, reason): int(n) for store_id, topic, reason, n in cursor.fetchall()}
