"""OAuth authorization-code grant with expiring offline tokens (shopify-api.md §1–2).

Pure helpers (`authorize_url`, `verify_callback`, `TokenSet.from_response`) plus the few HTTP
calls of the grant: `exchange_code`, `refresh_token`, `revoke` and `access_scopes`. Failures are
the errors.py tree: a callback that does not verify or a refused code is `OAuthError`, a refused
refresh is `AuthError`, network trouble and 5xx are `TransientError`. Tokens never appear in a
message or a repr.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import orjson

from engine.retry import Backoff, retrying
from engine.shopify.client import ShopifyClient, StaticToken, body_summary
from engine.shopify.errors import AuthError, OAuthError, PermanentError, TransientError
from engine.shopify.tls import ssl_context

ACCESS_TOKEN_PATH = "/admin/oauth/access_token"
ACCESS_SCOPES_PATH = "/admin/oauth/access_scopes.json"
REVOKE_PATH = "/admin/api_permissions/current.json"
SHOP_RE = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
# Parameters that are never part of the signed message (§1.4 step 1).
UNSIGNED = frozenset({"hmac", "signature"})


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class TokenSet:
    """What a code exchange or a refresh returns. Times are naive UTC, like the database."""

    access_token: str = field(repr=False)
    scopes: list[str]
    expires_at: datetime | None = None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires_at: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"TokenSet(access_token=<hidden>, scopes={self.scopes!r}, "
            f"expires_at={self.expires_at!r}, refresh_token="
            f"{'<hidden>' if self.refresh_token else None}, "
            f"refresh_expires_at={self.refresh_expires_at!r})"
        )

    @classmethod
    def from_response(cls, payload: Mapping[str, Any], now: datetime | None = None) -> TokenSet:
        now = now or _utcnow()
        token = payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise PermanentError("Shopify's token response has no access_token")

        def after(key: str) -> datetime | None:
            seconds = payload.get(key)
            try:
                return now + timedelta(seconds=float(seconds)) if seconds is not None else None
            except (TypeError, ValueError):
                return None

        refresh = payload.get("refresh_token")
        return cls(
            access_token=token,
            scopes=split_scopes(payload.get("scope")),
            expires_at=after("expires_in"),
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            refresh_expires_at=after("refresh_token_expires_in"),
        )


def split_scopes(value: Any) -> list[str]:
    if isinstance(value, str):
        return [s.strip() for s in value.split(",") if s.strip()]
    if isinstance(value, list | tuple):
        return [str(s) for s in value]
    return []


# -- the authorize redirect and its callback ------------------------------------------------------

def authorize_url(
    origin: str, api_key: str, scopes: Sequence[str] | str, redirect_uri: str, state: str
) -> str:
    """Where to send the merchant to approve the app (offline access: no grant_options)."""
    scope = scopes if isinstance(scopes, str) else ",".join(scopes)
    query = urlencode(
        {"client_id": api_key, "scope": scope, "redirect_uri": redirect_uri, "state": state}
    )
    return f"{origin.rstrip('/')}/admin/oauth/authorize?{query}"


def _escape(text: str, *, key: bool) -> str:
    # shopify_python_api's escaping: % and & always, = in keys only.
    text = text.replace("%", "%25").replace("&", "%26")
    return text.replace("=", "%3D") if key else text


def signed_messages(params: Mapping[str, str]) -> list[str]:
    """The message(s) Shopify may have signed for these params (§1.4 steps 1–3).

    The libraries disagree on escaping unusual characters: the Python library escapes only `%`,
    `&` (and `=` in keys) while shopify-app-js form-encodes with `%20` for spaces. For ordinary
    callbacks (hex code, domain, digits, base64 host) both are the same string; when they differ
    we accept either, since both are unambiguous encodings of the same sorted parameters.
    """
    items = sorted((k, v) for k, v in params.items() if k not in UNSIGNED)
    python_style = "&".join(f"{_escape(k, key=True)}={_escape(v, key=False)}" for k, v in items)
    form_style = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in items)
    return list(dict.fromkeys([python_style, form_style]))


def sign(params: Mapping[str, str], secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of the canonical message (the Python-library encoding)."""
    message = signed_messages(params)[0]
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_callback(
    params: Mapping[str, str],
    secrets: Sequence[str],
    *,
    now: float | None = None,
    max_age: float = 90,
    expected_state: str | None = None,
) -> None:
    """Check an OAuth callback (or install request) the way §1.4 says; raise OAuthError if not.

    `secrets` are the app's client secret and, while one is being rotated, the previous one.
    `max_age` is the freshness window on `timestamp` in seconds (shopify-app-js uses 90 s).
    `expected_state`, when given, must equal `state` (the caller still marks the nonce used).
    """
    received = params.get("hmac")
    if not received:
        raise OAuthError("The OAuth callback has no hmac parameter")
    valid = [s for s in secrets if s]
    if not valid:
        raise OAuthError("No app secret is configured to verify the OAuth callback")
    digests = [
        hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
        for secret in valid for message in signed_messages(params)
    ]
    # Compare every candidate (no early exit), in constant time each.
    matched = False
    for digest in digests:
        matched |= hmac.compare_digest(digest, received.strip().lower())
    if not matched:
        raise OAuthError("The OAuth callback's hmac does not match: it was not signed by Shopify "
                         "with this app's secret, or its parameters were altered")
    stamp = params.get("timestamp", "")
    try:
        issued = float(stamp)
    except ValueError:
        raise OAuthError("The OAuth callback has no valid timestamp") from None
    age = (time.time() if now is None else now) - issued
    if abs(age) > max_age:
        raise OAuthError(
            f"The OAuth callback is stale: its timestamp is {abs(age):.0f} s "
            f"{'old' if age > 0 else 'in the future'} (limit {max_age:.0f} s); start again"
        )
    shop = params.get("shop")
    if shop is not None and not SHOP_RE.match(shop):
        raise OAuthError(f"The OAuth callback names an invalid shop {shop[:80]!r}")
    if expected_state is not None and not hmac.compare_digest(
        params.get("state", ""), expected_state
    ):
        raise OAuthError("The OAuth callback's state does not match the one issued")


# -- token endpoint --------------------------------------------------------------------------------

async def _post_token(
    origin: str,
    body: dict[str, str],
    *,
    transport: httpx.AsyncBaseTransport | None,
    timeout: float,
) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport, verify=ssl_context(),
                                 timeout=timeout) as http:
        try:
            return await http.post(
                origin.rstrip("/") + ACCESS_TOKEN_PATH,
                content=orjson.dumps(body),
                headers={"Content-Type": "application/json", "Accept": "application/json"},
            )
        except httpx.TimeoutException as error:
            raise TransientError(
                f"Shopify's token endpoint timed out ({type(error).__name__})"
            ) from None
        except httpx.TransportError as error:
            raise TransientError(
                f"Shopify's token endpoint could not be reached: {type(error).__name__}"
            ) from None


def _token_payload(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise TransientError("Shopify's token endpoint answered with a body that is not JSON") \
            from None
    if not isinstance(payload, dict):
        raise PermanentError("Shopify's token endpoint answered with an unexpected body")
    return payload


async def exchange_code(
    origin: str,
    api_key: str,
    api_secret: str,
    code: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 30.0,
    now: datetime | None = None,
) -> TokenSet:
    """Trade a callback's single-use `code` for an expiring offline token (expiring=1).

    Not retried: a code is single-use, so a retry after a lost answer would only be refused.
    """
    response = await _post_token(
        origin,
        {"client_id": api_key, "client_secret": api_secret, "code": code, "expiring": "1"},
        transport=transport, timeout=timeout,
    )
    if response.status_code >= 500:
        raise TransientError(f"Shopify's token endpoint answered {response.status_code}; "
                             "start the connection again")
    if response.status_code >= 400:
        raise OAuthError(
            f"Shopify refused the authorization code ({response.status_code}): "
            f"{body_summary(response)}", status=response.status_code,
        )
    return TokenSet.from_response(_token_payload(response), now)


async def refresh_token(
    origin: str,
    api_key: str,
    api_secret: str,
    refresh_token: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 30.0,
    attempts: int = 3,
    now: datetime | None = None,
) -> TokenSet:
    """Rotate an expiring offline token: a new access token *and* a new refresh token.

    Transient failures are retried: since 2026-08 Shopify keeps the used refresh token valid until
    the new access token is first used, so repeating a refresh whose answer was lost is safe.
    A 4xx means the grant cannot be renewed → AuthError (the store needs reconnecting).
    """
    body = {
        "client_id": api_key,
        "client_secret": api_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    last: TransientError | None = None
    async for _attempt in retrying(Backoff(attempts, first=0.4)):
        try:
            response = await _post_token(origin, body, transport=transport, timeout=timeout)
        except TransientError as error:
            last = error
            continue
        if response.status_code >= 500:
            last = TransientError(
                f"Shopify's token endpoint answered {response.status_code} "
                f"{response.reason_phrase} while refreshing the token",
                status=response.status_code,
            )
            continue
        if response.status_code >= 400:
            raise AuthError(
                f"Shopify refused to refresh the access token ({response.status_code}): "
                f"{body_summary(response)}", status=response.status_code,
            )
        return TokenSet.from_response(_token_payload(response), now)
    assert last is not None
    raise last


async def revoke(
    origin: str,
    token: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 30.0,
) -> None:
    """Revoke the grant (uninstalls the app). A token Shopify already rejects counts as revoked."""
    async with ShopifyClient(origin, "unversioned", StaticToken(token), transport=transport,
                             timeout=timeout, max_retries=2) as client:
        try:
            await client.delete(REVOKE_PATH)
        except AuthError:
            return  # 401: the token is already dead, which is what revoking wants


async def access_scopes(
    client_or_origin: ShopifyClient | str,
    token: str | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[str]:
    """The scope handles granted to this token (`GET /admin/oauth/access_scopes.json`)."""
    if isinstance(client_or_origin, ShopifyClient):
        payload = await client_or_origin.get_json(ACCESS_SCOPES_PATH)
    else:
        if token is None:
            raise ValueError("access_scopes(origin, token): the token is required")
        async with ShopifyClient(client_or_origin, "unversioned", StaticToken(token),
                                 transport=transport) as client:
            payload = await client.get_json(ACCESS_SCOPES_PATH)
    entries = payload.get("access_scopes") if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        raise PermanentError("Shopify's access_scopes.json answer has no access_scopes list")
    return [str(e["handle"]) for e in entries if isinstance(e, dict) and e.get("handle")]
