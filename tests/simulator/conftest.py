"""Fixtures for the simulator tests: one simulator and one webhook receiver per module (real
HTTP on 127.0.0.1), a fresh uniquely named shop per test, and small client helpers."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.simulator import DEMO_API_KEY, DEMO_API_SECRET
from engine.simulator.server import AppThread, SimulatorThread
from tests.support import wait_until

_names = itertools.count(1)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """A webhook endpoint: records every POST; `/fail/{n}/...` answers 500 to the first n."""

    thread: AppThread | None = None
    calls: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.thread is not None
        return self.thread.url

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [c for c in self.calls if c.path == path]

    def wait(self, path: str, count: int = 1, timeout: float = 5.0) -> list[Received]:
        """The calls to `path` once there are at least `count` (fails the test if not)."""
        return wait_until(lambda: len(got := self.at(path)) >= count and got, timeout=timeout)


def _receiver_app(receiver: Receiver) -> Starlette:
    async def hook(request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        with receiver.lock:
            receiver.calls.append(Received(path, dict(request.headers), body, time.monotonic()))
            seen = sum(1 for c in receiver.calls if c.path == path)
        parts = path.split("/")
        if len(parts) > 2 and parts[1] == "fail" and seen <= int(parts[2]):
            return Response("nope", status_code=500)
        return Response("ok")

    return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(seed=7) as thread:
        yield thread


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.thread = AppThread(_receiver_app(rec)).start()
    yield rec
    rec.thread.stop()


@pytest.fixture
def http(sim: SimulatorThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, trust_env=False, timeout=10) as client:
        yield client


class Admin:
    """A shop on the simulator plus its token: `gql`, `control` helpers."""

    def __init__(self, http: httpx.Client, domain: str, token: str) -> None:
        self.http = http
        self.domain = domain
        self.token = token

    def gql(self, query: str, variables: dict[str, Any] | None = None, *,
            version: str = "2026-07", token: str | None = None) -> httpx.Response:
        return self.http.post(
            f"/{self.domain}/admin/api/{version}/graphql.json",
            json={"query": query, "variables": variables or {}},
            headers={"X-Shopify-Access-Token": token or self.token},
        )

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.gql(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]

    def patch(self, **settings: Any) -> dict[str, Any]:
        response = self.http.patch(f"/_sim/shops/{self.domain}", json=settings)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def info(self) -> dict[str, Any]:
        return self.http.get(f"/_sim/shops/{self.domain}").json()  # type: ignore[no-any-return]

    def subscribe(self, topic: str, uri: str) -> str:
        data = self.data(
            "mutation($t: WebhookSubscriptionTopic!, $s: WebhookSubscriptionInput!) {"
            " webhookSubscriptionCreate(topic: $t, webhookSubscription: $s) {"
            " webhookSubscription { id } userErrors { field message } } }",
            {"t": topic, "s": {"uri": uri}})
        payload = data["webhookSubscriptionCreate"]
        assert payload["userErrors"] == [], payload
        return payload["webhookSubscription"]["id"]  # type: ignore[no-any-return]


ShopFactory = Callable[..., Admin]


@pytest.fixture
def make_shop(http: httpx.Client) -> ShopFactory:
    def make(**body: Any) -> Admin:
        domain = body.pop("domain", None) or f"shop-{next(_names)}-{time.monotonic_ns() % 10**6}"
        response = http.post("/_sim/shops", json={"domain": domain, **body})
        assert response.status_code == 201, response.text
        payload = response.json()
        return Admin(http, payload["domain"], payload["access_token"])

    return make


@pytest.fixture
def shop(make_shop: ShopFactory) -> Admin:
    return make_shop()


API_KEY = DEMO_API_KEY
API_SECRET = DEMO_API_SECRET
