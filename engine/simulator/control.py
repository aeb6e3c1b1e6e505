"""The control API under /_sim/ (not part of Shopify): shops, faults, records, deliveries,
and the simulated clock (POST /_sim/clock {"advance": seconds}).

JSON in and out. Unknown shop → 404, bad JSON → 400, unknown field or bad value → 422 naming
it, body over 1 MiB → 413, wrong method → 405 (from the router).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from engine.simulator import demo, events
from engine.simulator.common import ENTITIES, BodyError, error, json_response, read_json_object
from engine.simulator.patch import apply_settings, validate_settings
from engine.simulator.rest import VIEWS, FieldError
from engine.simulator.state import Shop, World
from engine.simulator.webhooks import (
    COMPLIANCE_TOPICS,
    compliance_payload,
    compliance_targets,
    emit_to,
)

DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\.myshopify\.com")
CREATE_FIELDS = ("domain", "name", "seed", "scopes", *ENTITIES)
MAX_RECORDS = 1_000_000_000


def normalise_domain(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    domain = value.strip().lower()
    if "." not in domain:
        domain += ".myshopify.com"
    return domain if DOMAIN.fullmatch(domain) else None


def shop_json(world: World, shop: Shop) -> dict[str, Any]:
    settings = dataclasses.asdict(shop.settings)
    active = sum(1 for t in world.tokens.values()
                 if t.shop == shop.domain and not t.revoked and not t.forced_expired)
    return {
        "domain": shop.domain,
        "name": shop.settings.name,
        "installed": shop.settings.installed,
        "revoked": shop.revoked,
        "scopes": list(shop.settings.scopes),
        "seed": shop.seed,
        "demo": shop.demo,
        "counts": {e: shop.records.count(e) for e in ENTITIES},
        "active_tokens": active,
        "subscriptions": [
            {"id": f"gid://shopify/WebhookSubscription/{s.number}", "topic": s.topic,
             "uri": s.uri, "api_version": s.api_version}
            for s in sorted(shop.subscriptions.values(), key=lambda s: s.number)],
        "bulk_operations": [{"id": op.gid, "status": op.status}
                            for op in shop.bulk_ops.values()],
        "settings": settings,
    }


def _shop(request: Request) -> tuple[World, Shop | None]:
    world: World = request.app.state.world
    return world, world.shops.get(request.path_params["shop"].lower())


def _field_error(exc: FieldError) -> Response:
    return error(exc.status, exc.message, field=exc.field)


async def info(request: Request) -> Response:
    world: World = request.app.state.world
    return json_response({"simulator": "shopsync", "api_key": world.api_key,
                          "shops": len(world.shops), "seed": world.seed})


async def list_shops(request: Request) -> Response:
    world: World = request.app.state.world
    return json_response({"shops": [shop_json(world, s) for s in world.shops.values()]})


async def create_shop(request: Request) -> Response:
    world: World = request.app.state.world
    try:
        body = await read_json_object(request)
        domain = normalise_domain(body.get("domain"))
        if domain is None:
            raise FieldError("domain", "domain must be a myshopify domain like acme.myshopify.com")
        if domain in world.shops:
            return error(409, f"shop {domain} already exists", field="domain")
        counts = {}
        for entity in ENTITIES:
            value = body.get(entity, None)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 0 <= value <= MAX_RECORDS):
                raise FieldError(entity, f"{entity} must be an integer between 0 and "
                                         f"{MAX_RECORDS}")
            if value is not None:
                counts[entity] = value
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise FieldError("seed", "seed must be an integer")
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise FieldError("name", "name must be a non-empty string")
        extra = validate_settings({k: v for k, v in body.items() if k not in CREATE_FIELDS})
        scopes = validate_settings({"scopes": body["scopes"]})["scopes"] if "scopes" in body \
            else None
    except BodyError as exc:
        return exc.response
    except FieldError as exc:
        return _field_error(exc)
    shop = world.add_shop(domain, name=name, seed=seed, counts=counts, scopes=scopes)
    apply_settings(world, shop, extra, quiet=True)
    token = world.issue_token(shop, frozenset(shop.settings.scopes), expiring=False)
    return json_response({"domain": domain, "access_token": token.value}, 201)


async def shop_detail(request: Request) -> Response:
    world, shop = _shop(request)
    if shop is None:
        return error(404, "unknown shop")
    if request.method == "GET":
        return json_response(shop_json(world, shop))
    if request.method == "DELETE":
        world.revoke_all(shop)
        del world.shops[shop.domain]
        return json_response({"domain": shop.domain, "deleted": True})
    try:
        values = validate_settings(await read_json_object(request, allow_empty=True))
    except BodyError as exc:
        return exc.response
    except FieldError as exc:
        return _field_error(exc)
    apply_settings(world, shop, values)
    return json_response(shop_json(world, shop))


async def deliveries(request: Request) -> Response:
    _world, shop = _shop(request)
    if shop is None:
        return error(404, "unknown shop")
    topic = request.query_params.get("topic")
    items = [d for d in shop.deliveries if topic is None or d["topic"] == topic]
    return json_response({"deliveries": items})


async def compliance(request: Request) -> Response:
    world, shop = _shop(request)
    if shop is None:
        return error(404, "unknown shop")
    kind = request.path_params["kind"]
    if kind not in COMPLIANCE_TOPICS:
        return error(404, f"unknown compliance topic {kind!r}",
                     allowed=sorted(COMPLIANCE_TOPICS))
    try:
        body = await read_json_object(request, allow_empty=True)
        for key in body:
            if key not in ("customer_id", "order_ids"):
                raise FieldError(key, f"unknown field '{key}'")
    except BodyError as exc:
        return exc.response
    except FieldError as exc:
        return _field_error(exc)
    payload = compliance_payload(shop, kind, body)
    targets = compliance_targets(shop)
    emit_to(world, shop, COMPLIANCE_TOPICS[kind], payload, targets)
    return json_response({"topic": COMPLIANCE_TOPICS[kind], "delivered_to": targets,
                          "payload": payload})


def _entity(request: Request) -> str | None:
    entity = request.path_params["entity"]
    return entity if entity in ENTITIES else None


async def records(request: Request) -> Response:
    """POST /_sim/shops/{shop}/{entity}: create a record."""
    world, shop = _shop(request)
    entity = _entity(request)
    if shop is None or entity is None:
        return error(404, "unknown shop" if shop is None else "unknown entity")
    try:
        record = events.create_record(world, shop, entity,
                                      await read_json_object(request, allow_empty=True))
    except BodyError as exc:
        return exc.response
    except FieldError as exc:
        return _field_error(exc)
    return json_response(VIEWS[entity](record), 201)


async def record_ids(request: Request) -> Response:
    _world, shop = _shop(request)
    entity = _entity(request)
    if shop is None or entity is None:
        return error(404, "unknown shop" if shop is None else "unknown entity")
    snapshot = shop.records.snapshot()

    def body() -> Iterator[bytes]:
        yield b'{"ids":['
        chunk: list[bytes] = []
        first = True
        for numeric in snapshot.ids(entity):
            chunk.append(b"%d" % numeric)
            if len(chunk) >= 8192:
                yield (b"" if first else b",") + b",".join(chunk)
                first, chunk = False, []
        if chunk:
            yield (b"" if first else b",") + b",".join(chunk)
        yield b"]}"

    return StreamingResponse(body(), media_type="application/json")


async def record_detail(request: Request) -> Response:
    world, shop = _shop(request)
    entity = _entity(request)
    if shop is None or entity is None:
        return error(404, "unknown shop" if shop is None else "unknown entity")
    raw = request.path_params["id"]
    if not raw.isdigit():
        return error(404, f"no {entity} record {raw}")
    numeric = int(raw)
    if request.method == "GET":
        record = shop.records.get(entity, numeric)
        return json_response(VIEWS[entity](record)) if record else error(
            404, f"no {entity} record {numeric}")
    if request.method == "DELETE":
        if not events.delete_record(world, shop, entity, numeric):
            return error(404, f"no {entity} record {numeric}")
        return json_response({"id": numeric, "deleted": True})
    try:
        updated = events.update_record(world, shop, entity, numeric,
                                       await read_json_object(request))
    except BodyError as exc:
        return exc.response
    except FieldError as exc:
        return _field_error(exc)
    if updated is None:
        return error(404, f"no {entity} record {numeric}")
    return json_response(VIEWS[entity](updated))


async def demo_fleet(request: Request) -> Response:
    world: World = request.app.state.world
    return Response(orjson.dumps(world.demo_fleet), media_type="application/json")


async def activity(request: Request) -> Response:
    world: World = request.app.state.world
    try:
        body = await read_json_object(request)
        for key in body:
            if key not in ("enabled", "interval_ms"):
                raise FieldError(key, f"unknown field '{key}'")
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise FieldError("enabled", "enabled must be true or false")
        interval = body.get("interval_ms", 2000)
        if isinstance(interval, bool) or not isinstance(interval, int) or not (
            50 <= interval <= 3_600_000
        ):
            raise FieldError("interval_ms", "interval_ms must be an integer between 50 and "
                                            "3600000")
    except BodyError as exc:
        return exc.response
    except FieldError as exc:
        return _field_error(exc)
    demo.set_activity(world, enabled, interval)
    return json_response({"enabled": enabled, "interval_ms": interval})


async def clock(request: Request) -> Response:
    """POST {"advance": seconds}: token lifetimes, bulk progress and the cost bucket see that
    much more simulated time at once (deliveries already waiting keep their real-time sleep)."""
    world: World = request.app.state.world
    try:
        body = await read_json_object(request)
        for key in body:
            if key != "advance":
                raise FieldError(key, f"unknown field '{key}'")
        seconds = body.get("advance")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (
            0 <= seconds <= 10 * 365 * 86400
        ):
            raise FieldError("advance", "advance must be a number of seconds, 0 to 10 years")
    except BodyError as exc:
        return exc.response
    except FieldError as exc:
        return _field_error(exc)
    return json_response({"now": world.clock.advance(float(seconds))})
