"""Helpers for engine tests that run against the simulator over real HTTP.

- `sim`: the simulator's control API (`/_sim/…`): create shops, set faults, change records, and
  read the id lists that tests compare the database against.
- `grant`: run the real OAuth dance against the simulator (authorize → callback params → code
  exchange), returning an expiring TokenSet (or the callback params).
- `make_store`: a simulator shop plus a connected Store row with its token encrypted by the
  runtime's vault, entity rows, and granted scopes — what `connect` will produce.
- `run_job`: enqueue a job and run it on an embedded Runner until it finishes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from engine.config import Settings
from engine.domain.views import JobView
from engine.persistence.models import Store
from engine.persistence.records import ensure_entity_rows, refresh_status
from engine.shopify.oauth import TokenSet, authorize_url, exchange_code

REDIRECT = "http://127.0.0.1:9/oauth/callback"


class Sim:
    """The simulator's control API (not part of Shopify), JSON in and out."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        response = self.http.request(method, path, json=body)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} " \
                                           f"{response.text[:300]}"
        return response.json() if response.content else None

    def create_shop(self, domain: str, **fields: Any) -> dict:
        return self._call("POST", "/_sim/shops", {"domain": domain, **fields})

    def patch(self, domain: str, **fields: Any) -> dict:
        return self._call("PATCH", f"/_sim/shops/{domain}", fields)

    def ids(self, domain: str, entity: str) -> list[int]:
        return [int(i) for i in self._call("GET", f"/_sim/shops/{domain}/{entity}/ids")["ids"]]

    def update(self, domain: str, entity: str, record_id: int, **fields: Any) -> dict:
        return self._call("PUT", f"/_sim/shops/{domain}/{entity}/{record_id}", fields)

    def create(self, domain: str, entity: str, **fields: Any) -> dict:
        return self._call("POST", f"/_sim/shops/{domain}/{entity}", fields)

    def delete(self, domain: str, entity: str, record_id: int) -> None:
        self._call("DELETE", f"/_sim/shops/{domain}/{entity}/{record_id}")

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def sim(simulator: Any) -> Iterator[Sim]:
    control = Sim(simulator.url)
    yield control
    control.close()


async def oauth_grant(
    settings: Settings, domain: str, *, exchange: bool = True, state: str = "st-1"
) -> Any:
    """Approve the app on a simulator shop the way a merchant's browser would."""
    origin = settings.shop_origin(domain)
    assert settings.api_key and settings.api_secret
    url = authorize_url(origin, settings.api_key, settings.scopes.split(","), REDIRECT, state)
    async with httpx.AsyncClient(follow_redirects=False, timeout=30) as http:
        response = await http.get(url)
    assert response.status_code in (302, 303), response.text[:300]
    params = dict(parse_qsl(urlsplit(response.headers["location"]).query))
    if not exchange:
        return params
    return await exchange_code(
        origin, settings.api_key, settings.api_secret.get_secret_value(), params["code"]
    )


@pytest.fixture
def grant(settings: Settings) -> Callable[..., Awaitable[Any]]:
    async def run(domain: str, **kw: Any) -> Any:
        return await oauth_grant(settings, domain, **kw)

    return run


def connect_store(runtime: Any, domain: str, token: str, *, tokens: TokenSet | None = None,
                  scopes: list[str] | None = None) -> Store:
    """A Store row as `connect` leaves it: encrypted credentials, entity rows, status."""
    vault = runtime.vault
    store = Store.create(
        domain=domain,
        name=domain.split(".")[0],
        token_enc=vault.encrypt(token),
        refresh_token_enc=vault.encrypt(tokens.refresh_token) if tokens else None,
        token_expires_at=tokens.expires_at if tokens else None,
        refresh_expires_at=tokens.refresh_expires_at if tokens else None,
        auth_method="oauth" if tokens else "token",
        granted_scopes=",".join(
            scopes if scopes is not None else runtime.settings.scopes.split(",")
        ),
    )
    ensure_entity_rows(store)
    refresh_status(store)
    return Store.get_by_id(store.id)


def run_coroutine(coroutine: Awaitable[Any]) -> Any:
    """Run a coroutine to completion from sync code, even inside an async test's loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()  # type: ignore[arg-type]


@pytest.fixture
def make_store(runtime: Any, sim: Sim, unique_domain: str, settings: Settings):
    """make_store(**shop) → Store; `oauth=True` connects with an expiring token + refresh."""

    def make(*, domain: str | None = None, oauth: bool = False, **shop: Any) -> Store:
        domain = domain or unique_domain
        created = sim.create_shop(domain, **shop)
        if oauth:
            tokens = run_coroutine(oauth_grant(settings, domain))
            return connect_store(runtime, domain, tokens.access_token, tokens=tokens,
                                 scopes=tokens.scopes)
        return connect_store(runtime, domain, created["access_token"],
                             scopes=shop.get("scopes"))

    return make


def enqueue_now(kind: str, store: Store, **kw: Any) -> Any:
    """engine.jobs.queue.enqueue under BEGIN IMMEDIATE.

    enqueue reads then writes in a deferred transaction; while a runner writes heartbeats that
    can fail at once with "database is locked" (SQLite's snapshot upgrade is not retried by the
    busy timeout). Reported; until enqueue takes the write lock itself, tests take it for it.
    """
    from engine.jobs.queue import enqueue
    from engine.sync.importer import write_transaction

    with write_transaction():
        return enqueue(kind, store, **kw)


@pytest.fixture
def run_job(runtime: Any) -> Iterator[Callable[..., JobView]]:
    """run_job(kind, store, entity=None, params=None, timeout=60) → the finished JobView."""
    from engine.jobs.queue import wait_for_job
    from engine.registry import make_runner

    runner = make_runner(runtime).start_thread()

    def run(kind: str, store: Store, *, entity: str | None = None,
            params: dict | None = None, timeout: float = 60) -> JobView:
        job = enqueue_now(kind, store, entity=entity, params=params)
        runner.notify()
        return wait_for_job(job.id, timeout=timeout, interval=0.05)

    yield run
    runner.stop()
