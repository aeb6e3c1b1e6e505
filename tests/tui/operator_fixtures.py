"""Fixture data for the operator tools (bulk operations, backfill progress, webhook health),
shared by their tests and by `python3 dev.py screenshots` (tui/screenshots.py `scene_*`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from engine.domain.bulk import BulkListing, BulkOperationView
from engine.domain.progress import SyncProgress
from engine.domain.status import Entity, EntityState
from engine.domain.webhook_health import SUBSCRIPTIONS_CHECKED
from engine.persistence.models import EntitySync, Event, Store, WebhookReceipt, WebhookRejection
from tests.tui.factories import FROZEN_NOW, make_store

OURS = "https://sync.example.com/webhooks"
OTHER = "https://old-install.example.com/webhooks"
LIMIT = 5


def bulk_listing(store_id: int, name: str = "Acme Outdoor") -> BulkListing:
    """Five foreign exports holding every slot, ours finished earlier, one failed."""
    base = 4_142_422_163_000

    def op(n: int, status: str, minutes: int, *, ours: bool = False, entity: str = "customers",
           role: str = "", objects: int = 0, roots: int = 0, done: int | None = None,
           error: str | None = None) -> BulkOperationView:
        return BulkOperationView(
            id=f"gid://shopify/BulkOperation/{base + n}", type="QUERY", status=status,
            error_code=error, object_count=objects, root_object_count=roots,
            created_at=FROZEN_NOW - timedelta(minutes=minutes),
            completed_at=FROZEN_NOW - timedelta(minutes=done) if done is not None else None,
            ours=ours, entity=entity, role=role)

    operations = (
        op(9, "RUNNING", 12, objects=14_400, roots=7_200),
        op(8, "RUNNING", 13, objects=15_200, roots=7_600),
        op(7, "RUNNING", 14, entity="products", objects=3_010, roots=1_400),
        op(6, "RUNNING", 15, objects=18_000, roots=9_000),
        op(5, "RUNNING", 16, entity="orders", objects=42_000, roots=12_000),
        op(4, "FAILED", 90, ours=True, entity="orders", role="earlier run", objects=51_000,
           roots=15_000, done=80, error="INTERNAL_SERVER_ERROR"),
        op(3, "COMPLETED", 180, ours=True, entity="customers", role="adopted after a restart",
           objects=9_120, roots=9_120, done=170),
    )
    return BulkListing(store_id=store_id, domain="acme-outdoor.myshopify.com", name=name,
                       operations=operations, blocked=("orders",), fetched_at=FROZEN_NOW,
                       limit=LIMIT)


def mid_backfill(domain: str = "backfill.myshopify.com") -> Store:
    """Orders 35,679 of 210,236 imported at 1,234/s, written 4 s before the frozen now;
    Products still exporting at Shopify."""
    store = make_store(domain, "Backfill Outfitters",
                       states={Entity.ORDERS: EntityState.SYNCING,
                               Entity.PRODUCTS: EntityState.SYNCING},
                       progress=(35_679, 210_236), initial_sync=False)
    written = FROZEN_NOW - timedelta(seconds=4)
    importing = SyncProgress("import", 1234.4, 145.0, updated_at=written)
    exporting = SyncProgress("export", None, None, export_objects=14_400, export_roots=7_200,
                             export_total=12_000, export_rate=2_400.0, export_eta_seconds=6.0,
                             updated_at=written)
    for entity, info, done, total in (("orders", importing, 35_679, 210_236),
                                      ("products", exporting, 0, 12_000)):
        EntitySync.update(progress_info=info.to_json(), done=done, total=total).where(
            (EntitySync.store == store.id) & (EntitySync.entity == entity)).execute()
    return store


def with_deliveries(domain: str = "acme-outdoor.myshopify.com",
                    name: str = "Acme Outdoor") -> Store:
    """A day of deliveries: a late one, a duplicate, a forged one; orders/create also
    registered at another installation's URL."""
    store = make_store(domain, name)

    def receipt(topic: str, status: str, ago: timedelta, lag: timedelta | None,
                detail: str | None = None) -> None:
        received = FROZEN_NOW - ago
        triggered = (received - lag).strftime("%Y-%m-%dT%H:%M:%S.000Z") if lag else None
        WebhookReceipt.create(topic=topic, shop_domain=store.domain, store_id=store.id,
                              triggered_at=triggered, received_at=received, body="",
                              status=status, detail=detail)

    for minutes in (2, 30, 90):
        receipt("orders/create", "applied", timedelta(minutes=minutes), timedelta(seconds=1))
    receipt("orders/create", "applied", timedelta(hours=3), timedelta(minutes=12))  # late
    receipt("orders/create", "duplicate", timedelta(minutes=29), timedelta(seconds=1))
    # A forged delivery: refusals keep no receipt, only webhook health's counter row.
    WebhookRejection.create(store=store.id, topic="orders/create", reason="signature", count=1,
                            hour=(FROZEN_NOW - timedelta(minutes=50)).replace(
                                minute=0, second=0, microsecond=0))
    receipt("orders/updated", "applied", timedelta(minutes=5), timedelta(seconds=2))
    receipt("customers/update", "applied", timedelta(days=3), timedelta(seconds=1))  # older
    subscriptions = {t: [OURS] for t in store.webhook_topics.split(",")}
    subscriptions["ORDERS_CREATE"] = [OTHER, OURS]
    Event.create(store_id=store.id, store_domain=store.domain, kind="webhook",
                 message=f"{SUBSCRIPTIONS_CHECKED}: 15 topics at {OURS}; also registered at "
                 f"{OTHER}", level="warning", at=FROZEN_NOW - timedelta(minutes=20),
                 data={"uri": OURS, "subscriptions": subscriptions})
    return store


# -- screenshot scenes: build the data, return what pushes the screen ----------------------------

def scene_bulk_operations() -> Callable[[Any], None]:
    from tui.screens.bulk import BulkScreen

    store = make_store("acme-outdoor.myshopify.com", "Acme Outdoor")
    return lambda app: app.push_screen(BulkScreen(store.id, listing=bulk_listing(store.id)))


def scene_store_backfill() -> Callable[[Any], None]:
    from tui.screens.store import StoreScreen

    store = mid_backfill()
    return lambda app: app.push_screen(StoreScreen(store.id))


def scene_webhook_health() -> Callable[[Any], None]:
    from tui.screens.details import DetailsScreen

    store = with_deliveries()
    return lambda app: app.push_screen(DetailsScreen(store.id))
