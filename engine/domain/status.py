"""Enums and the pure rules that turn facts into a store's status and readiness.

Status is never stored by hand: `derive_status` computes it from facts (paused flag, re-auth flag,
missing scopes, latest health result, entity states), and every writer calls it
through `engine.persistence.records.refresh_status`. The UI strings here are the exact ones
of reference/product.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    ERROR = "error"
    RECONNECT_REQUIRED = "reconnect_required"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    Status.CONNECTED: "Connected",
    Status.DISCONNECTED: "Disconnected",
    Status.ERROR: "Error",
    Status.RECONNECT_REQUIRED: "Reconnect required",
}


class EntityState(StrEnum):
    PENDING = "pending"
    SYNCING = "syncing"
    SYNCED = "synced"
    FAILED = "failed"
    OFF = "off"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Entity(StrEnum):
    CUSTOMERS = "customers"
    ORDERS = "orders"
    PRODUCTS = "products"
    COLLECTIONS = "collections"

    @property
    def label(self) -> str:
        return self.value.capitalize()


# Per store, entity syncs always run in this order.
ENTITY_ORDER: tuple[Entity, ...] = (
    Entity.CUSTOMERS,
    Entity.ORDERS,
    Entity.PRODUCTS,
    Entity.COLLECTIONS,
)


class Category(StrEnum):
    """The five inbound data categories of sync settings (all on by default)."""

    CUSTOMERS = "customers"
    EMAIL_CONSENT = "email_consent"
    SMS_CONSENT = "sms_consent"
    ORDERS = "orders"
    CATALOGUE = "catalogue"

    @property
    def label(self) -> str:
        return _CATEGORY_LABELS[self]


_CATEGORY_LABELS = {
    Category.CUSTOMERS: "Customer profiles",
    Category.EMAIL_CONSENT: "Email marketing consent",
    Category.SMS_CONSENT: "SMS marketing consent",
    Category.ORDERS: "Orders, checkouts, and carts",
    Category.CATALOGUE: "Product catalogue",
}

# Which category feeds which entity; consent categories only add fields to Customers.
ENTITY_CATEGORY: dict[Entity, Category] = {
    Entity.CUSTOMERS: Category.CUSTOMERS,
    Entity.ORDERS: Category.ORDERS,
    Entity.PRODUCTS: Category.CATALOGUE,
    Entity.COLLECTIONS: Category.CATALOGUE,
}

CATEGORY_SCOPE: dict[Category, str] = {
    Category.CUSTOMERS: "read_customers",
    Category.EMAIL_CONSENT: "read_customers",
    Category.SMS_CONSENT: "read_customers",
    Category.ORDERS: "read_orders",
    Category.CATALOGUE: "read_products",
}

ALL_SCOPES: tuple[str, ...] = ("read_customers", "read_orders", "read_products")


def enabled_entities(categories: dict[Category, bool]) -> list[Entity]:
    return [e for e in ENTITY_ORDER if categories.get(ENTITY_CATEGORY[e], True)]


def required_scopes(categories: dict[Category, bool]) -> list[str]:
    """The read scopes the enabled categories need, in a stable order."""
    needed = {CATEGORY_SCOPE[c] for c, on in categories.items() if on}
    return [s for s in ALL_SCOPES if s in needed]


def missing_scopes(required: list[str], granted: list[str]) -> list[str]:
    """Required scopes not granted; a write_X grant also satisfies read_X."""
    have = set(granted)
    return [
        s for s in required
        if s not in have and s.replace("read_", "write_", 1) not in have
    ]


class Check(StrEnum):
    """The six readiness items: four live probes of a health check, one from the sync history,
    and the count check (engine.sync.counts: local record counts against Shopify's)."""

    OAUTH_CONNECTED = "oauth_connected"
    TOKEN_VALID = "token_valid"
    SCOPES_GRANTED = "scopes_granted"
    API_RESPONDING = "api_responding"
    INITIAL_SYNC_COMPLETE = "initial_sync_complete"
    RECORDS_MATCH = "records_match"

    @property
    def label(self) -> str:
        return CHECK_TEXT[self][0]

    @property
    def cause(self) -> str:
        return CHECK_TEXT[self][1]

    @property
    def fix(self) -> str:
        return CHECK_TEXT[self][2]


# label, likely cause, fix — reference/product.md §6.
CHECK_TEXT: dict[Check, tuple[str, str, str]] = {
    Check.OAUTH_CONNECTED: (
        "OAuth connected",
        "App uninstalled in Shopify, or the merchant revoked access",
        "Reconnect from the card",
    ),
    Check.TOKEN_VALID: ("Token valid", "Access token expired (rare)", "Reconnect"),
    Check.SCOPES_GRANTED: (
        "All scopes granted",
        "Scopes changed or were trimmed during a re-install",
        "Reconnect and re-approve the full scope set",
    ),
    Check.API_RESPONDING: (
        "API responding",
        "Shopify API outage or rate limit hit",
        "Wait a few minutes, then run a new health check",
    ),
    Check.INITIAL_SYNC_COMPLETE: (
        "Initial sync complete",
        "The initial sync failed or never ran",
        "Open sync settings and run the initial sync",
    ),
    Check.RECORDS_MATCH: (
        "Records match Shopify",
        "Records changed in Shopify without reaching shopsync (missed webhooks)",
        "Run a full re-sync of that entity",
    ),
}

LIVE_CHECKS: tuple[Check, ...] = (
    Check.OAUTH_CONNECTED,
    Check.TOKEN_VALID,
    Check.SCOPES_GRANTED,
    Check.API_RESPONDING,
)

RECORDS_MISMATCH = "Records do not match Shopify"
COUNTS_NOT_CHECKED_INITIAL = "Not checked: initial sync not complete"


def count_text(entity: Entity, here: int, shopify: int) -> str:
    """One entity's numbers, as every surface shows them: "Customers: 250 here, 248 in Shopify"."""
    return f"{entity.label}: {here:,} here, {shopify:,} in Shopify"


def records_mismatch_of(
    readiness: dict | None, categories: dict[Category, bool]
) -> tuple[tuple[Entity, str], ...]:
    """The enabled entities the stored count check found not matching, in entity order.

    The check stores them in its readiness item: `{"ok": False, "detail": …, "entities":
    {"customers": "Customers: 250 here, 248 in Shopify"}}`; an entity switched off since is no
    longer a mismatch (its records are not synced)."""
    item = (readiness or {}).get(Check.RECORDS_MATCH.value)
    entities = item.get("entities") if isinstance(item, dict) else None
    if not isinstance(entities, dict):
        return ()
    return tuple(
        (entity, str(entities[entity.value])) for entity in ENTITY_ORDER
        if entity.value in entities and categories.get(ENTITY_CATEGORY[entity], True)
    )


HEALTH_COMPLETED = "Health check completed"
HEALTH_FAILED = "Health check failed"
SYNC_RERUN_STARTED = "Sync rerun started"
DISCONNECT_CONFIRM = "Are you sure you want to disconnect? You can reconnect later."
CHECKING = "Checking…"


@dataclass(frozen=True, slots=True)
class StatusFacts:
    """Everything the status depends on; nothing else may influence it."""

    paused: bool
    needs_reauth: bool
    reauth_reason: str | None
    missing_scopes: tuple[str, ...]
    health_failing: bool
    health_detail: str | None
    entity_states: tuple[tuple[Entity, EntityState, str | None], ...]
    # Enabled entities whose last full sync failed and no full sync has succeeded since.
    full_sync_failed: tuple[tuple[Entity, datetime], ...] = ()
    # Enabled entities whose last count check found local records not matching Shopify's count
    # beyond the tolerance (engine.sync.counts), each with its count_text.
    records_mismatch: tuple[tuple[Entity, str], ...] = ()


def full_sync_failed_text(entity: Entity, at: datetime) -> str:
    """The marker's words (status detail, Details, Troubleshoot): product.md's Error cause."""
    return (f"{entity.label}: last full sync failed at {at:%Y-%m-%d %H:%M} UTC; "
            "incremental syncs continue; run Retry")


def entity_failing(state: EntityState, error: str | None) -> bool:
    """Failed, or a retry of a failed sync queued or running: Error clears only when the sync
    that failed succeeds, not when it is queued again."""
    return state is EntityState.FAILED or (
        error is not None and state in (EntityState.PENDING, EntityState.SYNCING))


def derive_status(facts: StatusFacts) -> tuple[Status, str | None]:
    """The store's status and a one-line reason (None when Connected).

    Precedence: an operator's pause wins; then anything only a fresh grant fixes; then failures.
    Error clears by itself once its cause is gone: a passing health check or a successful sync
    clears `health_failing`; a successful run of the failed entity clears its error (queueing a
    retry does not); a failed full sync clears only when a full sync of that entity succeeds;
    records not matching Shopify clear when a count check finds them matching again (one runs
    after every successful full sync).
    """
    if facts.paused:
        return Status.DISCONNECTED, "Paused by the operator"
    if facts.needs_reauth:
        return Status.RECONNECT_REQUIRED, facts.reauth_reason or "The grant is no longer valid"
    if facts.missing_scopes:
        return Status.RECONNECT_REQUIRED, "Missing scopes: " + ", ".join(facts.missing_scopes)
    failed = [(e, err) for e, state, err in facts.entity_states if entity_failing(state, err)]
    if failed:
        entity, error = failed[0]
        more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
        return Status.ERROR, f"{entity.label} sync failed{more}: {error or 'unknown error'}"
    if facts.full_sync_failed:
        entity, at = facts.full_sync_failed[0]
        return Status.ERROR, full_sync_failed_text(entity, at)
    if facts.health_failing:
        return Status.ERROR, facts.health_detail or HEALTH_FAILED
    if facts.records_mismatch:
        return Status.ERROR, f"{RECORDS_MISMATCH}: " + "; ".join(
            text for _entity, text in facts.records_mismatch)
    return Status.CONNECTED, None
