"""The checks in front of every Admin API request: latency, injected 5xx, token and shop state.

`faults` applies `latency_ms` and `error_rate` (a per-shop seeded RNG, so a test sees the same
sequence every run); `authenticate` answers 401 for unknown, revoked or expired tokens and for
uninstalled shops, 402 for frozen and 423 for locked shops.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from engine.simulator.common import INVALID_TOKEN, json_response
from engine.simulator.state import Shop, Token, World


async def faults(world: World, shop: Shop) -> Response | None:
    settings = shop.settings
    if settings.latency_ms > 0:
        await asyncio.sleep(settings.latency_ms / 1000)
    if settings.error_rate > 0 and shop.error_rng.random() < settings.error_rate:
        if shop.error_rng.random() < 0.67:
            return json_response(
                {"errors": "Service Unavailable: the server is temporarily unable to handle "
                           "this request. Please try again."}, 503, {"Retry-After": "1"})
        return json_response({"errors": "Internal Server Error"}, 500)
    return None


def authenticate(world: World, shop: Shop, request: Request) -> Token | Response:
    token = world.valid_token(shop, request.headers.get("x-shopify-access-token"))
    if token is None:
        return json_response({"errors": INVALID_TOKEN}, 401)
    if shop.settings.frozen:
        return json_response({"errors": "Unavailable Shop"}, 402)
    if shop.settings.locked:
        return json_response({"errors": "This store is unavailable"}, 423)
    return token


def unknown_shop() -> Response:
    return json_response({"errors": "Not Found"}, 404)
