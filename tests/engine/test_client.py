"""ShopifyClient mechanics: throttle arithmetic, Retry-After, backoff bounds, 401 → refresh.

The exact-timing cases use httpx.MockTransport because the simulator cannot produce a given
bucket state or failure sequence deterministically; everything Shopify-shaped is also exercised
against the simulator over real HTTP at the end of this file and in test_sync/test_health.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from engine.shopify.client import ShopifyClient, throttle_wait
from engine.shopify.documents import PING, SHOP_INFO
from engine.shopify.errors import (
    AuthError,
    PermanentError,
    ScopeError,
    ShopUnavailable,
    TransientError,
)

ORIGIN = "https://mock.myshopify.com"
TOKEN = "shpat_secret_token_value"


def _cost(requested: float, available: float, rate: float = 50.0, actual: Any = 1) -> dict:
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                     "throttleStatus": {"maximumAvailable": 1000.0,
                                        "currentlyAvailable": available,
                                        "restoreRate": rate}}}


def ok(data: dict | None = None, **cost: float) -> httpx.Response:
    body: dict[str, Any] = {"data": data or {"shop": {"name": "Mock"}}}
    if cost:
        body["extensions"] = _cost(**cost)
    return httpx.Response(200, content=orjson.dumps(body))


THROTTLED = httpx.Response(200, content=orjson.dumps({
    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
    "extensions": _cost(752, 666, 50.0, actual=None),
}))


class Script:
    """A MockTransport handler answering from a list and recording what it was sent."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response]):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer


class Recorder:
    def __init__(self) -> None:
        self.waits: list[tuple[str, float]] = []
        self.slept: list[float] = []

    def on_wait(self, reason: str, seconds: float) -> None:
        self.waits.append((reason, seconds))

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def make(script: Script, recorder: Recorder, token: Any = TOKEN, **kw: Any) -> ShopifyClient:
    return ShopifyClient(ORIGIN, "2026-07", token, transport=httpx.MockTransport(script),
                         on_wait=recorder.on_wait, sleep=recorder.sleep, **kw)


async def test_throttled_waits_requested_minus_available_over_restore_rate() -> None:
    script, rec = Script(THROTTLED, ok()), Recorder()
    async with make(script, rec) as client:
        assert await client.graphql(PING) == {"shop": {"name": "Mock"}}
    assert rec.waits == [("throttled", pytest.approx((752 - 666) / 50.0))]
    assert rec.slept == [pytest.approx(1.72)]
    assert len(script.requests) == 2
    assert all(r.headers["X-Shopify-Access-Token"] == TOKEN for r in script.requests)
    assert script.requests[0].url.path == "/admin/api/2026-07/graphql.json"


async def test_a_query_costing_more_than_the_whole_bucket_fails_at_once() -> None:
    never_fits = httpx.Response(200, content=orjson.dumps({
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {"cost": {"requestedQueryCost": 102, "actualQueryCost": None,
                                "throttleStatus": {"maximumAvailable": 50.0,
                                                   "currentlyAvailable": 50.0,
                                                   "restoreRate": 10.0}}},
    }))
    script, rec = Script(never_fits), Recorder()
    async with make(script, rec) as client:
        with pytest.raises(PermanentError, match=r"costs 102 points but .* holds only 50"):
            await client.graphql(PING)
    assert rec.slept == [] and len(script.requests) == 1


async def test_throttling_past_the_bound_is_transient() -> None:
    script, rec = Script(THROTTLED), Recorder()
    async with make(script, rec, max_throttle_waits=3) as client:
        with pytest.raises(TransientError, match="kept throttling"):
            await client.graphql(PING)
    assert len(script.requests) == 4


async def test_prewait_when_the_bucket_cannot_hold_the_last_cost() -> None:
    # First answer: the query cost 100 and left 20 points at 50 points/s; sending it again
    # right away would be THROTTLED, so the client waits ~(100 − 20) / 50 s first.
    script = Script(ok(requested=100, available=20), ok(requested=1, available=20),
                    ok(requested=100, available=500))
    rec = Recorder()
    async with make(script, rec) as client:
        await client.graphql(SHOP_INFO)
        assert rec.waits == []
        await client.graphql(PING)  # another document: no cost known yet, no wait
        assert rec.waits == []
        await client.graphql(SHOP_INFO)
    reason, seconds = rec.waits[0]
    assert reason == "bucket"
    assert 1.5 < seconds <= 1.6


async def test_throttle_wait_without_figures_defaults_to_one_second() -> None:
    assert throttle_wait({}) == 1.0
    assert throttle_wait(_cost(10, 100)["cost"]) == 0.0


async def test_429_sleeps_retry_after() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "2.5"},
                                   content=b'{"errors":"Exceeded 2 calls per second"}'), ok())
    rec = Recorder()
    async with make(script, rec) as client:
        await client.graphql(PING)
    assert rec.waits == [("retry_after", 2.5)]


async def test_5xx_backoff_is_jittered_exponential_and_bounded() -> None:
    script = Script(httpx.Response(503, content=b'{"errors":"Service Unavailable"}'))
    rec = Recorder()
    async with make(script, rec, max_retries=4, backoff_base=0.5) as client:
        with pytest.raises(TransientError) as caught:
            await client.graphql(PING)
    assert len(script.requests) == 5  # one try + max_retries retries
    assert str(caught.value) == (
        "Shopify answered 503 Service Unavailable 5 times; last: Service Unavailable"
    )
    assert caught.value.kind == "transient"
    assert [r for r, _ in rec.waits] == ["backoff"] * 4
    for n, (_, seconds) in enumerate(rec.waits):
        full = 0.5 * 2 ** n
        assert full * 0.5 <= seconds <= full  # 50–100 % jitter of the exponential step


async def test_a_5xx_then_success_recovers() -> None:
    script, rec = Script(httpx.Response(500), httpx.Response(502), ok()), Recorder()
    async with make(script, rec) as client:
        assert await client.graphql(PING)
    assert len(rec.waits) == 2


async def test_network_errors_are_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    rec = Recorder()
    async with make(Script(refuse), rec, max_retries=2) as client:
        with pytest.raises(TransientError, match=r"could not be reached \(3 attempts\)"):
            await client.graphql(PING)


class Rotating:
    """A TokenProvider whose refresh hands out the next token of a list."""

    def __init__(self, *tokens: str | None) -> None:
        self.current = TOKEN
        self.next = list(tokens)
        self.refreshed_from: list[str] = []

    async def token(self) -> str:
        return self.current

    async def refresh(self, rejected: str) -> str | None:
        self.refreshed_from.append(rejected)
        new = self.next.pop(0)
        if new is not None:
            self.current = new
        return new


def _only(token: str) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["X-Shopify-Access-Token"] == token:
            return ok()
        return httpx.Response(401, content=b'{"errors":"[API] Invalid API key or access token'
                                            b' (unrecognized login or wrong password)"}')
    return answer


async def test_401_refreshes_once_and_retries_with_the_new_token() -> None:
    script, provider = Script(_only("shpat_fresh_one")), Rotating("shpat_fresh_one")
    async with make(script, Recorder(), token=provider) as client:
        assert await client.graphql(PING)
    assert provider.refreshed_from == [TOKEN]
    assert [r.headers["X-Shopify-Access-Token"] for r in script.requests] == [
        TOKEN, "shpat_fresh_one"]


async def test_401_after_refresh_is_an_auth_error() -> None:
    script, provider = Script(_only("never")), Rotating("shpat_also_rejected", "unused")
    async with make(script, Recorder(), token=provider) as client:
        with pytest.raises(AuthError, match="again after a refresh"):
            await client.graphql(PING)
    assert len(script.requests) == 2 and len(provider.refreshed_from) == 1


async def test_401_without_refresh_is_an_auth_error_without_the_token() -> None:
    async with make(Script(_only("never")), Recorder()) as client:
        with pytest.raises(AuthError) as caught:
            await client.graphql(PING)
    assert caught.value.kind == "auth" and caught.value.status == 401
    assert "uninstalled" in caught.value.detail
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)


@pytest.mark.parametrize(("status", "word"), [(402, "frozen"), (423, "locked")])
async def test_frozen_and_locked_shops_are_unavailable(status: int, word: str) -> None:
    async with make(Script(httpx.Response(status, content=b'{"errors":"Unavailable Shop"}')),
                    Recorder()) as client:
        with pytest.raises(ShopUnavailable, match=word) as caught:
            await client.graphql(PING)
    assert isinstance(caught.value, PermanentError) and caught.value.status == status


async def test_access_denied_is_a_scope_error_naming_the_scope() -> None:
    body = {"data": None, "errors": [{
        "message": 'Access denied for orders field. Required access: `read_orders` access scope.',
        "extensions": {"code": "ACCESS_DENIED"}, "path": ["orders"]}]}
    async with make(Script(httpx.Response(200, content=orjson.dumps(body))),
                    Recorder()) as client:
        with pytest.raises(ScopeError) as caught:
            await client.graphql(PING)
    assert caught.value.scopes == ("read_orders",)
    assert caught.value.kind == "scope"


async def test_other_graphql_errors_and_4xx_are_permanent() -> None:
    body = {"errors": [{"message": "Field 'nope' doesn't exist on type 'Shop'",
                        "extensions": {"code": "undefinedField"}}]}
    async with make(Script(httpx.Response(200, content=orjson.dumps(body)),
                           httpx.Response(404, content=b'{"errors":"Not Found"}')),
                    Recorder()) as client:
        with pytest.raises(PermanentError, match="doesn't exist"):
            await client.graphql(PING)
        with pytest.raises(PermanentError, match="404 Not Found"):
            await client.get_json("/admin/oauth/access_scopes.json")


async def test_a_body_echoing_the_token_is_scrubbed() -> None:
    echo = httpx.Response(500, content=f'{{"errors":"bad token {TOKEN}"}}'.encode())
    async with make(Script(echo), Recorder(), max_retries=0) as client:
        with pytest.raises(TransientError) as caught:
            await client.graphql(PING)
    assert TOKEN not in str(caught.value)
    assert "[redacted]" in str(caught.value)
    assert TOKEN not in repr(client)


async def test_a_proactive_refresh_that_fails_transiently_keeps_the_still_valid_token(
    offline_runtime,
) -> None:
    # Session mechanics with a scripted token endpoint: it answers 503, the stored token still
    # has two minutes, so requests go on with it and the refresh is not retried per request.
    from datetime import timedelta

    from pydantic import SecretStr

    from engine.credentials import open_client
    from engine.persistence.models import Store, utcnow

    runtime = offline_runtime
    runtime.settings.api_key, runtime.settings.api_secret = "key", SecretStr("secret")
    store = Store.create(
        domain="mock.myshopify.com", token_enc=runtime.vault.encrypt(TOKEN),
        refresh_token_enc=runtime.vault.encrypt("shprt_refresh_value"),
        token_expires_at=utcnow() + timedelta(minutes=2),
    )
    token_calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/admin/oauth/access_token"):
            token_calls.append(request)
            return httpx.Response(503)
        assert request.headers["X-Shopify-Access-Token"] == TOKEN
        return ok()

    async with open_client(runtime, store, transport=httpx.MockTransport(answer)) as client:
        await client.graphql(PING)
        await client.graphql(PING)
    assert len(token_calls) == 3  # one refresh, with its own transient retries; not per request
    assert b"shprt_refresh_value" in token_calls[0].content
    assert Store.get_by_id(store.id).token_enc == store.token_enc  # nothing rotated


async def test_every_client_shares_one_tls_context() -> None:
    """httpx loads the whole CA bundle for each client it builds a context for (tens of ms of
    CPU); the engine opens a client per job, so every client is given the one shared context."""
    from engine.shopify import bulk
    from engine.shopify.tls import ssl_context

    def context(http: httpx.AsyncClient) -> object:
        return http._transport._pool._ssl_context  # type: ignore[attr-defined]

    first = ShopifyClient(ORIGIN, "2026-07", TOKEN)
    second = ShopifyClient("https://other.myshopify.com", "2026-07", TOKEN)
    async with first, second:
        assert context(first._http) is context(second._http) is ssl_context()
    assert ssl_context().verify_mode.name == "CERT_REQUIRED" and ssl_context().check_hostname
    # The bulk result download builds its own client: the same context.
    seen: list[object] = []
    real = httpx.Client.__init__

    def spy(self: httpx.Client, *args: Any, **kwargs: Any) -> None:
        seen.append(kwargs.get("verify"))
        real(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx.Client, "__init__", spy)
        chunks = bulk.stream_chunks(ORIGIN + "/result.jsonl", transport=httpx.MockTransport(
            lambda _request: httpx.Response(200, content=b'{"id": 1}\n')))
        assert list(chunks) == [[b'{"id": 1}']]
    assert seen == [ssl_context()]
