"""A delivery dated in the future (issue 10 §5): a signed webhook whose `updated_at` is years
ahead must not make every later real update of that record "stale": its date is bounded by the
delivery's X-Shopify-Triggered-At and by when it arrived."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from engine.config import load_settings
from engine.persistence.models import Order, WebhookReceipt
from engine.persistence.runtime import open_runtime
from engine.serve.app import create_app
from tests.engine.livedata_support import AppServer, deliver, order, store_row

SECRET = "test-app-secret"
SHOP = "future.myshopify.com"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str, httpx.Client]]:
    monkeypatch.setenv("SHOPSYNC_API_SECRET", SECRET)
    runtime = open_runtime(load_settings())
    app = create_app(runtime)
    try:
        with AppServer(app) as server, httpx.Client(timeout=10) as client:
            yield app, server.url, client
    finally:
        runtime.close()


@pytest.mark.parametrize("with_trigger_header", [True, False])
def test_a_delivery_dated_in_2099_does_not_block_later_real_updates(
    served: tuple[Any, str, httpx.Client], with_trigger_header: bool,
) -> None:
    app, url, client = served
    store = store_row(SHOP)

    def send(number: int, updated_at: datetime, price: str) -> None:
        now = datetime.now(UTC)
        headers = {"triggered_at": _stamp(now)} if with_trigger_header else {}
        response = deliver(client, url, "orders/updated", SHOP,
                           order(number, _stamp(updated_at), total_price=price), SECRET,
                           **headers)
        assert response.status_code == 200, response.text
        assert app.state.live.ingest.wait_idle(5.0)

    send(1042, datetime(2099, 1, 1, tzinfo=UTC), "1.00")  # signed, but dated years ahead
    first = Order.get((Order.store == store.id) & (Order.shopify_id == 5042))
    assert not str(first.updated_at).startswith("2099"), first.updated_at
    # Shopify's next real change of the order, a moment later: it applies.
    send(1042, datetime.now(UTC), "99.00")
    row = Order.get((Order.store == store.id) & (Order.shopify_id == 5042))
    assert str(row.total_price) in ("99.00", "99.0", "99"), row.total_price
    statuses = [(r.status, r.detail) for r in WebhookReceipt.select().order_by(WebhookReceipt.id)]
    assert statuses[1] == ("applied", None), statuses
    assert statuses[0][0] == "applied" and "ahead" in (statuses[0][1] or ""), statuses
