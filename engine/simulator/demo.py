"""The demo fleet (`--demo`) and the demo activity generator.

The fleet is exposed as data (GET /_sim/demo): each store's token, plus the faults the demo
launcher applies after shopsync has connected it (`after_connect`, a PATCH body) and whether
to disconnect it (`paused`). Names exercise the UI: long, non-ASCII, and literal Rich markup.
The activity generator makes new orders, customer and product updates and the odd deletion in
installed demo shops, so webhooks keep arriving while the demo runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from engine.simulator.events import create_record, delete_record, update_record
from engine.simulator.patch import apply_settings, validate_settings
from engine.simulator.rest import FieldError
from engine.simulator.state import World

FLEET: list[dict[str, Any]] = [
    {"domain": "acme-outfitters.myshopify.com", "name": "Acme Outfitters",
     "scenario": "healthy",
     "counts": {"customers": 400, "orders": 1200, "products": 120, "collections": 8}},
    {"domain": "big-box-megastore.myshopify.com", "name": "Big Box Megastore",
     "scenario": "large",
     "counts": {"customers": 8000, "orders": 60000, "products": 1500, "collections": 12},
     "settings": {"bulk_rate": 12000.0, "plan": "Plus"}},
    {"domain": "cafe-munster.myshopify.com", "name": "Café Münster — Bäckerei & Kaffeehaus",
     "scenario": "failing entity (orders bulk export fails)",
     "counts": {"customers": 150, "orders": 400, "products": 40, "collections": 4},
     "settings": {"fail_bulk": {"orders": "INTERNAL_SERVER_ERROR"}, "currency": "EUR",
                  "country": "DE", "timezone": "Europe/Berlin"}},
    {"domain": "tokyo-store.myshopify.com", "name": "東京ストア",
     "scenario": "uninstalled after connect",
     "counts": {"customers": 120, "orders": 300, "products": 30, "collections": 3},
     "settings": {"currency": "JPY", "country": "JP", "timezone": "Asia/Tokyo"},
     "after_connect": {"installed": False}},
    {"domain": "long-candle-emporium.myshopify.com",
     "name": "The Extraordinarily Long-Named Artisanal Candle & Soap Emporium of Greater "
             "Manchester",
     "scenario": "missing scope (read_orders removed after connect)",
     "counts": {"customers": 90, "orders": 250, "products": 25, "collections": 2},
     "settings": {"currency": "GBP", "country": "GB", "timezone": "Europe/London"},
     "after_connect": {"scopes": ["read_customers", "write_customers", "read_products",
                                  "write_products"]}},
    {"domain": "markup-test.myshopify.com", "name": "[bold red]x[/] Markup Test Shop",
     "scenario": "paused (disconnected by the operator)",
     "counts": {"customers": 60, "orders": 150, "products": 15, "collections": 2},
     "paused": True},
    {"domain": "juniper-and-pine.myshopify.com", "name": "Juniper & Pine",
     "scenario": "throttled",
     "counts": {"customers": 200, "orders": 800, "products": 60, "collections": 5},
     "after_connect": {"throttle": True}},
    {"domain": "nordic-wool.myshopify.com", "name": "Nordic Wool Co.", "scenario": "healthy",
     "counts": {"customers": 250, "orders": 600, "products": 45, "collections": 4},
     "settings": {"currency": "SEK", "country": "SE", "timezone": "Europe/Stockholm"}},
]


def seed_fleet(world: World) -> None:
    """Create the demo shops (installed, each with a non-expiring full-scope token)."""
    for spec in FLEET:
        shop = world.add_shop(spec["domain"], name=spec["name"], counts=spec["counts"],
                              demo=True)
        apply_settings(world, shop, validate_settings(spec.get("settings", {})), quiet=True)
        token = world.issue_token(shop, frozenset(shop.settings.scopes), expiring=False)
        world.demo_fleet.append({
            "domain": shop.domain, "name": shop.settings.name, "access_token": token.value,
            "scenario": spec["scenario"], "after_connect": spec.get("after_connect", {}),
            "paused": spec.get("paused", False),
        })


def set_activity(world: World, enabled: bool, interval_ms: int) -> None:
    if world.activity is not None:
        world.activity.cancel()
        world.activity = None
    if enabled:
        world.activity = asyncio.get_running_loop().create_task(_activity(world, interval_ms))


async def _activity(world: World, interval_ms: int) -> None:
    while True:
        await asyncio.sleep(interval_ms / 1000)
        with contextlib.suppress(FieldError):
            step(world)


def _existing(world: World, domain: str, entity: str) -> int | None:
    shop = world.shops[domain]
    ids = shop.records
    total = ids.data.counts.get(entity, 0)
    for _ in range(5):
        if total == 0:
            return None
        index = world.rng.randrange(total)
        numeric = ids.data.numeric_id({"customers": "Customer", "orders": "Order",
                                       "products": "Product"}[entity], index)
        if ids.get(entity, numeric) is not None:
            return numeric
    return None


def step(world: World) -> str | None:
    """One random change in one installed demo shop; returns what was done (for tests)."""
    shops = [s for s in world.shops.values() if s.demo and s.settings.installed]
    if not shops:
        return None
    shop = world.rng.choice(shops)
    roll = world.rng.random()
    if roll < 0.55:
        create_record(world, shop, "orders", {})
        return f"{shop.domain}: orders/create"
    if roll < 0.85:
        numeric = _existing(world, shop.domain, "customers")
        if numeric is not None:
            update_record(world, shop, "customers", numeric,
                          {"tags": ["demo", f"touched-{world.rng.randrange(1000)}"]})
            return f"{shop.domain}: customers/update"
        return None
    if roll < 0.95:
        numeric = _existing(world, shop.domain, "products")
        if numeric is not None:
            update_record(world, shop, "products", numeric,
                          {"status": world.rng.choice(["active", "draft"])})
            return f"{shop.domain}: products/update"
        return None
    numeric = _existing(world, shop.domain, "orders")
    if numeric is not None and delete_record(world, shop, "orders", numeric):
        return f"{shop.domain}: orders/delete"
    return None
