"""The engine on PostgreSQL: schema, the job queue and a full connect → sync → delete.

The throwaway cluster and databases come from tests/pg_cluster.py (pg_server, pg_runtime).
"""

from __future__ import annotations

import httpx

from engine import actions
from engine.jobs.queue import wait_for_job
from engine.persistence.models import Customer, Order, OrderLineItem, Store
from engine.registry import make_runner
from tests.support import HTTP


def test_schema_and_migrations_on_postgres(pg_runtime) -> None:
    tables = set(pg_runtime.db.get_tables())
    assert {"store", "entity_sync", "customer", "order", "job", "event"} <= tables
    Store.create(domain="pg.myshopify.com", name="PG")
    assert Store.get(Store.domain == "pg.myshopify.com").name == "PG"


def test_connect_sync_resync_and_delete_on_postgres(pg_runtime, simulator, unique_domain) -> None:
    shop = HTTP.post(f"{simulator.url}/_sim/shops", json={
        "domain": unique_domain, "customers": 120, "orders": 300, "products": 40,
        "collections": 5}).json()
    store = actions.connect_token(unique_domain, shop["access_token"])
    runner = make_runner(pg_runtime, kind="test").start_thread()
    try:
        for view in actions.resync(store.id):
            assert wait_for_job(view.id, timeout=60).state == "done"
        for view in actions.resync(store.id):  # twice: upserts, no duplicates
            assert wait_for_job(view.id, timeout=60).state == "done"
        truth = HTTP.get(f"{simulator.url}/_sim/shops/{unique_domain}/orders/ids").json()
        ours = [o.shopify_id for o in Order.select().where(Order.store == store.id)]
        assert sorted(ours) == sorted(truth["ids"])
        assert Customer.select().where(Customer.store == store.id).count() == 120
        assert OrderLineItem.select().where(OrderLineItem.store == store.id).count() >= 300
        assert actions.find(unique_domain).status.value == "connected"
        done = wait_for_job(actions.delete(store.id).id, timeout=60)
        assert done.state == "done", done.error
        assert not Store.select().where(Store.id == store.id).exists()
        assert Order.select().where(Order.store == store.id).count() == 0
    finally:
        runner.stop()


def test_webhooks_apply_dedupe_and_delete_on_postgres(pg_runtime, monkeypatch) -> None:
    from engine.serve.app import create_app
    from tests.engine.livedata_support import AppServer, deliver, order, store_row
    from tests.support import wait_until

    secret = pg_runtime.settings.api_secret.get_secret_value()
    store = store_row("pg-hooks.myshopify.com")
    app = create_app(pg_runtime)
    with AppServer(app) as server, httpx.Client(timeout=10) as client:
        def post(topic: str, payload: dict, event: str) -> httpx.Response:
            return deliver(client, server.url, topic, store.domain, payload, secret,
                           event_id=event)

        assert post("orders/create", order(7, "2026-11-02T10:00:00Z"), "e1").text == "received"
        row = wait_until(lambda: Order.get_or_none(Order.shopify_id == 4007), timeout=5)
        assert row.name == "#7"
        assert post("orders/create", order(7, "2026-11-02T10:00:00Z"), "e1").text == "duplicate"
        post("orders/updated", order(7, "2026-11-02T11:00:00Z", total_price="9.99"), "e2")
        wait_until(lambda: Order.get(Order.shopify_id == 4007).total_price == "9.99", timeout=5)
        post("orders/delete", {"id": 4007}, "e3")
        wait_until(lambda: Order.get_or_none(Order.shopify_id == 4007) is None, timeout=5)
        assert OrderLineItem.select().where(OrderLineItem.order_id == 4007).count() == 0
