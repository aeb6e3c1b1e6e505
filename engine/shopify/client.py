"""The throttle-aware Admin API client (httpx, async). No database, no settings: plain inputs.

`ShopifyClient.graphql(document, variables)` returns the response's `data` or raises one of
engine.shopify.errors. What it does on the way, per shopify-api.md §2–3:

- sends `X-Shopify-Access-Token`, taken from a `TokenProvider` on every request, so a rotated
  token is used at once; a 401 asks the provider to refresh once and retries once;
- keeps a local picture of the cost bucket from `extensions.cost.throttleStatus` of every
  response and waits *before* sending when the bucket cannot hold what this document cost last
  time (cheaper than being THROTTLED and resending);
- THROTTLED (HTTP 200) → waits (requested − available) / restoreRate and retries; 429 → waits
  `Retry-After`; both are bounded by `max_throttle_waits`;
- 5xx and network errors → jittered exponential backoff, at most `max_retries` retries, then
  `TransientError` naming the last answer;
- 402/423 → `ShopUnavailable`; ACCESS_DENIED → `ScopeError`; other errors → `PermanentError`.

Every wait goes through `on_wait(reason, seconds)` first (reasons: "bucket", "throttled",
"retry_after", "backoff") so callers can count them; tests inject `sleep` to skip real waiting.
`transport` is the test seam: any `httpx.AsyncBaseTransport`, e.g. the simulator's ASGI app.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from engine.domain.text import safe
from engine.shopify.errors import (
    AuthError,
    PermanentError,
    ScopeError,
    ShopifyError,
    ShopUnavailable,
    TransientError,
    scopes_in,
    scrub,
)
from engine.shopify.tls import ssl_context

WaitHook = Callable[[str, float], None]
Sleep = Callable[[float], Awaitable[None]]

# No single wait is allowed to exceed this, whatever a header or a cost figure says.
MAX_WAIT = 60.0
TOKEN_HEADER = "X-Shopify-Access-Token"


class TokenProvider(Protocol):
    """Where the client gets its access token; `engine.credentials` persists rotations."""

    async def token(self) -> str:
        """The token to send now (may refresh proactively when it is about to expire)."""
        ...

    async def refresh(self, rejected: str) -> str | None:
        """A new token after `rejected` got a 401, or None when no refresh is possible.

        Raises AuthError when Shopify refuses the refresh.
        """
        ...


class StaticToken:
    """A token that cannot be refreshed (token-mode stores, one-off calls)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self) -> str:
        return self._token

    async def refresh(self, rejected: str) -> str | None:
        return None

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"


@dataclass
class Bucket:
    """The last throttleStatus Shopify reported, refilled locally at `restore_rate`."""

    maximum: float = 0.0
    available: float = 0.0
    restore_rate: float = 0.0
    observed_at: float | None = None  # monotonic seconds

    def observe(self, status: dict[str, Any], now: float) -> None:
        try:
            self.maximum = float(status["maximumAvailable"])
            self.available = float(status["currentlyAvailable"])
            self.restore_rate = float(status["restoreRate"])
        except (KeyError, TypeError, ValueError):
            return
        self.observed_at = now

    def estimate(self, now: float) -> float | None:
        """Points available now, assuming nobody else spent any since the last response."""
        if self.observed_at is None:
            return None
        refilled = self.available + (now - self.observed_at) * self.restore_rate
        return min(self.maximum, refilled) if self.maximum else refilled

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until `cost` points are available (0 when they already are)."""
        available = self.estimate(now)
        if available is None or available >= cost or self.restore_rate <= 0:
            return 0.0
        return (cost - available) / self.restore_rate


def throttle_wait(cost: dict[str, Any]) -> float:
    """The wait a THROTTLED answer asks for: (requested − available) / restoreRate seconds."""
    try:
        requested = float(cost["requestedQueryCost"])
        status = cost["throttleStatus"]
        available = float(status["currentlyAvailable"])
        rate = float(status["restoreRate"])
    except (KeyError, TypeError, ValueError):
        return 1.0  # no usable figures: Shopify's own libraries default to one second
    if rate <= 0:
        return 1.0
    return max(0.0, (requested - available) / rate)


def _exceeds_bucket(cost: dict[str, Any] | None) -> str | None:
    """Why waiting cannot help: the query costs more than the bucket can ever hold."""
    if cost is None:
        return None
    try:
        requested = float(cost["requestedQueryCost"])
        maximum = float(cost["throttleStatus"]["maximumAvailable"])
    except (KeyError, TypeError, ValueError):
        return None
    if maximum > 0 and requested > maximum:
        return (f"the query costs {requested:g} points but the shop's rate-limit bucket holds "
                f"only {maximum:g}; it can never run")
    return None


def retry_after(response: httpx.Response) -> float:
    """`Retry-After` in seconds (fractional allowed, e.g. "2.0"); one second when absent."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _error_code(error: Any) -> str | None:
    if isinstance(error, dict):
        extensions = error.get("extensions")
        if isinstance(extensions, dict):
            code = extensions.get("code")
            return str(code) if code is not None else None
    return None


def _messages(errors: Any) -> str:
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        texts = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
        return "; ".join(texts)
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {v}" for k, v in errors.items())
    return str(errors)


class ShopifyClient:
    """An Admin API client for one shop. Use as `async with` or call `aclose()`."""

    def __init__(
        self,
        origin: str,
        api_version: str,
        token: TokenProvider | str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        max_retries: int = 6,
        max_throttle_waits: int = 30,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        on_wait: WaitHook | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.origin = origin.rstrip("/")
        self.api_version = api_version
        self.tokens: TokenProvider = StaticToken(token) if isinstance(token, str) else token
        self.max_retries = max_retries
        self.max_throttle_waits = max_throttle_waits
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.on_wait = on_wait
        self._sleep: Sleep = sleep or asyncio.sleep
        self._http = httpx.AsyncClient(
            transport=transport,
            verify=ssl_context(),
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": "shopsync", "Accept": "application/json"},
        )
        self.bucket = Bucket()
        self._costs: dict[str, float] = {}  # document → its last requestedQueryCost
        self.served_version: str | None = None  # X-Shopify-API-Version of the last answer

    def __repr__(self) -> str:
        return f"ShopifyClient({self.origin!r}, {self.api_version!r})"

    async def __aenter__(self) -> ShopifyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def graphql_url(self) -> str:
        return f"{self.origin}/admin/api/{self.api_version}/graphql.json"

    # -- public API -----------------------------------------------------------------------------

    async def graphql(self, document: str, variables: dict[str, Any] | None = None) -> dict:
        """Run a query or mutation; returns `data`, raises the errors.py tree."""
        throttled = 0
        failures = 0
        waited = False  # just waited out THROTTLED: the bucket figures are stale, not short
        body = {"query": document, "variables": variables or {}}
        while True:
            if not waited:
                await self._prewait(document)
            waited = False
            response = await self._send("POST", self.graphql_url, json=body)
            payload = self._decode(response)
            if not isinstance(payload, dict):
                raise PermanentError("Shopify answered a GraphQL request with an unexpected body")
            extensions = payload.get("extensions")
            cost = extensions.get("cost") if isinstance(extensions, dict) else None
            if isinstance(cost, dict):
                self._observe(document, cost)
            errors = payload.get("errors")
            if not errors:
                data = payload.get("data")
                if not isinstance(data, dict):
                    raise PermanentError("Shopify answered a GraphQL request without data")
                return data
            codes = [_error_code(e) for e in errors] if isinstance(errors, list) else []
            if "THROTTLED" in codes:
                too_big = _exceeds_bucket(cost)
                if too_big:
                    raise PermanentError(too_big)
                throttled += 1
                if throttled > self.max_throttle_waits:
                    raise TransientError(
                        f"Shopify kept throttling the request ({throttled} times in a row); "
                        "the API rate limit is exhausted"
                    )
                await self._wait("throttled", throttle_wait(cost or {}))
                waited = True
                continue
            if "ACCESS_DENIED" in codes:
                text = _messages(errors)
                required = [
                    str(e.get("extensions", {}).get("requiredAccess", ""))
                    for e in errors if isinstance(e, dict)
                ]
                raise ScopeError(
                    f"Shopify denied access: {text}", scopes_in(text + " " + " ".join(required))
                )
            if "INTERNAL_SERVER_ERROR" in codes:
                failures += 1
                if failures > self.max_retries:
                    raise TransientError(
                        f"Shopify answered an internal error {failures} times; "
                        f"last: {_messages(errors)}"
                    )
                await self._wait("backoff", self._backoff(failures))
                continue
            raise PermanentError(f"Shopify rejected the GraphQL request: {_messages(errors)}")

    async def get_json(self, path: str) -> Any:
        """GET an unversioned JSON path on the shop origin (e.g. access_scopes.json)."""
        return self._decode(await self._send("GET", self._url(path)))

    async def delete(self, path: str) -> None:
        """DELETE a path on the shop origin, e.g. `/admin/api_permissions/current.json`."""
        await self._send("DELETE", self._url(path))

    # -- transport ------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.origin + path

    async def _send(
        self, method: str, url: str, *, json: dict[str, Any] | None = None
    ) -> httpx.Response:
        """One logical request: token, 401 refresh, 429 waits and 5xx/network retries."""
        failures = 0
        throttled = 0
        refreshed = False
        path = url[len(self.origin):] if url.startswith(self.origin) else url
        while True:
            token = await self.tokens.token()
            headers = {TOKEN_HEADER: token}
            content = None
            if json is not None:
                headers["Content-Type"] = "application/json"
                content = orjson.dumps(json)
            try:
                response = await self._http.request(method, url, headers=headers, content=content)
            except httpx.TimeoutException as error:
                last_status, last = None, f"timed out ({type(error).__name__})"
            except httpx.TransportError as error:
                last_status, last = None, scrub(f"{type(error).__name__}: {error}", [token])
            else:
                served = response.headers.get("X-Shopify-API-Version")
                if served:
                    self.served_version = served
                status = response.status_code
                if status < 300:
                    return response
                body = scrub(body_summary(response), [token])
                if status == 401:
                    if refreshed:
                        raise AuthError(
                            "Shopify rejected the access token again after a refresh (401): "
                            f"{body}", status=401,
                        )
                    new_token = await self.tokens.refresh(token)
                    if not new_token:
                        raise AuthError(
                            "Shopify rejected the access token (401): the app was uninstalled, "
                            f"access was revoked, or the token expired — {body}", status=401,
                        )
                    refreshed = True
                    continue
                if status == 402:
                    raise ShopUnavailable(
                        f"The shop is frozen (402 Payment Required): {body}", status=402
                    )
                if status == 423:
                    raise ShopUnavailable(f"The shop is locked (423 Locked): {body}", status=423)
                if status == 429:
                    throttled += 1
                    if throttled > self.max_throttle_waits:
                        raise TransientError(
                            f"Shopify answered 429 Too Many Requests {throttled} times; "
                            f"last: {body}", status=429,
                        )
                    await self._wait("retry_after", retry_after(response))
                    continue
                if status < 500:
                    if status in (403, 404) and "unavailable shop" in body.lower():
                        raise ShopUnavailable(
                            f"The shop is unavailable ({status}): {body}", status=status
                        )
                    raise PermanentError(
                        f"Shopify answered {status} {response.reason_phrase} to "
                        f"{method} {path}: {body}", status=status,
                    )
                last_status, last = status, f"{status} {response.reason_phrase}|{body}"
            failures += 1
            if failures > self.max_retries:
                if last_status is not None:
                    code, _, text = last.partition("|")
                    raise TransientError(
                        f"Shopify answered {code} {failures} times; last: {text}",
                        status=last_status,
                    )
                raise TransientError(
                    f"Shopify could not be reached ({failures} attempts); last: {last}"
                )
            await self._wait("backoff", self._backoff(failures))

    def _decode(self, response: httpx.Response) -> Any:
        try:
            return orjson.loads(response.content) if response.content else {}
        except orjson.JSONDecodeError:
            raise TransientError(
                f"Shopify answered {response.status_code} with a body that is not JSON: "
                f"{body_summary(response)}"
            ) from None

    # -- waiting --------------------------------------------------------------------------------

    def _observe(self, document: str, cost: dict[str, Any]) -> None:
        status = cost.get("throttleStatus")
        if isinstance(status, dict):
            self.bucket.observe(status, time.monotonic())
        requested = cost.get("requestedQueryCost")
        if isinstance(requested, int | float):
            self._costs[document] = float(requested)

    async def _prewait(self, document: str) -> None:
        cost = self._costs.get(document)
        if cost is None:
            return
        wait = self.bucket.wait_for(cost, time.monotonic())
        if wait > 0:
            await self._wait("bucket", wait)

    def _backoff(self, failures: int) -> float:
        # Full exponential growth with 50–100 % jitter, so many clients do not retry in step.
        delay = min(self.backoff_cap, self.backoff_base * 2 ** (failures - 1))
        return delay * random.uniform(0.5, 1.0)

    async def _wait(self, reason: str, seconds: float) -> None:
        seconds = min(MAX_WAIT, max(0.0, seconds))
        if self.on_wait is not None:
            self.on_wait(reason, seconds)
        await self._sleep(seconds)


def body_summary(response: httpx.Response, limit: int = 200) -> str:
    """A short, single-line description of an error body (its `errors` text when JSON)."""
    text = response.text if response.content else ""
    try:
        parsed = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and "errors" in parsed:
        text = _messages(parsed["errors"])
    elif isinstance(parsed, dict) and "error" in parsed:
        text = str(parsed.get("error_description") or parsed["error"])
    # Shopify's (or a proxy's) body is untrusted: no escape sequence may ride it into a job
    # error, a log line or a terminal.
    text = " ".join(safe(text).split())
    if not text:
        text = safe(response.reason_phrase) or "(empty body)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = [
    "MAX_WAIT",
    "Bucket",
    "ShopifyClient",
    "ShopifyError",
    "StaticToken",
    "TokenProvider",
    "WaitHook",
    "retry_after",
    "throttle_wait",
]
