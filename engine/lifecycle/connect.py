"""Connecting stores: by access token, or by OAuth (authorize URL → callback → code exchange).

The OAuth `state` is a single-use nonce stored in `oauth_state` with the shop it was issued for,
so the callback can be completed by whichever process receives it (`serve`, or the short-lived
listener of engine.lifecycle.oauth_listener) while the TUI or CLI that started it polls
`oauth_status`. Only a verified callback (the app secret's hmac, fresh) settles a state: a
forged or altered one is refused without touching it, so it cannot end the waiting connect.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlparse

import httpx

from engine.domain.domains import ALREADY_CONNECTED, DomainError, normalize_domain
from engine.domain.errors import ActionError, InvalidInput
from engine.domain.jobs import JobKind
from engine.jobs.queue import enqueue
from engine.persistence.database import write_transaction
from engine.persistence.models import OAuthState, Store, utcnow
from engine.persistence.records import ensure_entity_rows, record_event, refresh_status
from engine.persistence.runtime import Runtime
from engine.shopify import documents, oauth
from engine.shopify.client import ShopifyClient, StaticToken
from engine.shopify.errors import OAuthError, ShopifyError

STATE_TTL = timedelta(minutes=10)
DECLINED = "The merchant declined the app's permissions on Shopify"


@dataclass(frozen=True, slots=True)
class OAuthStart:
    """Where to send the merchant to approve the app, and the nonce that ties it together."""

    url: str
    state: str
    domain: str
    purpose: str


def valid_new_domain(text: str) -> str:
    try:
        domain = normalize_domain(text)
    except DomainError as error:
        raise InvalidInput(str(error)) from None
    if Store.select().where(Store.domain == domain).exists():
        raise InvalidInput(ALREADY_CONNECTED)
    return domain


def _redirect_uri(runtime: Runtime) -> str:
    return runtime.settings.public_url.rstrip("/") + "/oauth/callback"


def _require_app(runtime: Runtime) -> tuple[str, str]:
    settings = runtime.settings
    if not settings.api_key or settings.api_secret is None:
        raise ActionError(
            "OAuth needs the app's credentials: set SHOPSYNC_API_KEY and SHOPSYNC_API_SECRET "
            "(or connect with an access token)"
        )
    return settings.api_key, settings.api_secret.get_secret_value()


def begin_oauth(runtime: Runtime, domain: str, purpose: str) -> OAuthStart:
    api_key, _secret = _require_app(runtime)
    state = secrets.token_urlsafe(24)
    OAuthState.create(state=state, domain=domain, purpose=purpose,
                      expires_at=utcnow() + STATE_TTL)
    url = oauth.authorize_url(
        runtime.settings.shop_origin(domain),
        api_key,
        runtime.settings.scopes.split(","),
        _redirect_uri(runtime),
        state,
    )
    return OAuthStart(url=url, state=state, domain=domain, purpose=purpose)


def oauth_status(state: str) -> str | None:
    row = OAuthState.get_or_none(OAuthState.state == state)
    if row is None:
        return "Unknown or expired sign-in; start again"
    if row.result is None and row.expires_at < utcnow():
        return "The approval was not completed in time; start again"
    return row.result


def _claim_state(params: Mapping[str, str]) -> OAuthState:
    state = params.get("state", "")
    with write_transaction():
        row = OAuthState.get_or_none(OAuthState.state == state)
        if row is None or row.used_at is not None:
            raise ActionError("Unknown or already used OAuth state; start the connect again")
        if row.expires_at < utcnow():
            raise ActionError("The OAuth approval expired; start the connect again")
        if params.get("shop", "").lower() != row.domain:
            raise ActionError("The callback is for a different store than the one requested")
        # Checked before the code is exchanged: a grant issued now would outlive the store.
        store = Store.get_or_none(Store.domain == row.domain)
        if store is not None and store.deleting:
            raise ActionError(f"{row.domain} is being deleted; connect it again afterwards")
        if store is None and row.purpose == "reconnect":
            raise ActionError(f"{row.domain} was deleted meanwhile; connect it again")
        OAuthState.update(used_at=utcnow()).where(OAuthState.id == row.id).execute()
    return row


def complete_oauth(runtime: Runtime, params: Mapping[str, str]) -> Store:
    """Verify an OAuth callback, exchange its code and create or refresh the store."""
    api_key, api_secret = _require_app(runtime)
    state_row = None
    declined = "error" in params and "code" not in params
    verified = False
    try:
        secrets_ = [api_secret]
        if runtime.settings.api_secret_previous is not None:
            secrets_.append(runtime.settings.api_secret_previous.get_secret_value())
        try:
            oauth.verify_callback(params, secrets_)
        except OAuthError as error:
            # Told to whoever sent it; the state is not settled, so the connect that waits for
            # it still completes with the real callback (anyone who saw the state could send
            # this one).
            raise ActionError(DECLINED if declined else f"OAuth callback rejected: {error}"
                              ) from None
        verified = True
        if declined:
            raise ActionError(DECLINED)
        state_row = _claim_state(params)
        origin = runtime.settings.shop_origin(state_row.domain)
        try:
            code = params.get("code")
            if not code:
                raise ActionError("The OAuth callback carries no authorization code")
            tokens = asyncio.run(oauth.exchange_code(origin, api_key, api_secret, code))
        except ShopifyError as error:
            raise ActionError(
                f"Could not exchange the authorization code: {error.detail}"
            ) from None
        try:
            _scopes, shop = asyncio.run(_probe_token(runtime, state_row.domain,
                                                     tokens.access_token))
        except ShopifyError:
            shop = None  # the health check that follows fills the store information in
        store = _save_grant(runtime, state_row.domain, tokens, method="oauth", shop=shop)
    except ActionError as error:
        if verified and params.get("state"):  # only a verified callback settles a state
            OAuthState.update(result=str(error)).where(
                (OAuthState.state == params.get("state", "")) & OAuthState.result.is_null()
            ).execute()
        raise
    OAuthState.update(result="ok").where(OAuthState.id == state_row.id).execute()
    return store


def simulate_approval(start: OAuthStart) -> Mapping[str, str]:
    """Play the merchant clicking "Install app" (the bundled simulator auto-approves).

    Returns the callback parameters the authorize endpoint redirected with.
    """
    response = httpx.get(start.url, follow_redirects=False, timeout=10)
    location = response.headers.get("location")
    if response.status_code not in (301, 302, 303, 307) or not location:
        raise ActionError(f"The authorize page did not redirect (HTTP {response.status_code})")
    return dict(parse_qsl(urlparse(location).query))


async def _probe_token(runtime: Runtime, domain: str, token: str) -> tuple[list[str], dict]:
    """The token's granted scopes and the shop's info: proves the token works."""
    origin = runtime.settings.shop_origin(domain)
    async with ShopifyClient(origin, runtime.settings.api_version, StaticToken(token),
                             max_retries=2) as client:
        scopes = await oauth.access_scopes(client)
        data = await client.graphql(documents.SHOP_INFO)
    return scopes, data.get("shop") or {}


def connect_token(runtime: Runtime, domain: str, token: str) -> Store:
    """Check an access token against the shop and store it (new store, or a reconnect)."""
    token = (token or "").strip()
    if not token:
        raise InvalidInput("Access token is required")
    try:
        scopes, shop = asyncio.run(_probe_token(runtime, domain, token))
    except ShopifyError as error:
        raise ActionError(f"Shopify refused the access token: {error.detail}") from None
    tokens = oauth.TokenSet(access_token=token, scopes=scopes, expires_at=None,
                            refresh_token=None, refresh_expires_at=None)
    return _save_grant(runtime, domain, tokens, method="token", shop=shop)


def _save_grant(runtime: Runtime, domain: str, tokens: oauth.TokenSet, *, method: str,
                shop: dict | None = None) -> Store:
    vault = runtime.vault
    values = {
        "token_enc": vault.encrypt(tokens.access_token),
        "refresh_token_enc": vault.encrypt(tokens.refresh_token),
        "token_expires_at": tokens.expires_at,
        "refresh_expires_at": tokens.refresh_expires_at,
        "granted_scopes": ",".join(tokens.scopes),
        "auth_method": method,
        "needs_reauth": False,
        "reauth_reason": None,
        "paused": False,
        # The token was just probed (scopes and shop answered): the grant, the token and the API
        # work, so an older failed check no longer stands (its Error would be stale).
        "health_failing": False,
        "health_detail": None,
        "updated_at": utcnow(),
    }
    if shop:
        values.update(name=shop.get("name") or "", email=shop.get("email"))
    with write_transaction():
        store = Store.get_or_none(Store.domain == domain)
        if store is not None and store.deleting:
            raise ActionError(f"{domain} is being deleted; connect it again afterwards")
        if store is None:
            store = Store.create(domain=domain, name=values.pop("name", "") or "", **values)
            ensure_entity_rows(store)
            verb = "Connected"
        else:
            Store.update(**values).where(Store.id == store.id).execute()
            verb = "Reconnected"
        how = "OAuth" if method == "oauth" else "access token"
        record_event(store, "connect", f"{verb} by {how}; scopes: {', '.join(tokens.scopes)}")
    refresh_status(store)
    enqueue(JobKind.WEBHOOKS, store)
    enqueue(JobKind.HEALTH, store)
    return Store.get_by_id(store.id)
