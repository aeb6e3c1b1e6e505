"""engine.lifecycle.diagnosis: the documented diagnosis tree over fixture stores, fixed times."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.domain.status import ENTITY_ORDER, Check
from engine.lifecycle.diagnosis import STUCK_AFTER, Finding, diagnose
from engine.lifecycle.subscriptions import ALL_TOPICS, SILENT_AFTER
from engine.persistence.models import EntitySync, Store
from engine.persistence.records import refresh_status

NOW = datetime(2026, 11, 27, 12, 0, 0)


@pytest.fixture(autouse=True)
def _db(offline_runtime):
    return offline_runtime


def make_store(domain: str, name: str = "", *, states: dict[str, str] | None = None,
               **fields: object) -> Store:
    """A healthy, fully synced store unless `fields`/`states` say otherwise."""
    values: dict[str, object] = {
        "granted_scopes": "read_customers,read_orders,read_products",
        "initial_sync_completed_at": NOW - timedelta(days=2),
        "webhooks_registered_at": NOW - timedelta(days=2),
        "last_webhook_at": NOW - timedelta(minutes=5),
        "last_checked_at": NOW - timedelta(hours=1),
        "webhook_topics": ",".join(ALL_TOPICS),
        "readiness": {c.value: {"ok": True} for c in Check if c is not Check.INITIAL_SYNC_COMPLETE},
    }
    values.update(fields)
    store = Store.create(domain=domain, name=name or domain.split(".")[0], **values)
    for entity in ENTITY_ORDER:
        state = (states or {}).get(entity.value, "synced")
        EntitySync.create(
            store=store.id, entity=entity.value, state=state, records=10,
            last_synced_at=NOW - timedelta(days=1),
            error="Bulk operation failed: INTERNAL_SERVER_ERROR" if state == "failed" else None,
            started_at=NOW - timedelta(minutes=40) if state == "syncing" else None,
            progress_at=NOW - timedelta(minutes=20) if state == "syncing" else None,
        )
    refresh_status(store)
    return store


def problems(findings: list[Finding], store: Store) -> list[tuple[str, str, str]]:
    return [(f.severity, f.problem, f.action) for f in findings if f.store_id == store.id]


def test_clean_fleet_has_no_findings() -> None:
    make_store("healthy-one.myshopify.com")
    make_store("healthy-two.myshopify.com")
    assert diagnose(NOW) == []


def test_empty_fleet_has_no_findings() -> None:
    assert diagnose(NOW) == []


def test_stuck_syncing_after_fifteen_minutes_suggests_resync() -> None:
    store = make_store("stuck-shop.myshopify.com", states={"orders": "syncing"})
    findings = diagnose(NOW)
    assert problems(findings, store) == [
        ("warning", "Orders stuck in Syncing (no progress for 20 min)", "resync")
    ]
    assert findings[0].key == "s"
    assert findings[0].entity == "orders"


def test_syncing_with_recent_progress_is_not_stuck() -> None:
    store = make_store("busy-shop.myshopify.com", states={"orders": "syncing"})
    EntitySync.update(progress_at=NOW - STUCK_AFTER + timedelta(seconds=30)).execute()
    assert problems(diagnose(NOW), store) == []


def test_syncing_without_progress_uses_start_time() -> None:
    store = make_store("slow-start.myshopify.com", states={"products": "syncing"})
    EntitySync.update(progress_at=None).execute()
    assert problems(diagnose(NOW), store) == [
        ("warning", "Products stuck in Syncing (no progress for 40 min)", "resync")
    ]


def test_failed_entity_suggests_retry_of_that_entity() -> None:
    store = make_store("fail-shop.myshopify.com", states={"orders": "failed"})
    [finding] = diagnose(NOW)
    assert (finding.problem, finding.action, finding.entity, finding.key) == (
        "Orders sync failed", "retry", "orders", "r"
    )
    assert finding.cause == "Bulk operation failed: INTERNAL_SERVER_ERROR"
    assert finding.severity == "error"
    assert finding.store_id == store.id


def test_failed_readiness_items_carry_documented_cause_and_fix() -> None:
    readiness = {c.value: {"ok": True} for c in Check}
    readiness[Check.API_RESPONDING.value] = {"ok": False, "detail": "HTTP 503"}
    store = make_store("api-down.myshopify.com", readiness=readiness, health_failing=True)
    [finding] = diagnose(NOW)
    assert finding.store_id == store.id
    assert finding.problem == "Readiness failed: API responding"
    assert finding.cause == "Shopify API outage or rate limit hit (HTTP 503)"
    assert finding.fix == "Wait a few minutes, then run a new health check"
    assert (finding.action, finding.key) == ("check_health", "c")


def test_initial_sync_incomplete_points_at_settings() -> None:
    readiness = {c.value: {"ok": True} for c in Check}
    readiness[Check.INITIAL_SYNC_COMPLETE.value] = {"ok": False}  # as a health check records
    make_store("never-synced.myshopify.com", initial_sync_completed_at=None,
               states={e.value: "pending" for e in ENTITY_ORDER}, readiness=readiness)
    [finding] = diagnose(NOW)
    assert finding.problem == "Readiness failed: Initial sync complete"
    assert (finding.action, finding.key) == ("settings", "e")


def test_reconnect_required_and_missing_scopes_do_not_repeat_readiness() -> None:
    readiness = {c.value: {"ok": True} for c in Check}
    readiness[Check.OAUTH_CONNECTED.value] = {"ok": False}
    readiness[Check.SCOPES_GRANTED.value] = {"ok": False}
    store = make_store(
        "revoked-shop.myshopify.com", needs_reauth=True, reauth_reason="App uninstalled",
        granted_scopes="read_customers,read_products", readiness=readiness,
    )
    assert problems(diagnose(NOW), store) == [
        ("error", "Reconnect required", "reconnect"),
        ("error", "Missing scopes: read_orders", "reconnect"),
    ]


def test_disconnected_store_reports_only_the_pause() -> None:
    store = make_store("paused-shop.myshopify.com", paused=True, states={"orders": "failed"})
    assert problems(diagnose(NOW), store) == [
        ("info", "Disconnected: syncs and webhooks are paused", "reconnect")
    ]


def test_no_webhooks_registered_while_connected() -> None:
    store = make_store("no-hooks.myshopify.com", webhooks_registered_at=None,
                       last_webhook_at=None, webhook_topics="")
    [finding] = diagnose(NOW)
    assert (finding.store_id, finding.severity) == (store.id, "warning")
    assert finding.action == "register_webhooks"
    assert finding.problem == "Webhooks not registered: changes arrive only with scheduled syncs"
    assert "shopsync serve" in finding.fix


def test_missing_webhook_topics_are_named() -> None:
    topics = [t for t in ALL_TOPICS if not t.startswith("ORDERS_")]
    make_store("some-hooks.myshopify.com", webhook_topics=",".join(topics))
    [finding] = diagnose(NOW)
    assert finding.problem == (
        "Webhook subscriptions missing: orders/create, orders/updated, orders/delete"
    )


def test_silent_webhooks_after_threshold_suggest_resync() -> None:
    store = make_store("quiet-shop.myshopify.com",
                       last_webhook_at=NOW - SILENT_AFTER - timedelta(hours=2))
    assert problems(diagnose(NOW), store) == [
        ("info", "No webhooks received for 26 h while Connected", "resync")
    ]


def test_never_received_webhook_counts_from_registration() -> None:
    store = make_store("fresh-hooks.myshopify.com", last_webhook_at=None,
                       webhooks_registered_at=NOW - timedelta(hours=3))
    assert problems(diagnose(NOW), store) == []
    later = NOW + SILENT_AFTER
    assert problems(diagnose(later), store) == [
        ("info", "No webhooks received for 27 h while Connected", "resync")
    ]


def test_webhooks_not_reported_when_reconnect_is_suggested() -> None:
    store = make_store("revoked-hooks.myshopify.com", needs_reauth=True,
                       reauth_reason="Token revoked", webhooks_registered_at=None,
                       webhook_topics="")
    assert problems(diagnose(NOW), store) == [("error", "Reconnect required", "reconnect")]


def test_categories_off_are_reported_with_their_labels() -> None:
    store = make_store("orders-off.myshopify.com", cat_orders=False, cat_sms_consent=False)
    [finding] = diagnose(NOW)
    assert finding.store_id == store.id
    assert finding.problem == "Categories off: SMS marketing consent, Orders, checkouts, and carts"
    assert finding.cause == "Not synced while off: Orders, SMS marketing consent"
    assert (finding.action, finding.key, finding.severity) == ("settings", "e", "info")


def test_deleting_store_is_skipped() -> None:
    make_store("going-away.myshopify.com", deleting=True, states={"orders": "failed"})
    assert diagnose(NOW) == []


def test_findings_grouped_by_store_worst_first() -> None:
    a = make_store("alpha-shop.myshopify.com", "Alpha", cat_catalogue=False,
                   states={"customers": "failed"})
    b = make_store("bravo-shop.myshopify.com", "Bravo", states={"orders": "syncing"})
    findings = diagnose(NOW)
    assert [(f.store_id, f.severity) for f in findings] == [
        (a.id, "error"), (a.id, "info"), (b.id, "warning")
    ]
    assert [(f.action, f.key) for f in findings] == [
        ("retry", "r"), ("settings", "e"), ("resync", "s")]
    assert findings[0].name == "Alpha" and findings[0].domain == "alpha-shop.myshopify.com"
