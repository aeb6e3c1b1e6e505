"""The operator actions: the one API the TUI and the CLI call.

Every function takes plain values (store ids, entity and category names), validates them,
writes durable state (a Job row, a flag) and returns at once; job-backed actions return the
JobView to wait on. Errors are engine.domain.errors: ActionError (str is the operator-facing
reason), InvalidInput (bad input, nothing written) and NotAllowed (wrong state for this action).

`use_runtime(runtime)` binds the process's Runtime once; every entry point calls it after
`open_runtime()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime

from engine.config import SIMULATOR_APP_KEY
from engine.domain.bulk import BulkListing, BulkOperationView, full_id, short_id
from engine.domain.errors import ActionError, InvalidInput, NotAllowed
from engine.domain.jobs import JobKind
from engine.domain.policy import Action, facts_of, store_blocked, why_not
from engine.domain.status import (
    SYNC_RERUN_STARTED,
    Category,
    Entity,
    EntityState,
    enabled_entities,
    records_mismatch_of,
)
from engine.domain.views import JobView, StoreDetail, StoreSummary
from engine.domain.webhook_health import TopicHealth
from engine.jobs.queue import cancel_store_jobs, enqueue, job_view, runner_alive, wait_for_job
from engine.jobs.runner import Runner
from engine.lifecycle import connect as _connect
from engine.lifecycle import oauth_listener
from engine.lifecycle.connect import OAuthStart
from engine.lifecycle.diagnosis import Finding, active_sync_entities, diagnose
from engine.lifecycle.oauth_listener import stop_listener
from engine.lifecycle.subscriptions import needed_topics, slash_topic
from engine.persistence.database import database_fault, write_transaction
from engine.persistence.facts import store_facts
from engine.persistence.models import EntitySync, Store, utcnow
from engine.persistence.reads import (
    StoreNotFound,
    categories_of,
    find_store,
    store_detail,
    store_summary,
)
from engine.persistence.records import record_event, refresh_status, set_origin
from engine.persistence.runtime import Runtime
from engine.persistence.webhook_health import webhook_health as _webhook_health
from engine.registry import make_runner
from engine.shopify.errors import ShopifyError
from engine.sync import bulk_operations as _bulk
from engine.sync.counts import drop_disabled

__all__ = [
    "Action",
    "ActionError",
    "Finding",
    "InvalidInput",
    "NotAllowed",
    "OAuthStart",
    "Runner",
    "active_sync_entities",
    "begin_connect",
    "begin_reconnect",
    "bulk_operations",
    "can",
    "cancel_bulk_operation",
    "check_health",
    "complete_oauth",
    "connect_token",
    "database_fault",
    "delete",
    "diagnose",
    "disconnect",
    "ensure_listener",
    "ensure_runner",
    "oauth_status",
    "reconnect",
    "reconnect_token",
    "register_webhooks",
    "resync",
    "retry",
    "retry_failed",
    "runner_alive",
    "set_origin",
    "simulate_approval",
    "simulator_approval_available",
    "start_initial_sync",
    "start_runner",
    "stop_listener",
    "update_settings",
    "use_runtime",
    "wait_for_job",
    "wait_for_oauth",
    "webhook_health",
    "why_cannot",
]

_runtime: Runtime | None = None


def use_runtime(runtime: Runtime) -> None:
    global _runtime
    _runtime = runtime


def _rt() -> Runtime:
    if _runtime is None:
        raise RuntimeError("engine.actions.use_runtime(runtime) was not called")
    return _runtime


def ensure_listener() -> bool:
    """Listen for OAuth callbacks in this process unless `serve` (or a listener) has the port."""
    return oauth_listener.ensure_listener(_rt(), complete_oauth)


def start_runner(kind: str = "embedded") -> Runner:
    """Start a job runner for every job kind in a background thread of this process."""
    return make_runner(_rt(), kind=kind).start_thread()


def ensure_runner(kind: str, *, unless: str | None = None) -> Runner | None:
    """Make sure some runner works the queue: returns the one started here, or None when one
    already beats (of kind `unless`; None: any kind, `serve`, a worker or a dashboard's)."""
    return None if runner_alive(unless) else start_runner(kind)


def _store(store_id: int) -> Store:
    store = Store.get_or_none(Store.id == store_id)
    if store is None:
        raise InvalidInput(f"No store with id {store_id}")
    if store.deleting:
        raise NotAllowed(f"{store.name or store.domain} is being deleted")
    return store


def _label(store: Store) -> str:
    return store.name or store.domain


def _require(action: Action, store: Store, entity: Entity | None = None) -> None:
    """Refuse with the policy's reason (the same words the UI shows) when `action` may not run."""
    reason = why_not(action, store_facts(store), entity)
    if reason is not None:
        raise NotAllowed(reason)


def _entity(name: str) -> Entity:
    try:
        return Entity(name.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"Unknown entity {name!r}; use one of: {', '.join(e.value for e in Entity)}"
        ) from None


def _category(name: Category | str) -> Category:
    try:
        return Category(name.strip().lower() if isinstance(name, str) else name)
    except ValueError:
        raise InvalidInput(
            f"Unknown category {name!r}; use one of: {', '.join(c.value for c in Category)}"
        ) from None


# -- connect and reconnect ----------------------------------------------------------------------

def connect_token(domain: str, token: str, *, start_sync: bool = False) -> StoreSummary:
    """Connect a store with an access token (legacy custom apps, or a pasted admin token)."""
    checked = _connect.valid_new_domain(domain)
    store = _connect.connect_token(_rt(), checked, token)
    if start_sync:
        _queue_full_sync(store)
    return store_summary(store.id)


def begin_connect(domain: str) -> OAuthStart:
    """Start OAuth for a new store: returns the authorize URL the merchant must open."""
    return _connect.begin_oauth(_rt(), _connect.valid_new_domain(domain), "connect")


def begin_reconnect(store_id: int) -> OAuthStart:
    store = _store(store_id)
    return _connect.begin_oauth(_rt(), store.domain, "reconnect")


def oauth_status(state: str) -> str | None:
    """None while the merchant has not approved yet, "ok" when connected, else the error."""
    return _connect.oauth_status(state)


OAUTH_TIMED_OUT = "Timed out waiting for the approval on Shopify"


def wait_for_oauth(
    start: OAuthStart,
    *,
    timeout: float | None = None,
    interval: float = 0.5,
    on_tick: Callable[[str | None], None] | None = None,
) -> StoreSummary:
    """Block until the merchant approved `start`: the store's summary. An approval that failed
    (declined, expired, a bad callback) raises ActionError with the reason; so does `timeout`
    (OAUTH_TIMED_OUT). A database that cannot be read is retried: `on_tick(problem)` is called
    on every poll with the reason, or None while all is well; it may raise to stop waiting."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        problem: str | None = None
        try:
            state = oauth_status(start.state)
            if state == "ok":
                return store_summary(find_store(start.domain).id)
        except Exception as error:  # locked or briefly unreadable: keep waiting, say why
            state, problem = None, f"{type(error).__name__}: {error}"
        if state is not None:
            raise ActionError(state)
        if on_tick is not None:
            on_tick(problem)
        if deadline is not None and time.monotonic() >= deadline:
            raise ActionError(OAUTH_TIMED_OUT)
        time.sleep(interval)


def complete_oauth(params: Mapping[str, str]) -> StoreSummary:
    """Handle the OAuth callback's query parameters (called by `serve` or the listener)."""
    store = _connect.complete_oauth(_rt(), params)
    return store_summary(store.id)


def simulator_approval_available() -> bool:
    """Whether the configured app is the bundled simulator's demo app (which can approve)."""
    return _rt().settings.api_key == SIMULATOR_APP_KEY


def simulate_approval(start: OAuthStart) -> StoreSummary:
    """Against the bundled simulator only: approve as the merchant, then complete the callback."""
    return complete_oauth(_connect.simulate_approval(start))


def reconnect_token(store_id: int, token: str) -> StoreSummary:
    store = _store(store_id)
    _require(Action.RECONNECT, store)
    _connect.connect_token(_rt(), store.domain, token)
    return store_summary(store.id)


def reconnect(store_id: int) -> StoreSummary | OAuthStart:
    """Resume a store. A paused store whose grant still works resumes at once; anything that
    needs a fresh grant returns the OAuth start to complete (or use reconnect_token)."""
    store = _store(store_id)
    _require(Action.RECONNECT, store)
    if store.paused and not store.needs_reauth:
        Store.update(paused=False, updated_at=utcnow()).where(Store.id == store.id).execute()
        record_event(store, "action", "Reconnected: syncs and webhooks resume")
        refresh_status(store.id)
        enqueue(JobKind.HEALTH, store)
        enqueue(JobKind.WEBHOOKS, store)
        return store_summary(store.id)
    if store.auth_method == "token":
        raise NotAllowed(
            f"{_label(store)} was connected with an access token; reconnect with a new token"
        )
    return begin_reconnect(store_id)


# -- health and syncs ---------------------------------------------------------------------------

def check_health(store_id: int) -> JobView:
    store = _store(store_id)
    record_event(store, "action", "Health check requested")
    return job_view(enqueue(JobKind.HEALTH, store))


def _queue_sync(store: Store, entity: Entity, mode: str = "full") -> JobView:
    job = enqueue(JobKind.SYNC, store, entity=entity.value, params={"mode": mode})
    EntitySync.update(state=EntityState.PENDING.value, updated_at=utcnow()).where(
        (EntitySync.store == store.id) & (EntitySync.entity == entity.value)
        & (EntitySync.state != EntityState.SYNCING.value)
    ).execute()
    return job_view(job)


def _queue_full_sync(store: Store) -> list[JobView]:
    # One write transaction for every entity's job and Pending mark (as the scheduler queues
    # a store's syncs): all of them or none, one commit instead of two per entity.
    with write_transaction():
        return [_queue_sync(store, e) for e in enabled_entities(categories_of(store))]


def retry(store_id: int, entity: str) -> JobView:
    """Re-run one entity's sync; the other entities are untouched."""
    store = _store(store_id)
    target = _entity(entity)
    _require(Action.RETRY, store, target)
    record_event(store, "action", f"Retry {target.label}")
    view = _queue_sync(store, target)
    refresh_status(store.id)
    return view


def retry_failed(store_id: int) -> list[JobView]:
    """Retry every Failed entity, every entity whose last full sync failed, and every entity
    whose records do not match Shopify (its full sync repairs them)."""
    store = _store(store_id)
    _require(Action.RETRY, store)
    summary = store_summary(store_id)
    drifted = {entity for entity, _text in records_mismatch_of(store.readiness,
                                                               categories_of(store))}
    failed = [row.entity for row in summary.entities
              if row.state is EntityState.FAILED or row.full_sync_failed
              or row.entity in drifted]
    return [retry(store_id, entity.value) for entity in failed]


def resync(store_id: int) -> list[JobView]:
    """Full re-sync of every enabled entity, in order; safe to repeat (records match by id)."""
    store = _store(store_id)
    _require(Action.RESYNC, store)
    views = _queue_full_sync(store)
    record_event(store, "action", SYNC_RERUN_STARTED)
    refresh_status(store.id)
    return views


def start_initial_sync(store_id: int) -> list[JobView]:
    return resync(store_id)


def register_webhooks(store_id: int) -> JobView:
    """Create any missing webhook subscriptions at Shopify (a Troubleshoot fix)."""
    store = _store(store_id)
    _require(Action.REGISTER_WEBHOOKS, store)
    record_event(store, "action", "Webhook subscriptions check requested")
    return job_view(enqueue(JobKind.WEBHOOKS, store))


# -- webhook health ------------------------------------------------------------------------------

def webhook_health(store_id: int, now: datetime | None = None) -> tuple[TopicHealth, ...]:
    """Per topic: subscribed (and where), last delivery, deliveries, duplicates and rejections
    in the last 24 h, and the delivery lag (engine.persistence.webhook_health)."""
    store = Store.get_or_none(Store.id == store_id)
    if store is None:
        raise InvalidInput(f"No store with id {store_id}")
    topics = [slash_topic(t) for t in needed_topics(store)]
    return _webhook_health(store, topics, now)


# -- bulk operations (the control room) ---------------------------------------------------------

def bulk_operations(store_id: int) -> BulkListing:
    """The store's recent Shopify bulk operations, ours and someone else's (asks Shopify)."""
    store = _store(store_id)
    _require(Action.BULK_OPERATIONS, store)
    try:
        return _bulk.list_operations(_rt(), store)
    except ShopifyError as error:
        raise ActionError(f"Shopify did not list the bulk operations: {error.detail}") from None


def cancel_bulk_operation(store_id: int, operation: str) -> BulkOperationView:
    """Cancel one of the store's bulk operations (by its number or gid); returns it afterwards.

    Cancelling ours fails the sync that is waiting on it; the confirmation says so.
    """
    store = _store(store_id)
    _require(Action.BULK_OPERATIONS, store)
    operation_id = full_id(operation)
    if operation_id is None:
        raise InvalidInput(
            f"{operation!r} is not a bulk operation id (a number like 4142422163001, or "
            "gid://shopify/BulkOperation/…)"
        )
    try:
        outcome = _bulk.cancel_operation(_rt(), store, operation_id)
        listing = _bulk.list_operations(_rt(), store)
    except ShopifyError as error:
        raise ActionError(f"Shopify did not cancel {short_id(operation_id)}: {error.detail}") \
            from None
    if outcome.status is None:
        raise InvalidInput(f"{_label(store)} has no bulk operation {short_id(operation_id)}"
                           + (f": {outcome.refusal}" if outcome.refusal else ""))
    if outcome.refusal:
        raise NotAllowed(f"Shopify refused to cancel {short_id(operation_id)}: {outcome.refusal}")
    view = next((op for op in listing.operations if op.id == operation_id), None)
    owner = "ours" if view is not None and view.ours else "someone else's"
    record_event(store, "action", f"Cancelled bulk operation {short_id(operation_id)} "
                 f"({owner}): now {outcome.status.lower()}",
                 data={"bulk_operation_id": operation_id, "status": outcome.status})
    if view is None:
        raise ActionError(f"Bulk operation {short_id(operation_id)} is {outcome.status.lower()} "
                          "but no longer listed")
    return view


# -- lifecycle ----------------------------------------------------------------------------------

def disconnect(store_id: int) -> StoreSummary:
    """Pause: data kept, no syncs, webhooks ignored. Reconnect resumes."""
    store = _store(store_id)
    _require(Action.DISCONNECT, store)
    with write_transaction():
        Store.update(paused=True, updated_at=utcnow()).where(Store.id == store.id).execute()
        cancelled = cancel_store_jobs(store.id)
        record_event(store, "action", "Disconnected: data kept, syncs and webhooks paused"
                     + (f" ({cancelled} queued jobs cancelled)" if cancelled else ""))
    refresh_status(store.id)
    return store_summary(store.id)


def delete(store_id: int) -> JobView:
    """Revoke the grant, delete the store's records in batches, then the store itself."""
    store = _store(store_id)
    with write_transaction():
        Store.update(deleting=True, updated_at=utcnow()).where(Store.id == store.id).execute()
        cancel_store_jobs(store.id)
        record_event(store, "action", "Delete started: revoking the grant and removing records")
    return job_view(enqueue(JobKind.DELETE, store))


def update_settings(store_id: int, changes: Mapping[Category | str, bool]) -> StoreDetail:
    """Turn data categories on or off. An entity whose category is off shows Off and is not
    synced, and its scope is no longer required."""
    store = _store(store_id)
    parsed = {_category(name): bool(on) for name, on in changes.items()}
    before = categories_of(store)
    changed = {c: on for c, on in parsed.items() if before[c] != on}
    if changed:
        Store.update(
            **{f"cat_{c.value}": on for c, on in changed.items()}, updated_at=utcnow()
        ).where(Store.id == store.id).execute()
        record_event(store, "action", "Sync settings: " + ", ".join(
            f"{c.label} {'on' if on else 'off'}" for c, on in changed.items()))
        if any(not on for on in changed.values()):
            cancel_store_jobs(store.id, kinds=(JobKind.SYNC,))
        store = Store.get_by_id(store.id)
        # A category turned back on after the initial sync catches up by itself.
        if store.initial_sync_completed_at and store_blocked(store_facts(store)) is None:
            now_on = {e for e in enabled_entities(categories_of(store))}
            was_on = set(enabled_entities(before))
            for entity in sorted(now_on - was_on, key=list(Entity).index):
                _queue_sync(store, entity)
        drop_disabled(store.id)  # an entity switched off is no longer a mismatch
        refresh_status(store.id)
    return store_detail(store.id)


# -- what can run now ---------------------------------------------------------------------------

def why_cannot(store: StoreSummary, action: Action | str, entity: str | None = None) -> str | None:
    """Why `action` cannot run for the store now (the policy's words), or None when it can."""
    try:
        target = Entity(entity) if entity else None
        return why_not(action, facts_of(store), target)
    except ValueError as error:
        raise InvalidInput(str(error)) from None


def can(store: StoreSummary, action: Action | str, entity: str | None = None) -> bool:
    """Whether `action` can run for the store now (the UI dims what cannot)."""
    return why_cannot(store, action, entity) is None


def find(text: str) -> StoreSummary:
    """The store named by a full domain or bare store name (CLI's STORE argument)."""
    from engine.persistence.reads import find_store

    try:
        return store_summary(find_store(text).id)
    except StoreNotFound as error:
        raise InvalidInput(str(error)) from None
