"""Outgoing webhook deliveries: signed, retried with backoff, logged, with chaos switches.

`emit(world, shop, topic, payload)` fans an event out to every subscription of that topic (one
delivery each, two with `webhook_duplicates`), signs the exact body bytes with the app secret and
POSTs from a background task with a 5 s timeout. Failures retry on a compressed exponential
schedule (`webhook_retries` times from `webhook_retry_base_ms`); a delivery that exhausts its
retries deletes its subscription, as Shopify does after repeated failures. Every delivery is
recorded in the shop's log (GET /_sim/shops/{shop}/deliveries).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from engine.simulator.common import ENTITIES, iso
from engine.simulator.state import Shop, Subscription, World

LATEST_VERSION = "2026-07"
OUT_OF_ORDER_HOLD = 1.0
_SPECIAL_TOPICS = {"BULK_OPERATIONS_FINISH": "bulk_operations/finish"}
COMPLIANCE_TOPICS = {
    "customers_data_request": "customers/data_request",
    "customers_redact": "customers/redact",
    "shop_redact": "shop/redact",
}


def topic_slash(enum_value: str) -> str:
    """ORDERS_CREATE → orders/create; APP_SCOPES_UPDATE → app/scopes_update."""
    if enum_value in _SPECIAL_TOPICS:
        return _SPECIAL_TOPICS[enum_value]
    head, _, tail = enum_value.lower().partition("_")
    return f"{head}/{tail}"


def topic_enum(slash: str) -> str:
    return slash.replace("/", "_").upper()


def record_topic(entity: str, action: str) -> str:
    """orders + update → orders/updated (Shopify's one irregular verb); others as given."""
    if entity == "orders" and action == "update":
        return "orders/updated"
    return f"{entity}/{action}"


def sign(secret: str, body: bytes) -> str:
    """X-Shopify-Hmac-Sha256: base64 of HMAC-SHA256 over the exact body bytes."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Delivery:
    topic: str
    uri: str
    body: bytes
    event_id: str
    triggered_at: str
    api_version: str
    subscription: int | None
    webhook_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log: dict[str, Any] = field(default_factory=dict)


def shop_payload(shop: Shop) -> dict[str, Any]:
    """The REST `shop` object (app/uninstalled, shop/update)."""
    s = shop.settings
    return {
        "id": shop.number, "name": s.name, "email": s.email, "domain": s.primary_domain,
        "myshopify_domain": shop.domain, "country": s.country, "currency": s.currency,
        "plan_name": s.plan.lower().replace(" ", "_"), "plan_display_name": s.plan,
        "iana_timezone": s.timezone, "created_at": iso(shop.created_at),
        "updated_at": iso(shop.created_at),
    }


def emit(world: World, shop: Shop, topic: str, payload: dict[str, Any]) -> int:
    """Queue deliveries of one event to every subscriber; returns how many were queued."""
    settings = shop.settings
    if not settings.webhooks_enabled:
        return 0
    if not settings.installed and topic != "app/uninstalled" and (
        not settings.webhook_after_uninstall
    ):
        return 0
    wanted = topic_enum(topic)
    targets: list[tuple[str, str, int | None]] = [
        (s.uri, s.api_version, s.number) for s in shop.subscriptions.values()
        if s.topic == wanted
    ]
    return _fan_out(world, shop, topic, payload, targets)


def emit_to(world: World, shop: Shop, topic: str, payload: dict[str, Any],
            uris: list[str]) -> int:
    """Deliver to explicit URIs (compliance topics are configured outside the API)."""
    return _fan_out(world, shop, topic, payload, [(u, LATEST_VERSION, None) for u in uris])


def _fan_out(world: World, shop: Shop, topic: str, payload: dict[str, Any],
             targets: list[tuple[str, str, int | None]]) -> int:
    if not targets:
        return 0
    body = orjson.dumps(payload)
    event_id = str(uuid.uuid4())
    triggered = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    copies = 2 if shop.settings.webhook_duplicates else 1
    queued = 0
    for uri, version, sub in targets:
        for copy in range(copies):
            delivery = Delivery(topic, uri, body, event_id, triggered, version, sub)
            delivery.log = {
                "webhook_id": delivery.webhook_id, "event_id": event_id, "topic": topic,
                "uri": uri, "status": "pending", "attempts": 0, "response_status": None,
                "error": None, "triggered_at": triggered, "delivered_at": None,
                "duplicate": copy > 0, "payload": payload,
            }
            shop.deliveries.append(delivery.log)
            _schedule(world, shop, delivery)
            queued += 1
    return queued


def _schedule(world: World, shop: Shop, delivery: Delivery) -> None:
    if not shop.settings.webhook_out_of_order:
        world.spawn(_deliver(world, shop, delivery))
        return
    held: Delivery | None = shop.held_delivery
    if held is None:
        shop.held_delivery = delivery
        world.spawn(_flush_later(world, shop, delivery))
        return
    shop.held_delivery = None
    world.spawn(_deliver_pair(world, shop, delivery, held))


async def _deliver_pair(world: World, shop: Shop, first: Delivery, second: Delivery) -> None:
    await _deliver(world, shop, first)
    await _deliver(world, shop, second)


async def _flush_later(world: World, shop: Shop, delivery: Delivery) -> None:
    await asyncio.sleep(OUT_OF_ORDER_HOLD)
    if shop.held_delivery is delivery:
        shop.held_delivery = None
        await _deliver(world, shop, delivery)


def _client(world: World) -> httpx.AsyncClient:
    if world.http is None:
        world.http = httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=1.0),
                                       trust_env=False, follow_redirects=False)
    return world.http


async def _deliver(world: World, shop: Shop, delivery: Delivery) -> None:
    log = delivery.log
    retries = max(0, shop.settings.webhook_retries)
    base = max(0, shop.settings.webhook_retry_base_ms) / 1000
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Shopify-Captain-Hook",
        "X-Shopify-Topic": delivery.topic,
        "X-Shopify-Hmac-Sha256": sign(world.api_secret, delivery.body),
        "X-Shopify-Shop-Domain": shop.domain,
        "X-Shopify-API-Version": delivery.api_version,
        "X-Shopify-Webhook-Id": delivery.webhook_id,
        "X-Shopify-Event-Id": delivery.event_id,
        "X-Shopify-Triggered-At": delivery.triggered_at,
    }
    for attempt in range(retries + 1):
        log["attempts"] = attempt + 1
        try:
            response = await _client(world).post(delivery.uri, content=delivery.body,
                                                 headers=headers)
            log["response_status"] = response.status_code
            ok = 200 <= response.status_code < 300
            log["error"] = None if ok else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            ok = False
            log["response_status"] = None
            log["error"] = f"{type(exc).__name__}: {exc}"[:300]
        if ok:
            log["status"] = "delivered"
            log["delivered_at"] = iso(world.clock.wall())
            _subscription_result(shop, delivery, ok=True)
            return
        log["status"] = "retrying" if attempt < retries else "failed"
        if attempt < retries:
            await asyncio.sleep(world.clock.real_seconds(base * 2**attempt))
    _subscription_result(shop, delivery, ok=False)


def _subscription_result(shop: Shop, delivery: Delivery, *, ok: bool) -> None:
    sub: Subscription | None = shop.subscriptions.get(delivery.subscription or -1)
    if sub is None or sub.uri != delivery.uri:
        return
    if ok:
        sub.failures = 0
        return
    sub.failures += 1
    shop.subscriptions.pop(sub.number, None)


# -------------------------------------------------------------------- compliance


def compliance_payload(shop: Shop, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """The §5.7 payload for one compliance topic (customer/orders picked if not given)."""
    payload: dict[str, Any] = {"shop_id": shop.number, "shop_domain": shop.domain}
    if kind == "shop_redact":
        return payload
    records = shop.records
    customer_id = body.get("customer_id")
    if customer_id is None:
        customer_id = next(records.ids("customers"), None)
    customer = records.get("customers", customer_id) if isinstance(customer_id, int) else None
    email = customer["defaultEmailAddress"] if customer else None
    phone = customer["defaultPhoneNumber"] if customer else None
    orders = body.get("order_ids")
    if orders is None:
        orders = []
        gid = customer["id"] if customer else None
        scanned = records.iterate("orders", by_updated=False)
        for position, (_key, order) in enumerate(scanned):
            if len(orders) >= 3 or position >= 2000:
                break
            if gid is not None and order["customer"] is not None and order["customer"]["id"] == gid:
                orders.append(int(order["legacyResourceId"]))
    payload["customer"] = {
        "id": customer_id,
        "email": email["emailAddress"] if email else None,
        "phone": phone["phoneNumber"] if phone else None,
    }
    if kind == "customers_data_request":
        payload["orders_requested"] = orders
        payload["data_request"] = {"id": 9000 + len(shop.deliveries)}
    else:
        payload["orders_to_redact"] = orders
    return payload


def compliance_targets(shop: Shop) -> list[str]:
    if shop.settings.compliance_uri:
        return [shop.settings.compliance_uri]
    return sorted({s.uri for s in shop.subscriptions.values()})


ENTITY_TOPICS = [record_topic(e, a) for e in ENTITIES for a in ("create", "update", "delete")]
