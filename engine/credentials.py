"""A client for one stored store: decrypts its token, keeps it fresh, persists rotations.

    async with open_client(runtime, store) as client:
        data = await client.graphql(SHOP_INFO)

`StoreTokens` is the client's TokenProvider for a Store row. Expiring offline tokens are
refreshed proactively when they are within REFRESH_MARGIN of `token_expires_at`, and reactively
once when Shopify answers 401. A rotation (new access token *and* new refresh token, §1.6) is
encrypted with the runtime's vault and written in one UPDATE, so a crash never leaves a new
access token next to an old refresh token. A refused refresh raises AuthError; the caller (sync,
health) then marks the store as needing reauthorisation. Token-mode stores (auth_method "token",
no refresh token) cannot refresh: their 401 is an AuthError straight away.

This module reads and writes the database; the client itself never does.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import httpx

from engine.persistence import counters as metrics
from engine.persistence.database import write_transaction
from engine.persistence.models import Store, utcnow
from engine.persistence.runtime import Runtime
from engine.persistence.vault import SecretError
from engine.shopify import oauth
from engine.shopify.client import ShopifyClient, WaitHook
from engine.shopify.errors import AuthError, TransientError

REFRESH_MARGIN = timedelta(minutes=5)
RETRY_REFRESH_AFTER = 30.0  # seconds, after a transient failure of a proactive refresh


class StoreTokens:
    """TokenProvider backed by a Store row; plaintext lives only in this object's memory."""

    def __init__(
        self,
        runtime: Runtime,
        store_id: int,
        origin: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._runtime = runtime
        self.store_id = store_id
        self._origin = origin
        self._transport = transport
        self._lock = asyncio.Lock()
        self._access: str | None = None
        self._refresh_token: str | None = None
        self.expires_at: datetime | None = None
        self.refresh_expires_at: datetime | None = None
        self._lifetime: timedelta | None = None  # known once we have refreshed it ourselves
        self._retry_at = 0.0  # monotonic time before which a failed refresh is not retried
        # What happened, for the health check's "Token valid" item.
        self.refresh_attempts = 0
        self.refreshes = 0
        self.refresh_error: AuthError | None = None

    def __repr__(self) -> str:
        return f"StoreTokens(store_id={self.store_id}, expires_at={self.expires_at!r})"

    @property
    def can_refresh(self) -> bool:
        return self._refresh_token is not None

    def load(self) -> None:
        """Read and decrypt the stored credentials (blocking: call it in a thread)."""
        store = Store.get_by_id(self.store_id)
        try:
            self._access = self._runtime.vault.decrypt(store.token_enc)
            self._refresh_token = self._runtime.vault.decrypt(store.refresh_token_enc)
        except SecretError as error:
            raise AuthError(
                "The stored access token cannot be decrypted with the current secret key "
                "(SHOPSYNC_SECRET_KEY or the key file changed); reconnect the store"
            ) from error
        self.expires_at = store.token_expires_at
        self.refresh_expires_at = store.refresh_expires_at

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or utcnow())

    def _due(self) -> bool:
        if self._refresh_token is None or self.expires_at is None:
            return False
        if time.monotonic() < self._retry_at and not self.expired():
            return False
        # Refresh REFRESH_MARGIN before expiry, or half-way through a token that lives shorter
        # than that (otherwise every request would refresh a short-lived token again).
        margin = REFRESH_MARGIN if self._lifetime is None else min(
            REFRESH_MARGIN, self._lifetime / 2
        )
        return self.expires_at - margin <= utcnow()

    async def token(self) -> str:
        if self._access is None:
            raise AuthError("No access token is stored for this store; connect it again")
        if self._due():
            async with self._lock:
                if self._due():
                    try:
                        await self._rotate()
                    except TransientError:
                        if self.expired():
                            raise
                        # The token still works for a few minutes: keep using it and try the
                        # refresh again a little later rather than on every request.
                        self._retry_at = time.monotonic() + RETRY_REFRESH_AFTER
        return self._access

    async def refresh(self, rejected: str) -> str | None:
        async with self._lock:
            if self._access != rejected:
                return self._access  # rotated while this request was in flight
            # Another process (the server, a second runner) may have rotated it already.
            await asyncio.to_thread(self.load)
            if self._access is not None and self._access != rejected:
                return self._access
            if self._refresh_token is None:
                return None
            await self._rotate()
            return self._access

    async def _rotate(self) -> None:
        settings = self._runtime.settings
        self.refresh_attempts += 1
        if not settings.api_key or settings.api_secret is None or self._refresh_token is None:
            self.refresh_error = AuthError(
                "The access token expired and cannot be refreshed: SHOPSYNC_API_KEY and "
                "SHOPSYNC_API_SECRET are not both set"
            )
            raise self.refresh_error
        try:
            tokens = await oauth.refresh_token(
                self._origin,
                settings.api_key,
                settings.api_secret.get_secret_value(),
                self._refresh_token,
                transport=self._transport,
                timeout=settings.http_timeout,
            )
        except AuthError as error:
            self.refresh_error = error
            raise
        refresh_token = tokens.refresh_token or self._refresh_token
        refresh_expires_at = (
            tokens.refresh_expires_at if tokens.refresh_token else self.refresh_expires_at
        )
        await asyncio.to_thread(
            self._persist, tokens.access_token, refresh_token, tokens.expires_at,
            refresh_expires_at,
        )
        self._access, self._refresh_token = tokens.access_token, refresh_token
        self.expires_at, self.refresh_expires_at = tokens.expires_at, refresh_expires_at
        self._lifetime = tokens.expires_at - utcnow() if tokens.expires_at else None
        self.refreshes += 1

    def _persist(
        self,
        access: str,
        refresh_token: str,
        expires_at: datetime | None,
        refresh_expires_at: datetime | None,
    ) -> None:
        vault = self._runtime.vault
        with write_transaction():
            Store.update(
                token_enc=vault.encrypt(access),
                refresh_token_enc=vault.encrypt(refresh_token),
                token_expires_at=expires_at,
                refresh_expires_at=refresh_expires_at,
                updated_at=utcnow(),
            ).where(Store.id == self.store_id).execute()


class WaitMeter:
    """An `on_wait` hook that counts the client's waits, written to metrics in one go.

    Counting happens in memory (the hook runs on the event loop, right before a sleep);
    `flush()` — blocking, call it in a thread — adds them to `shopsync_throttle_waits_total`
    and `shopsync_throttle_wait_seconds_total`, labelled by reason (bucket, throttled,
    retry_after, backoff).
    """

    def __init__(self) -> None:
        self.waits: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def __call__(self, reason: str, seconds: float) -> None:
        entry = self.waits[reason]
        entry[0] += 1
        entry[1] += seconds

    def flush(self) -> None:
        waits, self.waits = dict(self.waits), defaultdict(lambda: [0, 0.0])
        for reason, (count, seconds) in waits.items():
            metrics.incr("shopsync_throttle_waits_total", count, reason=reason)
            metrics.incr("shopsync_throttle_wait_seconds_total", seconds, reason=reason)


async def store_tokens(
    runtime: Runtime, store: Store, *, transport: httpx.AsyncBaseTransport | None = None
) -> StoreTokens:
    tokens = StoreTokens(
        runtime, store.id, runtime.settings.shop_origin(store.domain), transport=transport
    )
    await asyncio.to_thread(tokens.load)
    return tokens


@asynccontextmanager
async def open_client(
    runtime: Runtime,
    store: Store,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    on_wait: WaitHook | None = None,
) -> AsyncIterator[ShopifyClient]:
    """A ShopifyClient for `store` whose `.tokens` is a StoreTokens; closed on exit."""
    settings = runtime.settings
    tokens = await store_tokens(runtime, store, transport=transport)
    client = ShopifyClient(
        settings.shop_origin(store.domain),
        settings.api_version,
        tokens,
        transport=transport,
        timeout=settings.http_timeout,
        max_retries=settings.max_retries,
        on_wait=on_wait,
    )
    try:
        yield client
    finally:
        await client.aclose()
