"""The documented diagnosis tree (reference/product.md §10), run over the whole fleet.

`diagnose()` reads every store from the database and returns its findings: what is wrong, the
likely cause, the documented fix and the engine.actions action (and console key) that applies
it. The rules, checked per store in this order:

- Disconnected → reconnect (nothing else is reported for a paused store: no syncs run and
  webhooks are ignored while it is paused).
- Reconnect required (grant revoked, app uninstalled, token unrecoverable) → reconnect.
- Missing scopes (required by the enabled categories, not granted) → reconnect.
- An entity in Syncing whose progress has not moved for STUCK_AFTER (15 minutes; measured from
  EntitySync.progress_at, or started_at before any progress) → resync, which restarts the bulk
  import. A younger Syncing entity is not a problem: the documented advice is to wait.
- A Failed entity → retry that entity (then check health, then a full re-sync); except one
  that failed because other bulk operations fill the shop's limit: one finding per store,
  "Other bulk operations fill this store's limit (ids, since …)", whose key (b) opens the
  store's bulk operations to cancel them (engine.domain.bulk).
- Records not matching Shopify (the count check, engine.sync.counts) → per entity "Records do
  not match Shopify: Customers: 250 here, 248 in Shopify", fixed by a full re-sync of that
  entity (Retry of that entity, key r), unless a finding above already retries that entity.
- A failed readiness item → its fix from engine.domain.status.CHECK_TEXT (OAuth, token and scopes →
  reconnect; API responding → check health; initial sync → sync settings), unless a finding
  above already carries the same action for the store.
- No webhooks while Connected, as engine.lifecycle.subscriptions.webhook_problem defines it: none
  registered
  (webhooks_registered_at is None) or needed topics missing → a warning whose fix is keeping
  `shopsync serve` running (its scheduler re-registers subscriptions) and a Re-sync to catch up;
  or registered but silent — no delivery (or, if none ever arrived, no registration) for
  livedata.SILENT_AFTER (24 h) while the store holds records → Re-sync to reconcile. A quiet
  store can legitimately be silent, so that one is only informational. Skipped when a
  reconnect is already suggested (a fresh grant registers the subscriptions again).
- A subscribed entity's webhooks silent while its records changed in Shopify (issue 13): no
  delivery of any of the entity's topics in the last 24 h (SILENT_AFTER), though Shopify's count
  of that entity moved between the last two count checks (both within those 24 h; engine.sync.
  counts keeps the previous count) → a warning whose fix registers the subscriptions again, then
  a full re-sync of that entity. Skipped when a reconnect is already suggested.
- Data categories switched off → sync settings (informational: that data is not synced).

Stores being deleted are skipped. Findings come grouped by store (by name), worst first.

`active_sync_entities(store_id)` tells a queued Pending entity from one that never ran (the
Sync settings drawer and the store screen use it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from peewee import fn

from engine.domain.bulk import is_slots_taken
from engine.domain.coerce import naive_utc
from engine.domain.jobs import ACTIVE, JobKind
from engine.domain.policy import Action
from engine.domain.status import (
    ENTITY_CATEGORY,
    RECORDS_MISMATCH,
    Category,
    Check,
    Entity,
    EntityState,
    records_mismatch_of,
)
from engine.domain.views import EntityRow, StoreSummary
from engine.domain.webhook_health import SUBSCRIPTIONS_CHECKED
from engine.lifecycle.subscriptions import (
    ENTITY_WEBHOOK_TOPICS,
    SILENT_AFTER,
    registered_topics,
    webhook_problem,
)
from engine.persistence.models import EntitySync, Event, Job, Store, WebhookReceipt, utcnow
from engine.persistence.reads import (
    categories_of,
    list_stores,
    missing_scopes_of,
)

STUCK_AFTER = timedelta(minutes=15)

SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}

_CHECK_ACTIONS: dict[Check, str] = {
    Check.OAUTH_CONNECTED: "reconnect",
    Check.TOKEN_VALID: "reconnect",
    Check.SCOPES_GRANTED: "reconnect",
    Check.API_RESPONDING: "check_health",
    Check.INITIAL_SYNC_COMPLETE: "settings",
    Check.RECORDS_MATCH: "retry",  # per entity, by _count_findings
}

STUCK_CAUSE = "A large dataset, a slow Shopify API or rate limiting, or network trouble"
STUCK_FIX = "Run Re-sync, which restarts the bulk import"
FAILED_FIX = (
    "Retry that entity; if it fails again, check health; if health passes, run a full Re-sync"
)
RECONNECT_FIX = "Reconnect and re-approve; settings, list and history are kept"
SLOTS_CAUSE = (
    "Shopify runs only a few bulk exports per shop at once (five on 2026-07) and operations "
    "this engine did not start hold every slot, so {entities} cannot start"
)
SLOTS_FIX = (
    "Open the store's bulk operations, cancel the ones nobody needs (or wait for them), "
    "then retry the blocked sync"
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected problem of one store, with its documented fix and the action that runs it."""

    store_id: int
    domain: str
    name: str
    severity: str  # error | warning | info
    problem: str
    cause: str
    fix: str
    action: str  # an engine.actions action name
    key: str  # the console key that runs `action`
    entity: str | None = None  # for "retry": the entity to retry


def _finding(
    summary: StoreSummary, severity: str, problem: str, cause: str, fix: str, action: str,
    entity: str | None = None,
) -> Finding:
    return Finding(
        store_id=summary.id,
        domain=summary.domain,
        name=summary.name,
        severity=severity,
        problem=problem,
        cause=cause,
        fix=fix,
        action=action,
        key=Action(action).key,
        entity=entity,
    )


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h"


def store_findings(summary: StoreSummary, store: Store, now: datetime,
                   elsewhere: Sequence[str] = (),
                   silent: Sequence[SilentChange] = ()) -> list[Finding]:
    """Every finding for one store (see the module docstring for the rules)."""
    if summary.deleting:
        return []
    if summary.paused:
        return [_finding(
            summary, "info", "Disconnected: syncs and webhooks are paused",
            "Paused by the operator", "Reconnect when ready", "reconnect",
        )]
    found: list[Finding] = []
    if store.needs_reauth:
        found.append(_finding(
            summary, "error", "Reconnect required",
            store.reauth_reason or "The grant is no longer valid", RECONNECT_FIX, "reconnect",
        ))
    missing = missing_scopes_of(store)
    if missing:
        found.append(_finding(
            summary, "error", "Missing scopes: " + ", ".join(missing),
            Check.SCOPES_GRANTED.cause, Check.SCOPES_GRANTED.fix, "reconnect",
        ))
    blocked: list[EntityRow] = []
    for row in summary.entities:
        if row.state is EntityState.SYNCING:
            since = row.progress_at or row.started_at
            if since is not None and now - since >= STUCK_AFTER:
                idle = _minutes(now - since)
                found.append(_finding(
                    summary, "warning",
                    f"{row.entity.label} stuck in Syncing (no progress for {idle})",
                    STUCK_CAUSE, STUCK_FIX, "resync", row.entity.value,
                ))
        elif row.state is EntityState.FAILED and is_slots_taken(row.error):
            blocked.append(row)
        elif row.full_sync_failed and row.state is not EntityState.FAILED:
            found.append(_finding(
                summary, "error", row.full_sync_failed,
                "The last full sync failed; incremental syncs bring only recent changes, so "
                "records deleted or missed in Shopify are not repaired until a full sync runs",
                FAILED_FIX, "retry", row.entity.value,
            ))
        elif row.state is EntityState.FAILED:
            found.append(_finding(
                summary, "error", f"{row.entity.label} sync failed",
                row.error or "The sync hit an error", FAILED_FIX, "retry", row.entity.value,
            ))
    if blocked:
        entities = ", ".join(row.entity.label for row in blocked)
        found.append(_finding(
            summary, "error", blocked[0].error or "", SLOTS_CAUSE.format(entities=entities),
            SLOTS_FIX, "bulk_operations", blocked[0].entity.value,
        ))
    found.extend(_count_findings(summary, store, found))
    actions = {f.action for f in found}
    for item in summary.readiness:
        if item.check is Check.RECORDS_MATCH:
            continue  # one finding per entity, above
        action = _CHECK_ACTIONS[item.check]
        if item.ok is False and action not in actions:
            extra = item.detail if item.detail and item.detail != item.check.cause else None
            cause = item.check.cause + (f" ({extra})" if extra else "")
            found.append(_finding(
                summary, "error", f"Readiness failed: {item.check.label}",
                cause, item.check.fix, action,
            ))
            actions.add(action)
    found.extend(_webhook_findings(summary, store, now, actions))
    if "reconnect" not in actions:
        found.extend(_silent_findings(summary, silent))
    if elsewhere and not summary.paused:
        found.append(_finding(
            summary, "warning",
            "Webhooks also registered at " + ", ".join(elsewhere),
            "Another installation of the app (or an old address of this one) has subscriptions "
            "for this store, so it receives deliveries meant for this engine",
            "Stop the other installation or delete its subscriptions (Shopify admin or the "
            "Admin API); if that address is this engine's, set SHOPSYNC_PUBLIC_URL to it",
            "details",
        ))
    off = [c for c, on in categories_of(store).items() if not on]
    if off:
        unsynced = [e.label for e, c in ENTITY_CATEGORY.items() if c in off]
        consent = [c.label for c in off if c in (Category.EMAIL_CONSENT, Category.SMS_CONSENT)]
        what = ", ".join(unsynced + consent)
        found.append(_finding(
            summary, "info", "Categories off: " + ", ".join(c.label for c in off),
            f"Not synced while off: {what}",
            "Turn the category on in sync settings if you need that data, then Re-sync",
            "settings",
        ))
    return found


COUNT_FIX = "Run a full re-sync of that entity (Retry {entity}): it repairs what webhooks missed"


def _count_findings(summary: StoreSummary, store: Store, found: list[Finding]) -> list[Finding]:
    """Per entity whose records do not match Shopify's count, its full re-sync (Retry)."""
    retried = {f.entity for f in found if f.action in ("retry", "resync")}
    return [
        _finding(summary, "error", f"{RECORDS_MISMATCH}: {text}", Check.RECORDS_MATCH.cause,
                 COUNT_FIX.format(entity=entity.label), "retry", entity.value)
        for entity, text in records_mismatch_of(store.readiness, categories_of(store))
        if entity.value not in retried
    ]


def _webhook_findings(
    summary: StoreSummary, store: Store, now: datetime, actions: set[str]
) -> list[Finding]:
    if "reconnect" in actions:  # a fresh grant comes first; it re-registers the subscriptions
        return []
    problem = webhook_problem(store, now=now)
    if problem is None:
        return []
    if problem.startswith("No webhooks received"):
        if summary.records_total == 0:
            return []
        return [_finding(
            summary, "info", problem,
            "The store may simply be quiet, or deliveries are failing at Shopify "
            "(see Settings → Notifications → Webhooks there)",
            "If Shopify shows deliveries that are missing here, run a Re-sync to reconcile",
            "resync",
        )]
    return [_finding(
        summary, "warning", problem,
        "Subscriptions were never registered, or Shopify removed them after failed deliveries",
        "Register the missing subscriptions now (`shopsync serve` also re-checks them every "
        "30 minutes); then run a Re-sync to catch up on missed changes",
        "register_webhooks",
    )]


@dataclass(frozen=True, slots=True)
class SilentChange:
    """An entity whose count moved at Shopify while none of its webhooks arrived."""

    entity: Entity
    previous: int
    current: int


SILENT_CAUSE = (
    "Shopify is not delivering {entity} webhooks to this engine: the subscriptions may be "
    "failing at Shopify (it removes them after repeated failed deliveries) or deliveries are "
    "blocked on the way"
)
SILENT_FIX = (
    "Register the webhook subscriptions again, check that Shopify can reach this engine's "
    "public URL, then run a full re-sync of {entity} (Retry {entity}) to catch up"
)


def _silent_findings(summary: StoreSummary, silent: Sequence[SilentChange]) -> list[Finding]:
    return [
        _finding(summary, "warning",
                 f"{change.entity.label} webhooks silent for 24 h while Shopify's count changed "
                 f"({change.previous:,} → {change.current:,})",
                 SILENT_CAUSE.format(entity=change.entity.value),
                 SILENT_FIX.format(entity=change.entity.label),
                 "register_webhooks", change.entity.value)
        for change in silent
    ]


def silent_changes(now: datetime) -> dict[int, list[SilentChange]]:
    """Per store, the subscribed entities whose Shopify count changed between the last two count
    checks (both within SILENT_AFTER) while no delivery of their topics arrived in SILENT_AFTER.

    Three indexed queries for the fleet: the entity rows whose last check saw a change, then the
    recent deliveries and the rows of just those stores."""
    since = now - SILENT_AFTER
    candidates: dict[int, list[tuple[Entity, int, int]]] = {}
    rows = EntitySync.select(EntitySync.store, EntitySync.entity, EntitySync.count_check).where(
        EntitySync.count_moved_at >= since).tuples()  # indexed: only the rows that moved
    for store_id, entity, check in rows.iterator():
        if not isinstance(check, dict):
            continue
        at, before = naive_utc(check.get("at")), naive_utc(check.get("previous_at"))
        previous, current = check.get("previous_shopify"), check.get("shopify")
        if (at is None or before is None or before < since or not isinstance(previous, int)
                or not isinstance(current, int) or entity not in Entity._value2member_map_):
            continue
        candidates.setdefault(store_id, []).append((Entity(entity), previous, current))
    if not candidates:
        return {}
    heard: dict[int, set[str]] = {}
    deliveries = WebhookReceipt.select(WebhookReceipt.store_id, WebhookReceipt.topic).where(
        WebhookReceipt.store_id.in_(list(candidates)) & (WebhookReceipt.received_at >= since)
        & WebhookReceipt.status.not_in(("duplicate", "rejected"))
    ).distinct().tuples()
    for store_id, topic in deliveries.iterator():
        heard.setdefault(store_id, set()).add(str(topic).partition("/")[0])
    stores = {s.id: s for s in Store.select().where(Store.id.in_(list(candidates)))}
    found: dict[int, list[SilentChange]] = {}
    for store_id, changes in candidates.items():
        store = stores.get(store_id)
        if store is None:
            continue
        categories, subscribed = categories_of(store), registered_topics(store)
        for entity, previous, current in changes:
            if (categories[ENTITY_CATEGORY[entity]] and entity.value not in heard.get(store_id, ())
                    and set(ENTITY_WEBHOOK_TOPICS[entity]) <= subscribed):
                found.setdefault(store_id, []).append(SilentChange(entity, previous, current))
    return found


def subscriptions_elsewhere() -> dict[int, list[str]]:
    """Per store, the other URLs its latest subscription check found (one query for the fleet)."""
    latest = (Event.select(fn.MAX(Event.id)).where(
        (Event.kind == "webhook") & Event.message.startswith(SUBSCRIPTIONS_CHECKED)
        & Event.store_id.is_null(False)).group_by(Event.store_id))
    result: dict[int, list[str]] = {}
    for event in Event.select(Event.store_id, Event.data).where(Event.id.in_(latest)):
        data = event.data if isinstance(event.data, dict) else {}
        ours, seen = data.get("uri"), data.get("subscriptions")
        if not isinstance(seen, dict):
            continue
        others = sorted({str(u) for uris in seen.values() if isinstance(uris, list)
                         for u in uris if u != ours})
        if others and event.store_id is not None:
            result[event.store_id] = others
    return result


def active_sync_entities(store_id: int) -> set[str]:
    """Entities of the store with a sync job queued or running (Pending that is really queued,
    as opposed to never started)."""
    query = Job.select(Job.entity).where(
        (Job.store_id == store_id) & (Job.kind == JobKind.SYNC) & Job.state.in_(ACTIVE)
    )
    return {job.entity for job in query if job.entity}


def diagnose(
    now: datetime | None = None, *, summaries: Sequence[StoreSummary] | None = None
) -> list[Finding]:
    """Every store's findings, grouped by store (in list order), worst first within a store.

    `summaries` (from engine.persistence.reads.list_stores) saves reading them again when the caller
    already has them.
    """
    moment = now or utcnow()
    stores = {store.id: store for store in Store.select()}
    elsewhere = subscriptions_elsewhere()
    silent = silent_changes(moment)
    findings: list[Finding] = []
    for summary in list_stores() if summaries is None else summaries:
        store = stores.get(summary.id)
        if store is None:
            continue
        found = store_findings(summary, store, moment, elsewhere.get(summary.id, ()),
                               silent.get(summary.id, ()))
        found.sort(key=lambda f: SEVERITY_RANK.get(f.severity, 9))
        findings.extend(found)
    return findings
