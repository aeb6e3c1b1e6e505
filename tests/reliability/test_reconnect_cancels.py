"""A store that turns Reconnect required mid-sync loses its queued syncs, whatever the cause.

An uninstall always cancelled them; a token revoked under a running sync (401), a grant reduced
under it (app/scopes_update, or a ScopeError) left the queued ones to start and fail one by one.
"""

from __future__ import annotations

from typing import Any

from engine.domain.status import Entity
from engine.jobs.queue import enqueue
from engine.persistence.models import EntitySync, Job, Store
from engine.shopify.errors import AuthError, ScopeError
from engine.sync.state import RunInfo, record_failure


def _queued_syncs(store: Store) -> list[Job]:
    return [enqueue("sync", store, entity=entity, params={"mode": "incremental"})
            for entity in ("customers", "products", "collections")]


def _run_info(store: Store, entity: Entity) -> RunInfo:
    sync = EntitySync.get(store=store.id, entity=entity.value)
    return RunInfo(store.id, sync.id, entity, "incremental", None)


def test_a_revoked_token_cancels_the_queued_syncs(runtime: Any, make_store: Any) -> None:
    store = make_store(orders=1)
    queued = _queued_syncs(store)
    record_failure(_run_info(store, Entity.ORDERS),
                   AuthError("Shopify rejected the access token (401)", status=401), None)
    after = Store.get_by_id(store.id)
    assert after.status == "reconnect_required"
    assert [Job.get_by_id(j.id).state for j in queued] == ["cancelled"] * 3
    assert not Job.select().where((Job.store_id == store.id) & (Job.state == "queued")).exists()


def test_a_reduced_grant_cancels_the_queued_syncs(runtime: Any, make_store: Any) -> None:
    store = make_store(orders=1)
    queued = _queued_syncs(store)
    granted = [s for s in store.granted_scopes.split(",") if s != "read_orders"]
    record_failure(_run_info(store, Entity.ORDERS),
                   ScopeError("Access denied for orders", scopes=["read_orders"]), granted)
    assert Store.get_by_id(store.id).status == "reconnect_required"
    assert [Job.get_by_id(j.id).state for j in queued] == ["cancelled"] * 3
