"""The simulator's in-memory world: the app, its shops, tokens, codes and per-shop settings.

All of it lives on the event loop thread; only bulk downloads read from worker threads, and they
read frozen snapshots (see store.Records.snapshot).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import secrets
import zlib
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.simulator.common import ALL_SCOPES, ENTITIES, Clock
from engine.simulator.data import Dataset
from engine.simulator.store import Records

if TYPE_CHECKING:
    import httpx

    from engine.simulator.bulk import BulkOperation

DEFAULT_BUCKET = (2000.0, 100.0)
THROTTLED_BUCKET = (200.0, 20.0)
DEFAULT_COUNTS = {"customers": 25, "orders": 50, "products": 10, "collections": 2}
REFRESH_TTL = 7_776_000
CODE_TTL = 600


@dataclass
class Token:
    value: str
    shop: str
    scopes: frozenset[str]
    expires_at: float | None = None
    refresh: str | None = None
    revoked: bool = False
    forced_expired: bool = False
    used: bool = False


@dataclass
class RefreshToken:
    value: str
    shop: str
    scopes: frozenset[str]
    expires_at: float
    revoked: bool = False
    successor: str | None = None  # the access token issued when this one was used


@dataclass
class AuthCode:
    value: str
    shop: str
    scopes: frozenset[str]
    expires_at: float
    used: bool = False


@dataclass
class Settings:
    """Everything PATCH /_sim/shops/{shop} can set, with its current value."""

    name: str = ""
    email: str = ""
    plan: str = "Basic"
    currency: str = "USD"
    country: str = "US"
    timezone: str = "America/New_York"
    primary_domain: str = ""
    installed: bool = True
    scopes: list[str] = field(default_factory=lambda: list(ALL_SCOPES))
    token_expired: bool = False
    frozen: bool = False
    locked: bool = False
    fail_bulk: dict[str, str] = field(default_factory=dict)
    # Entities whose bulk exports complete with no rows (the shop's counts stay as they are).
    empty_bulk: list[str] = field(default_factory=list)
    error_rate: float = 0.0
    throttle: Any = None
    throttle_mode: str = "200"
    latency_ms: int = 0
    bulk_rate: float = 20_000.0
    bulk_delay_ms: int = 0
    # A pause after every ~64 KiB of a bulk result file: a slow download, so a test can act
    # while an import is part-way through.
    download_delay_ms: int = 0
    bulk_concurrency: int | None = None
    deny_oauth: bool = False
    token_ttl: int = 3600
    webhooks_enabled: bool = True
    webhook_duplicates: bool = False
    webhook_out_of_order: bool = False
    webhook_after_uninstall: bool = False
    webhook_retries: int = 8
    webhook_retry_base_ms: int = 200
    compliance_uri: str | None = None


class Bucket:
    """Leaky bucket of GraphQL cost points (Shopify's per app+shop throttle)."""

    def __init__(self, clock: Clock, maximum: float, restore: float) -> None:
        self.clock = clock
        self.maximum = maximum
        self.restore = restore
        self._available = maximum
        self._at = clock.now()

    def configure(self, maximum: float, restore: float) -> None:
        self.available()
        self.maximum, self.restore = maximum, restore
        self._available = min(self._available, maximum)

    def available(self) -> float:
        now = self.clock.now()
        self._available = min(self.maximum, self._available + (now - self._at) * self.restore)
        self._at = now
        return self._available

    def take(self, cost: float) -> bool:
        if self.available() < cost:
            return False
        self._available -= cost
        return True

    def refund(self, points: float) -> None:
        self._available = min(self.maximum, self.available() + points)

    def status(self) -> dict[str, float | int]:
        return {
            "maximumAvailable": float(self.maximum),
            "currentlyAvailable": int(self.available()),
            "restoreRate": float(self.restore),
        }


@dataclass
class Subscription:
    number: int
    topic: str  # GraphQL enum form, e.g. ORDERS_CREATE
    uri: str
    api_version: str
    created_at: float
    format: str = "JSON"
    include_fields: list[str] = field(default_factory=list)
    filter: str | None = None
    name: str | None = None
    failures: int = 0


class Shop:
    """One simulated store and the app's installation on it."""

    def __init__(self, world: World, domain: str, *, seed: int, counts: dict[str, int],
                 settings: Settings, demo: bool = False) -> None:
        self.domain = domain
        self.number = 60_000_000 + zlib.crc32(domain.encode()) % 9_000_000
        self.seed = seed
        self.demo = demo
        self.settings = settings
        self.revoked = False
        self.created_at = world.clock.wall()
        self.records = Records(Dataset(seed, counts, settings.currency))
        self.bucket = Bucket(world.clock, *DEFAULT_BUCKET)
        self.error_rng = random.Random(f"{world.seed}:{domain}:errors")
        self.subscriptions: dict[int, Subscription] = {}
        self.bulk_ops: dict[int, BulkOperation] = {}
        self.deliveries: collections.deque[dict[str, Any]] = collections.deque(maxlen=2000)
        self.held_delivery: Any = None

    @property
    def name(self) -> str:
        return self.settings.name

    def apply_throttle(self) -> None:
        value = self.settings.throttle
        if value is True:
            self.bucket.configure(*THROTTLED_BUCKET)
        elif isinstance(value, dict):
            self.bucket.configure(float(value.get("maximum", THROTTLED_BUCKET[0])),
                                  float(value.get("restore_rate", THROTTLED_BUCKET[1])))
        else:
            self.bucket.configure(*DEFAULT_BUCKET)


class World:
    """The app (client id/secret) and every shop it is installed on."""

    def __init__(self, *, seed: int, api_key: str, api_secret: str, public_url: str | None,
                 time_scale: float) -> None:
        self.seed = seed
        self.api_key = api_key
        self.api_secret = api_secret
        self.public_url = public_url.rstrip("/") if public_url else None
        self.clock = Clock(time_scale)
        self.shops: dict[str, Shop] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthCode] = {}
        self.demo_fleet: list[dict[str, Any]] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.http: httpx.AsyncClient | None = None
        self.activity: asyncio.Task[Any] | None = None
        self.rng = random.Random(seed)
        self.bulk_index: dict[int, BulkOperation] = {}
        self.closing = False
        self._sequence = 0

    def next_number(self) -> int:
        self._sequence += 1
        return self._sequence

    # ---------------------------------------------------------------- shops

    def add_shop(self, domain: str, *, name: str | None = None, seed: int | None = None,
                 counts: dict[str, int] | None = None, scopes: list[str] | None = None,
                 demo: bool = False, **settings: Any) -> Shop:
        label = domain.split(".")[0]
        merged = {**DEFAULT_COUNTS, **(counts or {})}
        config = Settings(
            name=name or label.replace("-", " ").title(),
            email=f"owner@{label}.example",
            primary_domain=f"{label}.example",
            scopes=list(scopes) if scopes is not None else list(ALL_SCOPES),
            **settings,
        )
        shop_seed = seed if seed is not None else self.seed * 1_000_003 + zlib.crc32(
            domain.encode())
        shop = Shop(self, domain, seed=shop_seed, counts={e: merged[e] for e in ENTITIES},
                    settings=config, demo=demo)
        shop.apply_throttle()
        self.shops[domain] = shop
        return shop

    # ---------------------------------------------------------------- tokens

    def issue_token(self, shop: Shop, scopes: frozenset[str], *, expiring: bool) -> Token:
        token = Token(value="shpat_" + secrets.token_hex(16), shop=shop.domain, scopes=scopes)
        if expiring:
            token.expires_at = self.clock.now() + shop.settings.token_ttl
            refresh = RefreshToken(value="shprt_" + secrets.token_hex(24), shop=shop.domain,
                                   scopes=scopes, expires_at=self.clock.now() + REFRESH_TTL)
            self.refresh_tokens[refresh.value] = refresh
            token.refresh = refresh.value
        self.tokens[token.value] = token
        return token

    def revoke_all(self, shop: Shop) -> None:
        for token in self.tokens.values():
            if token.shop == shop.domain:
                token.revoked = True
        for refresh in self.refresh_tokens.values():
            if refresh.shop == shop.domain:
                refresh.revoked = True

    def valid_token(self, shop: Shop, value: str | None) -> Token | None:
        """The live token `value` for `shop`, marking it used (which retires old refresh tokens)."""
        token = self.tokens.get(value or "")
        if token is None or token.shop != shop.domain or token.revoked or token.forced_expired:
            return None
        if token.expires_at is not None and self.clock.now() >= token.expires_at:
            return None
        if not shop.settings.installed:
            return None
        if not token.used:
            token.used = True
            for refresh in self.refresh_tokens.values():
                if refresh.successor == token.value:
                    refresh.revoked = True
        return token

    def effective_scopes(self, shop: Shop, token: Token) -> frozenset[str]:
        return token.scopes & frozenset(shop.settings.scopes)

    # ---------------------------------------------------------------- background tasks

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def shutdown(self) -> None:
        self.closing = True
        tasks = list(self.tasks)
        if self.activity is not None:
            tasks.append(self.activity)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if self.http is not None:
            await self.http.aclose()
            self.http = None


def has_scope(scopes: frozenset[str], needed: str) -> bool:
    """`write_X` implies `read_X`."""
    return needed in scopes or needed.replace("read_", "write_", 1) in scopes
