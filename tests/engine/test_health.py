"""The health check against the simulator: the six readiness items, store information,
uninstall, trimmed scopes, token refresh (silent and refused), and an unavailable API."""

from __future__ import annotations

from datetime import timedelta

from engine.domain.status import ENTITY_ORDER, HEALTH_COMPLETED, HEALTH_FAILED, Check, Status
from engine.domain.views import HealthOutcome
from engine.persistence.models import Event, Store, utcnow
from engine.persistence.records import refresh_status

FAST = {"bulk_rate": 500_000}


def health_events(store: Store) -> list[str]:
    return [e.message for e in Event.select().where(
        (Event.store_id == store.id) & (Event.kind == "health")).order_by(Event.id)]


def synced_store(make_store, run_job, **shop):
    store = make_store(customers=10, orders=10, products=4, collections=2, **FAST, **shop)
    for entity in ENTITY_ORDER:
        view = run_job("sync", store, entity=entity.value)
        assert view.state == "done", view.error
    return Store.get_by_id(store.id)


def item(store: Store, check: Check) -> dict:
    return Store.get_by_id(store.id).readiness[check.value]


def test_a_healthy_store_passes_and_its_information_is_refreshed(sim, make_store, run_job):
    store = synced_store(make_store, run_job, name="Ünïcode Goods", plan="Advanced",
                         currency="EUR", country="DE")
    view = run_job("health", store)
    assert view.state == "done" and view.result == {"ok": True, "failed": []}
    assert view.health == HealthOutcome(True)
    store = Store.get_by_id(store.id)
    assert health_events(store) == [HEALTH_COMPLETED]
    assert all(store.readiness[c.value]["ok"] is True for c in Check)
    assert store.last_checked_at is not None and not store.health_failing
    assert store.status == Status.CONNECTED.value
    assert store.name == "Ünïcode Goods"
    assert (store.plan, store.currency) == ("Advanced", "EUR")
    assert store.country in ("Germany", "DE")
    assert store.email and "@" in store.email
    assert store.custom_domain and not store.custom_domain.endswith(".myshopify.com")
    assert store.shop_created_at is not None
    assert {"read_customers", "read_orders", "read_products"} <= set(
        store.granted_scopes.split(","))


def test_a_fresh_connect_is_connected_until_its_initial_sync_fails_or_completes(
    sim, make_store, run_job
):
    """Issue 9: a store whose initial sync has not started is Connected (was: "Error · Health
    check failed: Initial sync complete"); item 5 waits ("Not started"), it does not fail."""
    store = make_store(**FAST)
    view = run_job("health", store)
    assert view.result == {"ok": True, "failed": []}
    store = Store.get_by_id(store.id)
    assert health_events(store) == [HEALTH_COMPLETED]
    assert store.readiness["initial_sync_complete"] == {
        "ok": None, "detail": "Not started: open sync settings and run the initial sync"}
    assert store.status == Status.CONNECTED.value and not store.health_failing
    # The initial sync fails for one entity: that entity (not the check) makes the store Error.
    sim.patch(store.domain, fail_bulk={"orders": "INTERNAL_SERVER_ERROR"})
    assert run_job("sync", store, entity="orders").state == "failed"
    run_job("health", store)
    store = Store.get_by_id(store.id)
    assert store.readiness["initial_sync_complete"]["ok"] is False
    assert store.status == Status.ERROR.value
    assert store.status_detail.startswith("Orders sync failed")
    sim.patch(store.domain, fail_bulk={})
    for entity in ENTITY_ORDER:
        assert run_job("sync", store, entity=entity.value).state == "done"
    store = Store.get_by_id(store.id)
    assert store.initial_sync_completed_at is not None
    assert store.status == Status.CONNECTED.value  # the failed sync succeeded: Error cleared


def test_a_refused_token_fails_token_valid_and_requires_reconnect(sim, make_store, run_job):
    """Issue 9: a 401 blames the token ("Token valid"), not "OAuth connected" — unless an
    uninstall webhook said the grant is gone."""
    store = synced_store(make_store, run_job)
    sim.patch(store.domain, installed=False)
    view = run_job("health", store)
    assert view.result["ok"] is False and view.result["failed"] == ["token_valid"]
    assert view.health == HealthOutcome(False, (Check.TOKEN_VALID,))  # the typed reading
    store = Store.get_by_id(store.id)
    assert health_events(store)[-1] == f"{HEALTH_FAILED}: Token valid"
    assert "401" in store.readiness["token_valid"]["detail"]
    assert store.readiness["oauth_connected"]["ok"] is None  # the grant could not be read
    assert store.readiness["api_responding"]["ok"] is None  # not checked without a grant
    assert store.needs_reauth and store.status == Status.RECONNECT_REQUIRED.value
    Store.update(reauth_reason="App uninstalled in Shopify").where(
        Store.id == store.id).execute()  # what the app/uninstalled webhook records
    view = run_job("health", store)
    assert view.result["failed"] == ["oauth_connected", "token_valid"]
    # Reinstalling does not clear it: only a reconnect (a fresh grant) does.
    sim.patch(store.domain, installed=True)
    run_job("health", store)
    assert Store.get_by_id(store.id).status == Status.RECONNECT_REQUIRED.value


def test_trimmed_scopes_fail_and_turning_the_category_off_clears_it(sim, make_store, run_job):
    store = synced_store(make_store, run_job)
    sim.patch(store.domain, scopes=["read_customers", "read_products"])
    view = run_job("health", store)
    assert view.result == {"ok": False, "failed": ["scopes_granted"]}
    assert item(store, Check.SCOPES_GRANTED) == {"ok": False, "detail": "Missing read_orders"}
    store = Store.get_by_id(store.id)
    assert health_events(store)[-1] == f"{HEALTH_FAILED}: All scopes granted"
    assert store.status == Status.RECONNECT_REQUIRED.value
    assert not store.needs_reauth  # the grant is fine; it is just too small
    Store.update(cat_orders=False).where(Store.id == store.id).execute()
    assert refresh_status(store.id) == (Status.CONNECTED, None)


def test_expired_token_is_refreshed_silently(sim, make_store, run_job):
    store = synced_store(make_store, run_job, oauth=True)
    old = store.token_enc
    sim.patch(store.domain, token_expired=True)  # Shopify now rejects it with 401
    view = run_job("health", store)
    assert view.result == {"ok": True, "failed": []}
    store = Store.get_by_id(store.id)
    assert store.token_enc != old
    assert store.readiness["token_valid"] == {"ok": True, "detail": "Refreshed during this check"}
    assert store.status == Status.CONNECTED.value


def test_token_near_expiry_is_refreshed_before_use(make_store, run_job):
    store = synced_store(make_store, run_job, oauth=True)
    soon = utcnow() + timedelta(minutes=2)
    Store.update(token_expires_at=soon).where(Store.id == store.id).execute()
    view = run_job("health", store)
    assert view.result["ok"] is True
    store = Store.get_by_id(store.id)
    assert store.token_expires_at > soon + timedelta(minutes=30)
    assert store.readiness["token_valid"]["detail"] == "Refreshed during this check"


def test_refused_refresh_requires_reconnect(runtime, sim, make_store, run_job):
    store = synced_store(make_store, run_job, oauth=True)
    Store.update(refresh_token_enc=runtime.vault.encrypt("shprt_not_a_real_one")).where(
        Store.id == store.id).execute()
    sim.patch(store.domain, token_expired=True)
    view = run_job("health", store)
    assert view.result["failed"] == ["token_valid"]  # the token, not the grant
    store = Store.get_by_id(store.id)
    assert store.readiness["token_valid"]["detail"].startswith(
        "Shopify refused to refresh the access token")
    assert store.needs_reauth and store.status == Status.RECONNECT_REQUIRED.value
    for message in health_events(store):
        assert "shprt_not_a_real_one" not in message


def test_unavailable_api_fails_and_a_passing_check_clears_error(runtime, sim, make_store,
                                                                 run_job):
    store = synced_store(make_store, run_job)
    sim.patch(store.domain, frozen=True)
    view = run_job("health", store)
    assert view.result == {"ok": False, "failed": ["api_responding"]}
    assert "frozen" in item(store, Check.API_RESPONDING)["detail"]
    assert item(store, Check.OAUTH_CONNECTED)["ok"] is None
    assert Store.get_by_id(store.id).status == Status.ERROR.value

    sim.patch(store.domain, frozen=False, error_rate=1.0)
    runtime.settings.max_retries = 1
    view = run_job("health", store)
    assert view.result["failed"] == ["api_responding"]
    assert "2 times" in item(store, Check.API_RESPONDING)["detail"]

    sim.patch(store.domain, error_rate=0)
    assert run_job("health", store).result == {"ok": True, "failed": []}
    assert Store.get_by_id(store.id).status == Status.CONNECTED.value
