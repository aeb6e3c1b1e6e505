"""OAuth: authorize (auto-approve or deny), token exchange and refresh, scopes, revocation.

The callback is signed as Shopify signs it: every parameter except `hmac`, sorted by key,
`k=v` joined with `&` (values URL-encoded like URLSearchParams, spaces as %20), HMAC-SHA256
with the client secret, lowercase hex. `host` is unpadded base64 of
`admin.shopify.com/store/{name}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from engine.simulator.common import BodyError, json_response, read_body
from engine.simulator.events import reinstall, uninstall
from engine.simulator.gate import authenticate, faults, unknown_shop
from engine.simulator.state import CODE_TTL, REFRESH_TTL, AuthCode, Shop, Token, World

_SCOPE = re.compile(r"(unauthenticated_)?(read|write)_[a-z_]+")
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-._")


def _encode(text: str) -> str:
    """URLSearchParams encoding, with %20 (not +) for spaces, as Shopify signs."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in text.encode())


def sign_query(secret: str, params: dict[str, str]) -> str:
    message = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(params.items())
                       if k not in ("hmac", "signature"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def _page(status: int, title: str, detail: str) -> HTMLResponse:
    body = (f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p></body></html>")
    return HTMLResponse(body, status)


def _redirect(uri: str, params: dict[str, str]) -> Response:
    joiner = "&" if "?" in uri else "?"
    return RedirectResponse(uri + joiner + urlencode(params, quote_via=quote), status_code=302)


async def authorize(request: Request) -> Response:
    world: World = request.app.state.world
    shop = world.shops.get(request.path_params["shop"])
    if shop is None:
        return _page(404, "There's no page at this address", "Check the URL and try again.")
    query = request.query_params
    if query.get("client_id") != world.api_key:
        return _page(400, "Oauth error invalid_request",
                     "The client_id provided is invalid or missing.")
    redirect_uri = query.get("redirect_uri", "")
    if not redirect_uri.startswith(("http://", "https://")):
        return _page(400, "Oauth error invalid_request",
                     "The redirect_uri is missing or not an absolute http(s) URL.")
    raw_scopes = [s.strip() for s in query.get("scope", "").split(",") if s.strip()]
    bad = [s for s in raw_scopes if not _SCOPE.fullmatch(s)]
    if bad:
        return _page(400, "Oauth error invalid_scope", f"The access scope is invalid: {bad[0]}")
    state = query.get("state")
    if shop.settings.deny_oauth:
        params = {"error": "access_denied",
                  "error_description": "The merchant declined the installation.",
                  "shop": shop.domain, "timestamp": str(int(time.time()))}
        if state is not None:
            params["state"] = state
        params["hmac"] = sign_query(world.api_secret, params)  # signed like an approval
        return _redirect(redirect_uri, params)
    grantable = frozenset(shop.settings.scopes)
    scopes = frozenset(raw_scopes) & grantable if raw_scopes else grantable
    code = AuthCode(value=secrets.token_hex(16), shop=shop.domain, scopes=scopes,
                    expires_at=world.clock.now() + CODE_TTL)
    world.codes[code.value] = code
    reinstall(shop)
    name = shop.domain.split(".")[0]
    params = {
        "code": code.value,
        "host": base64.b64encode(f"admin.shopify.com/store/{name}".encode()).decode()
        .rstrip("="),
        "shop": shop.domain,
        "timestamp": str(int(time.time())),
    }
    if state is not None:
        params["state"] = state
    params["hmac"] = sign_query(world.api_secret, params)
    return _redirect(redirect_uri, params)


async def _params(request: Request) -> dict[str, Any]:
    raw = await read_body(request)
    params: dict[str, Any] = dict(request.query_params)
    kind = request.headers.get("content-type", "")
    if raw.strip():
        if "json" in kind or raw.lstrip().startswith(b"{"):
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise BodyError(_oauth_error(400, "invalid_request",
                                             "The request body is not valid JSON")) from None
            if not isinstance(value, dict):
                raise BodyError(_oauth_error(400, "invalid_request", "Expected a JSON object"))
            params.update(value)
        else:
            params.update(parse_qsl(raw.decode("utf-8", "replace")))
    return params


def _oauth_error(status: int, code: str, description: str) -> Response:
    return json_response({"error": code, "error_description": description}, status)


def _token_body(world: World, shop: Shop, token: Token) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": token.value, "scope": ",".join(sorted(token.scopes))}
    if token.expires_at is not None:
        body["expires_in"] = max(0, round(token.expires_at - world.clock.now()))
        body["refresh_token"] = token.refresh
        body["refresh_token_expires_in"] = REFRESH_TTL
    return body


async def access_token(request: Request) -> Response:
    world: World = request.app.state.world
    shop = world.shops.get(request.path_params["shop"])
    if shop is None:
        return unknown_shop()
    refused = await faults(world, shop)
    if refused is not None:
        return refused
    try:
        params = await _params(request)
    except BodyError as exc:
        return exc.response
    if params.get("client_id") != world.api_key or not hmac.compare_digest(
        str(params.get("client_secret", "")), world.api_secret
    ):
        return _oauth_error(401, "invalid_client", "Client authentication failed: the client_id "
                                                   "or client_secret is not valid")
    grant = params.get("grant_type") or "authorization_code"
    expiring = str(params.get("expiring", "0")).lower() in ("1", "true")
    now = world.clock.now()
    if grant == "authorization_code":
        code = world.codes.get(str(params.get("code", "")))
        if code is None or code.used or code.shop != shop.domain or now >= code.expires_at:
            return _oauth_error(400, "invalid_request",
                                "The authorization code was not found or was already used")
        code.used = True
        token = None
        if not expiring:
            token = next((t for t in world.tokens.values() if t.shop == shop.domain and
                          t.expires_at is None and t.scopes == code.scopes and not t.revoked
                          and not t.forced_expired), None)
        token = token or world.issue_token(shop, code.scopes, expiring=expiring)
        return json_response(_token_body(world, shop, token))
    if grant == "refresh_token":
        refresh = world.refresh_tokens.get(str(params.get("refresh_token", "")))
        if refresh is None or refresh.revoked or refresh.shop != shop.domain or (
            now >= refresh.expires_at or not shop.settings.installed
        ):
            return _oauth_error(400, "invalid_grant", "The refresh token is invalid, expired "
                                                      "or revoked")
        token = world.issue_token(shop, refresh.scopes, expiring=True)
        refresh.successor = token.value
        return json_response(_token_body(world, shop, token))
    if grant == "urn:ietf:params:oauth:grant-type:token-exchange":
        old = world.valid_token(shop, str(params.get("subject_token", "")))
        if old is None or old.expires_at is not None:
            return _oauth_error(400, "invalid_subject_token",
                                "The subject token is not a valid offline access token")
        old.revoked = True
        token = world.issue_token(shop, old.scopes, expiring=True)
        return json_response(_token_body(world, shop, token))
    return _oauth_error(400, "unsupported_grant_type", f"Grant type {grant!r} is not supported")


async def access_scopes(request: Request) -> Response:
    world: World = request.app.state.world
    shop = world.shops.get(request.path_params["shop"])
    if shop is None:
        return unknown_shop()
    refused = await faults(world, shop)
    if refused is not None:
        return refused
    token = authenticate(world, shop, request)
    if isinstance(token, Response):
        return token
    handles = sorted(world.effective_scopes(shop, token))
    return json_response({"access_scopes": [{"handle": h} for h in handles]})


async def revoke(request: Request) -> Response:
    """DELETE /admin/api_permissions/current.json: the app revokes its own grant (uninstall)."""
    world: World = request.app.state.world
    shop = world.shops.get(request.path_params["shop"])
    if shop is None:
        return unknown_shop()
    refused = await faults(world, shop)
    if refused is not None:
        return refused
    token = authenticate(world, shop, request)
    if isinstance(token, Response):
        return token
    uninstall(world, shop)
    shop.revoked = True
    return json_response({})
