"""Webhook health per store and topic: signed deliveries (a duplicate, a forged one, a late
one) through the real HTTP receiver, the figures from engine.actions and `show --json`, the
per-topic label on the rejected counter, and a subscription at another URL found by the
subscriptions job and reported by Troubleshoot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from engine import actions
from engine.lifecycle.diagnosis import diagnose
from engine.shopify.documents import WEBHOOK_CREATE
from tests.engine.livedata_support import AppServer, deliver, store_row, webhook_headers
from tests.support import HTTP

SECRET = "test-app-secret"
SHOP = "acme.myshopify.com"


@dataclass
class Live:
    app: Any
    url: str
    client: httpx.Client

    def settle(self) -> None:
        assert self.app.state.live.ingest.wait_idle(5.0)


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    """`serve`'s app on a loopback port, with the app secret the deliveries are signed with."""
    from engine.config import load_settings
    from engine.persistence.runtime import open_runtime
    from engine.serve.app import create_app

    monkeypatch.setenv("SHOPSYNC_API_SECRET", SECRET)
    runtime = open_runtime(load_settings())
    app = create_app(runtime)
    try:
        with AppServer(app) as server, httpx.Client(timeout=10) as client:
            yield Live(app, server.url, client)
    finally:
        runtime.close()


def order(number: int, updated_at: str) -> dict[str, Any]:
    return {"id": 4000 + number, "admin_graphql_api_id": f"gid://shopify/Order/{4000 + number}",
            "name": f"#{number}", "email": "buyer@example.com", "currency": "EUR",
            "total_price": "12.50", "created_at": "2026-11-01T09:00:00Z",
            "updated_at": updated_at, "line_items": []}


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_per_topic_figures_in_actions_show_json_and_metrics(live: Live) -> None:
    store = store_row(SHOP, webhook_topics="ORDERS_CREATE,ORDERS_UPDATED,APP_UNINSTALLED")
    now = datetime.now(UTC)
    url = live.url
    post = live.client
    fresh = deliver(post, url, "orders/create", SHOP, order(1, "2026-11-02T10:00:00Z"), SECRET,
                    event_id="ev-fresh", triggered_at=stamp(now - timedelta(seconds=1)))
    again = deliver(post, url, "orders/create", SHOP, order(1, "2026-11-02T10:00:00Z"), SECRET,
                    event_id="ev-fresh", triggered_at=stamp(now - timedelta(seconds=1)))
    late = deliver(post, url, "orders/create", SHOP, order(2, "2026-11-02T10:00:00Z"), SECRET,
                   event_id="ev-late", triggered_at=stamp(now - timedelta(minutes=10)))
    forged = deliver(post, url, "orders/create", SHOP, order(3, "2026-11-02T10:00:00Z"),
                     "not-the-secret", event_id="ev-forged")
    malformed = b'{"id": 5, "name": '
    broken = post.post(url + "/webhooks", content=malformed,
                       headers=webhook_headers(malformed, "orders/create", SHOP, SECRET))
    # Refusals that name no store of ours, or a topic we do not subscribe to, count nowhere.
    stranger = deliver(post, url, "orders/create", "stranger.myshopify.com",
                       order(4, "2026-11-02T10:00:00Z"), "not-the-secret")
    odd_topic = deliver(post, url, "themes/publish", SHOP, {"id": 1}, "not-the-secret")
    updated = deliver(post, url, "orders/updated", SHOP, order(1, "2026-11-03T10:00:00Z"),
                      SECRET, triggered_at=stamp(now - timedelta(seconds=2)))
    assert [r.status_code for r in (fresh, again, late, forged, broken, stranger, odd_topic,
                                    updated)] == [200, 200, 200, 401, 400, 401, 401, 200]
    live.settle()

    health = {t.topic: t for t in actions.webhook_health(store.id)}
    created = health["orders/create"]
    assert (created.subscribed, created.deliveries, created.duplicates) == (True, 2, 1)
    # Refusals write no receipt: a counter row per store, topic, hour and reason.
    assert created.rejected == {"signature": 1, "malformed": 1}
    assert created.rejected_total == 2
    assert created.lag_worst_seconds is not None and 595 < created.lag_worst_seconds < 660
    assert created.lag_median_seconds is not None
    assert 295 < created.lag_median_seconds < 330  # the median of ~1 s and ~600 s
    assert created.last_delivery_at is not None
    assert health["orders/updated"].deliveries == 1
    assert health["orders/updated"].rejected == {}
    silent = health["orders/delete"]
    assert (silent.subscribed, silent.deliveries, silent.last_delivery_at) == (False, 0, None)

    result = CliRunner().invoke(__import__("tui.cli", fromlist=["main"]).main,
                                ["show", SHOP, "--json"])
    assert result.exit_code == 0, result.output
    shown = {t["topic"]: t for t in json.loads(result.stdout)["webhooks"]}
    assert shown["orders/create"]["deliveries_24h"] == 2
    assert shown["orders/create"]["duplicates_24h"] == 1
    assert shown["orders/create"]["rejected_24h"] == 2
    assert shown["orders/create"]["rejected_reasons_24h"] == {"malformed": 1, "signature": 1}
    assert shown["orders/updated"]["rejected_24h"] == 0
    assert "themes/publish" not in shown
    assert 595 < shown["orders/create"]["lag_worst_seconds"] < 660
    assert SECRET not in result.stdout

    metrics = HTTP.get(url + "/metrics").text  # every refusal, the stranger's included
    assert ('shopsync_webhooks_rejected_total{reason="signature",topic="orders/create"} 2.0'
            in metrics)


def test_a_subscription_at_another_url_is_found_and_reported(
    runtime: Any, make_store: Any, run_job: Any, settings: Any
) -> None:
    store = make_store(customers=1)
    token = runtime.vault.decrypt(store.token_enc)
    other = "https://old-install.example.com/webhooks"
    graphql = f"{settings.shop_origin(store.domain)}/admin/api/{settings.api_version}/graphql.json"
    response = HTTP.post(graphql, headers={"X-Shopify-Access-Token": token}, json={
        "query": WEBHOOK_CREATE, "variables": {"topic": "ORDERS_CREATE",
                                               "subscription": {"uri": other}}}, timeout=30)
    assert response.json()["data"]["webhookSubscriptionCreate"]["userErrors"] == []
    assert run_job("webhooks", store).state == "done"
    assert run_job("webhooks", store).state == "done"  # unchanged: no second event
    health = {t.topic: t for t in actions.webhook_health(store.id)}
    assert health["orders/create"].other_uris == (other,)
    assert health["orders/create"].subscribed is True
    assert health["orders/create"].uri is not None and health["orders/create"].uri != other
    assert health["customers/create"].other_uris == ()
    [finding] = [f for f in diagnose() if f.store_id == store.id
                 and f.problem.startswith("Webhooks also registered at")]
    assert finding.problem == f"Webhooks also registered at {other}"
    assert (finding.severity, finding.key) == ("warning", "i")
    from engine.persistence.models import Event

    checks = Event.select().where((Event.store_id == store.id)
                                  & Event.message.startswith("Webhook subscriptions at Shopify"))
    assert checks.count() == 1


def test_rejection_counter_is_bounded_and_pruned(offline_runtime: Any) -> None:
    """One row per store, topic, hour and reason however many refusals; a row older than 48 h
    is pruned by the next count; the 24-hour figure leaves out what is older than that."""
    from engine.persistence.models import WebhookRejection
    from engine.webhooks.claims import KNOWN_TOPICS
    from engine.webhooks.receipts import Rejection, count_rejections

    store = store_row(SHOP, webhook_topics="ORDERS_CREATE")
    now = datetime.now(UTC).replace(tzinfo=None)
    flood = [Rejection(SHOP, "orders/create", "signature")] * 500
    assert count_rejections(flood, KNOWN_TOPICS, now - timedelta(hours=50)) == 500
    assert count_rejections(flood[:3], KNOWN_TOPICS, now - timedelta(hours=30)) == 3
    assert WebhookRejection.select().count() == 2
    health = {t.topic: t for t in actions.webhook_health(store.id)}
    assert health["orders/create"].rejected == {}  # both older than 24 h
    counted = count_rejections(
        [*flood[:4], Rejection("stranger.myshopify.com", "orders/create", "signature"),
         Rejection(SHOP, "themes/publish", "signature")], KNOWN_TOPICS, now)
    assert counted == 4
    assert sorted(r.count for r in WebhookRejection.select()) == [3, 4]  # the 50 h row pruned
    health = {t.topic: t for t in actions.webhook_health(store.id)}
    assert health["orders/create"].rejected == {"signature": 4}
