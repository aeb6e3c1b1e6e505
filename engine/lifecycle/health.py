"""The "health" job: the readiness checklist of product.md §6, and the store information refresh.

Four live probes, made with the store's own credentials:

- OAuth connected     `GET /admin/oauth/access_scopes.json` answers. A 401 (after the one
                      reactive refresh the client tries) means uninstalled or revoked: the item
                      fails and the store is marked as needing reauthorisation.
- Token valid         the access token is not past its expiry, or it was refreshed; fails when
                      Shopify refused a refresh or an expired token cannot be refreshed.
- All scopes granted  the scopes the enabled categories need ⊆ the granted ones (write_X
                      satisfies read_X); the detail names the missing ones ("Missing read_orders").
- API responding      the SHOP_INFO query succeeds; its answer refreshes the store information.

and one item from history: Initial sync complete (every enabled entity finished a full sync),
and the count check, Records match Shopify (engine.sync.counts: each enabled entity's local
records against Shopify's own count, within the in-flight webhook tolerance written down there).
The count check also runs on its own: the "counts" job (`run_count_check`, queued by the
scheduler every SHOPSYNC_COUNT_CHECK_INTERVAL) and after every successful full sync.

A probe that cannot run because an earlier one failed (no scopes list without OAuth, no API
call with rejected credentials) is stored as `{"ok": None, "detail": "Not checked: …"}`.
The check never clears `needs_reauth` (only a reconnect does); a passing check clears Error
(except records not matching Shopify, which only a count check that finds them matching clears).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from engine.credentials import StoreTokens, WaitMeter, open_client
from engine.domain.coerce import naive_utc
from engine.domain.jobs import ACTIVE, JobKind
from engine.domain.policy import store_blocked
from engine.domain.status import (
    COUNTS_NOT_CHECKED_INITIAL,
    HEALTH_COMPLETED,
    HEALTH_FAILED,
    Check,
    Entity,
    enabled_entities,
    missing_scopes,
    required_scopes,
)
from engine.domain.views import HealthOutcome
from engine.jobs.queue import refresh_status_and_syncs
from engine.jobs.runner import JobContext
from engine.persistence import counters as metrics
from engine.persistence.database import write_transaction
from engine.persistence.facts import store_facts
from engine.persistence.models import EntitySync, Job, Store, utcnow
from engine.persistence.reads import categories_of
from engine.persistence.records import record_event
from engine.shopify.client import ShopifyClient
from engine.shopify.documents import SHOP_INFO
from engine.shopify.errors import AuthError, ShopifyError
from engine.shopify.oauth import access_scopes
from engine.sync.counts import apply_counts, check_counts, comparable, read_counts
from engine.sync.state import all_fully_synced
from engine.webhooks.apply import UNINSTALLED_REASON

Result = tuple[bool | None, str | None]


@dataclass
class ProbeResults:
    """What the live probes found for one store (not to be confused with diagnosis.Finding)."""

    results: dict[Check, Result] = field(default_factory=dict)
    granted: list[str] | None = None
    shop: dict[str, Any] | None = None
    auth_error: AuthError | None = None  # the grant is unusable: store needs reconnecting
    # Shopify's counts for the count check; a "Not checked: …" reason; None when not read.
    counts: dict[Entity, int] | str | None = None

    @property
    def failed(self) -> list[Check]:
        return [check for check in Check if self.results.get(check, (None,))[0] is False]


def _not_checked(reason: str) -> Result:
    return None, f"Not checked: {reason}"


async def probe(ctx: JobContext, store: Store, meter: WaitMeter,
                counting: list[Entity] | str = COUNTS_NOT_CHECKED_INITIAL) -> ProbeResults:
    """Run the four live probes against Shopify, then read Shopify's counts of `counting`
    (engine.sync.counts.comparable) when the API answers (no database writes)."""
    found = ProbeResults(counts=counting if isinstance(counting, str) else None)
    try:
        async with open_client(ctx.runtime, store, on_wait=meter) as client:
            tokens = client.tokens
            assert isinstance(tokens, StoreTokens)
            try:
                await tokens.token()  # refreshes now if the token is (nearly) expired
            except AuthError as error:
                found.auth_error = error
            except ShopifyError:
                pass  # a transient refresh failure: the probes below report the API state
            if found.auth_error is None:
                await _probe_grant(client, found)
            if found.auth_error is None:
                await _probe_api(client, found)
            if found.auth_error is None and isinstance(counting, list) \
                    and found.results.get(Check.API_RESPONDING, (None,))[0]:
                try:
                    found.counts = await read_counts(client, counting)
                except ShopifyError:
                    found.counts = None  # the previous verdict stands
            found.results[Check.TOKEN_VALID] = _token_result(tokens)
    except AuthError as error:  # no usable stored token at all (missing, undecryptable)
        found.auth_error = error
        found.results[Check.TOKEN_VALID] = (False, error.detail)
    if found.auth_error is not None:
        # Shopify refused the token (401, or a refused refresh): that is "Token valid" failing.
        # Whether the grant itself is gone is known only from an uninstall webhook; otherwise
        # "OAuth connected" could not be checked (it is not blamed for the token's failure).
        if found.results.get(Check.TOKEN_VALID, (None,))[0] is not False:
            found.results[Check.TOKEN_VALID] = (
                False, f"Shopify refused the access token: {found.auth_error.detail}")
        found.results.setdefault(
            Check.OAUTH_CONNECTED,
            (False, UNINSTALLED_REASON) if store.reauth_reason == UNINSTALLED_REASON
            else _not_checked("Shopify refused the access token"),
        )
        found.results.setdefault(
            Check.SCOPES_GRANTED, _not_checked("Shopify rejected the credentials")
        )
        found.results.setdefault(
            Check.API_RESPONDING, _not_checked("Shopify rejected the credentials")
        )
    required = required_scopes(categories_of(store))
    if found.granted is not None:
        missing = missing_scopes(required, found.granted)
        found.results[Check.SCOPES_GRANTED] = (
            (False, "Missing " + ", ".join(missing)) if missing else (True, None)
        )
    return found


async def _probe_grant(client: ShopifyClient, found: ProbeResults) -> None:
    try:
        found.granted = await access_scopes(client)
        found.results[Check.OAUTH_CONNECTED] = (True, None)
    except AuthError as error:
        found.auth_error = error
    except ShopifyError as error:
        # Not an answer about the grant (a frozen shop, an outage): the API probe reports it,
        # unless the API turns out to work, which makes this a failure of its own (below).
        found.results[Check.OAUTH_CONNECTED] = _not_checked(error.detail)
        found.results[Check.SCOPES_GRANTED] = _not_checked("the granted scopes are unknown")


async def _probe_api(client: ShopifyClient, found: ProbeResults) -> None:
    try:
        data = await client.graphql(SHOP_INFO)
    except AuthError as error:
        found.auth_error = error
        return
    except ShopifyError as error:
        found.results[Check.API_RESPONDING] = (False, error.detail)
        return
    shop = data.get("shop")
    if isinstance(shop, dict):
        found.shop = shop
        found.results[Check.API_RESPONDING] = (True, None)
        oauth = found.results.get(Check.OAUTH_CONNECTED)
        if oauth is not None and oauth[0] is None:
            found.results[Check.OAUTH_CONNECTED] = (
                False, "Could not read the granted scopes: " + (oauth[1] or "").removeprefix(
                    "Not checked: ")
            )
    else:
        found.results[Check.API_RESPONDING] = (False, "Shopify answered without shop data")


def _token_result(tokens: StoreTokens) -> Result:
    if tokens.refresh_error is not None:
        return False, f"Shopify refused to refresh the access token: {tokens.refresh_error.detail}"
    if tokens.expired():
        if not tokens.can_refresh:
            return False, "The access token has expired and cannot be refreshed"
        return False, "The access token has expired and Shopify did not answer the refresh"
    if tokens.refreshes:
        return True, "Refreshed during this check"
    return True, None


# -- recording (blocking) -------------------------------------------------------------------------

def _shop_fields(shop: dict[str, Any], domain: str) -> dict[str, Any]:
    primary = (shop.get("primaryDomain") or {}).get("host")
    own = shop.get("myshopifyDomain") or domain
    plan = shop.get("plan") or {}
    address = shop.get("shopAddress") or {}
    created_at = naive_utc(shop.get("createdAt"))
    fields: dict[str, Any] = {
        "email": shop.get("email") or shop.get("contactEmail"),
        "custom_domain": primary if primary and primary not in (own, domain)
        and not primary.endswith(".myshopify.com") else None,
        "plan": plan.get("publicDisplayName"),
        "currency": shop.get("currencyCode"),
        "country": address.get("country") or address.get("countryCodeV2"),
        "shop_created_at": created_at,
    }
    if shop.get("name"):
        fields["name"] = shop["name"]
    return fields


def _initial_sync_underway(store_id: int) -> bool:
    return Job.select().where(
        (Job.store_id == store_id) & (Job.kind == JobKind.SYNC) & Job.state.in_(ACTIVE)
    ).exists()


INITIAL_SYNC_NOT_STARTED = "Not started: open sync settings and run the initial sync"


def _initial_sync_failed(store: Store) -> bool:
    """An enabled entity that never finished a full sync has failed (its first run failed)."""
    enabled = [e.value for e in enabled_entities(categories_of(store))]
    return EntitySync.select().where(
        (EntitySync.store == store.id) & EntitySync.entity.in_(enabled)
        & EntitySync.full_synced_at.is_null() & EntitySync.error.is_null(False)
    ).exists()


def record(store_id: int, found: ProbeResults) -> HealthOutcome:
    with write_transaction():
        store = Store.get_or_none(Store.id == store_id)
        if store is None:
            return HealthOutcome(False, skipped="store no longer exists")
        now = utcnow()
        if store.initial_sync_completed_at is None and all_fully_synced(store):
            store.initial_sync_completed_at = now
        synced = store.initial_sync_completed_at is not None
        if synced:
            initial: Result = (True, None)
        elif _initial_sync_underway(store.id):
            # Queued or running: not a failure yet, so a fresh connect does not flash Error.
            initial = (None, "Initial sync in progress")
        elif _initial_sync_failed(store):
            initial = (False, Check.INITIAL_SYNC_COMPLETE.cause)
        else:  # a fresh connect whose initial sync was not started: not a failure either
            initial = (None, INITIAL_SYNC_NOT_STARTED)
        found.results[Check.INITIAL_SYNC_COMPLETE] = initial
        counted = apply_counts(store, found.counts, now)
        found.results[Check.RECORDS_MATCH] = (counted["ok"], counted["detail"])
        if isinstance(found.counts, dict):
            store.counts_checked_at = now
        failed = found.failed
        if found.shop is not None:
            for name, value in _shop_fields(found.shop, store.domain).items():
                setattr(store, name, value)
        if found.granted is not None:
            store.granted_scopes = ",".join(found.granted)
        if found.auth_error is not None:
            if not store.needs_reauth:  # keep a more specific reason (e.g. uninstalled)
                store.reauth_reason = found.auth_error.detail
            store.needs_reauth = True
        store.readiness = {
            check.value: {"ok": ok, "detail": detail}
            for check, (ok, detail) in ((c, found.results.get(c, (None, None))) for c in Check)
        }
        store.readiness[Check.RECORDS_MATCH.value] = counted  # with its failing entities
        store.last_checked_at = now
        labels = [check.label for check in failed]
        # A missing scope is not part of health_failing: the status rule derives it live from
        # granted vs required scopes, so turning the category off clears it without a re-check.
        # Nor is "Initial sync complete": a failed initial sync is a Failed entity, which the
        # status rule reads itself, and one not yet started is no failure (a fresh connect is
        # Connected, its entities Pending). Nor "Records match Shopify": the status rule reads
        # the count check's failing entities itself, which only a later count check clears (a
        # successful incremental sync clears health_failing but repairs no drift).
        store.health_failing = any(
            check not in (Check.SCOPES_GRANTED, Check.INITIAL_SYNC_COMPLETE, Check.RECORDS_MATCH)
            for check in failed)
        store.health_detail = f"{HEALTH_FAILED}: {', '.join(labels)}" if failed else None
        store.updated_at = now
        store.save()
        message = f"{HEALTH_FAILED}: {', '.join(labels)}" if failed else HEALTH_COMPLETED
        record_event(
            store, "health", message, level="error" if failed else "info",
            data=store.readiness,
        )
        metrics.incr("shopsync_health_checks_total", outcome="failed" if failed else "passed")
        refresh_status_and_syncs(store_id)
    return HealthOutcome(not failed, tuple(failed))


async def run_health(ctx: JobContext) -> dict:
    """Check one store's readiness; the job's result is a stored `HealthOutcome`."""
    store_id = ctx.job.store_id
    store = await asyncio.to_thread(Store.get_or_none, Store.id == store_id)
    if store is None or store.deleting:
        gone = "store no longer exists" if store is None else "store is being deleted"
        return HealthOutcome(False, skipped=gone).to_result()
    meter = WaitMeter()
    counting = await asyncio.to_thread(comparable, store)
    try:
        found = await probe(ctx, store, meter, counting)
    finally:
        await asyncio.to_thread(meter.flush)
    return (await asyncio.to_thread(record, store.id, found)).to_result()


async def run_count_check(ctx: JobContext) -> dict:
    """The scheduled count check of one store (engine.sync.counts): only Records match Shopify.

    Returns {"ok": True | False | None, "detail": …}; a store that may not sync (paused,
    needing a reconnect) is skipped, as its records are not expected to follow Shopify."""
    store_id = ctx.job.store_id
    store = await asyncio.to_thread(Store.get_or_none, Store.id == store_id)
    if store is None or store.deleting:
        return {"skipped": "store no longer exists" if store is None else "store is being deleted"}
    blocked = await asyncio.to_thread(lambda: store_blocked(store_facts(store)))
    if blocked is not None:
        return {"skipped": blocked}
    item = await check_counts(ctx.runtime, store.id)
    if item is None:
        return {"skipped": "store no longer exists"}
    return {"ok": item.get("ok"), "detail": item.get("detail")}
