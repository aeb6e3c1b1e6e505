"""`create_app`: the simulator as one Starlette application.

Routes: the control API and bulk downloads under /_sim/, then Shopify's paths under
/{shop}/admin/. Every error is JSON (HTML only for the browser-facing OAuth authorize page);
an unexpected exception becomes a JSON 500, never a traceback page.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.simulator import DEMO_API_KEY, DEMO_API_SECRET, bulk, control, demo, oauth
from engine.simulator.common import json_response
from engine.simulator.graphql_api import graphql_endpoint
from engine.simulator.schema import schema
from engine.simulator.state import World

log = logging.getLogger("engine.simulator")


class CatchAll:
    """Turn any exception that escapes a handler into a JSON 500 (if nothing was sent yet)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("simulator error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                response = json_response(
                    {"error": "internal simulator error", "errors": "Internal Server Error"}, 500)
                await response(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "not found", 405: "method not allowed"}
    return json_response({"error": messages.get(exc.status_code, exc.detail)}, exc.status_code,
                         dict(exc.headers or {}))


def create_app(*, seed: int = 0, demo: bool = False, api_key: str = DEMO_API_KEY,
               api_secret: str = DEMO_API_SECRET, public_url: str | None = None,
               time_scale: float = 1.0) -> Starlette:
    """The simulator. `public_url` is its own origin for bulk download URLs (None: from the
    request); `time_scale` speeds up simulated durations (token expiry, bulk progress,
    throttle refill, webhook retry backoff)."""
    world = World(seed=seed, api_key=api_key, api_secret=api_secret, public_url=public_url,
                  time_scale=time_scale)
    schema()
    if demo:
        _seed_demo(world)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await world.shutdown()

    shop = "/{shop:str}/admin"
    routes = [
        Route("/_sim/", control.info, methods=["GET"]),
        Route("/_sim/shops", control.list_shops, methods=["GET"]),
        Route("/_sim/shops", control.create_shop, methods=["POST"]),
        Route("/_sim/shops/{shop}", control.shop_detail, methods=["GET", "PATCH", "DELETE"]),
        Route("/_sim/shops/{shop}/deliveries", control.deliveries, methods=["GET"]),
        Route("/_sim/shops/{shop}/compliance/{kind}", control.compliance, methods=["POST"]),
        Route("/_sim/shops/{shop}/{entity}/ids", control.record_ids, methods=["GET"]),
        Route("/_sim/shops/{shop}/{entity}", control.records, methods=["POST"]),
        Route("/_sim/shops/{shop}/{entity}/{id}", control.record_detail,
              methods=["GET", "PUT", "DELETE"]),
        Route("/_sim/demo", control.demo_fleet, methods=["GET"]),
        Route("/_sim/activity", control.activity, methods=["POST"]),
        Route("/_sim/clock", control.clock, methods=["POST"]),
        Route("/_sim/bulk/{name}", bulk.download, methods=["GET"]),
        Route(shop + "/oauth/authorize", oauth.authorize, methods=["GET"]),
        Route(shop + "/oauth/access_token", oauth.access_token, methods=["POST"]),
        Route(shop + "/oauth/access_scopes.json", oauth.access_scopes, methods=["GET"]),
        Route(shop + "/api_permissions/current.json", oauth.revoke, methods=["DELETE"]),
        Route(shop + "/api/{version}/api_permissions/current.json", oauth.revoke,
              methods=["DELETE"]),
        Route(shop + "/api/{version}/graphql.json", graphql_endpoint, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(CatchAll)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.world = world
    return app


def _seed_demo(world: World) -> None:
    demo.seed_fleet(world)


def world_of(app: Any) -> World:
    """The simulator state behind an app made by create_app (for tests and the CLI)."""
    world: World = app.state.world
    return world
