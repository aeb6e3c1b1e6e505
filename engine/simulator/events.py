"""Shop lifecycle and record changes, with the webhooks each one sends.

Shared by the control API, the OAuth endpoints (revocation, reinstall) and the demo activity
generator, so that every path that changes a shop notifies subscribers the same way.
"""

from __future__ import annotations

from typing import Any

from engine.simulator.common import iso, parse_iso
from engine.simulator.rest import VIEWS, apply_fields
from engine.simulator.state import Shop, World
from engine.simulator.webhooks import emit, record_topic, shop_payload


def uninstall(world: World, shop: Shop) -> None:
    """The app is uninstalled: every token dies, app/uninstalled goes out, API-created
    subscriptions are removed (kept when `webhook_after_uninstall` is on, to keep delivering)."""
    was_installed = shop.settings.installed
    world.revoke_all(shop)
    shop.settings.installed = False
    if was_installed:
        emit(world, shop, "app/uninstalled", shop_payload(shop))
    if not shop.settings.webhook_after_uninstall:
        shop.subscriptions.clear()


def reinstall(shop: Shop) -> None:
    shop.settings.installed = True
    shop.revoked = False


def scopes_changed(world: World, shop: Shop, previous: list[str]) -> None:
    current = list(shop.settings.scopes)
    if sorted(previous) != sorted(current):
        emit(world, shop, "app/scopes_update", {
            "id": shop.number, "previous": sorted(previous), "current": sorted(current),
            "updated_at": iso(world.clock.wall())})


def create_record(world: World, shop: Shop, entity: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Create a record (generated defaults + `fields`); raises rest.FieldError."""
    now = iso(world.clock.wall())
    record = apply_fields(entity, shop.records.new_record(entity), fields, now, created=True)
    shop.records.put(entity, record)
    if entity == "products":
        shop.records.data.forget()
    emit(world, shop, record_topic(entity, "create"), VIEWS[entity](record))
    return record


def update_record(world: World, shop: Shop, entity: str, numeric: int,
                  fields: dict[str, Any]) -> dict[str, Any] | None:
    """Apply a partial update; None when the record does not exist; raises rest.FieldError."""
    current = shop.records.get(entity, numeric)
    if current is None:
        return None
    # updatedAt has one-second resolution: keep it strictly increasing per record, so that two
    # quick updates stay distinguishable by a receiver comparing updated_at.
    moment = max(world.clock.wall(), parse_iso(current["updatedAt"]) + 1)
    record = apply_fields(entity, current, fields, iso(moment))
    shop.records.put(entity, record)
    if entity == "products":
        shop.records.data.forget()
    emit(world, shop, record_topic(entity, "update"), VIEWS[entity](record))
    return record


def delete_record(world: World, shop: Shop, entity: str, numeric: int) -> bool:
    if not shop.records.delete(entity, numeric):
        return False
    if entity == "products":
        shop.records.data.forget()
    emit(world, shop, record_topic(entity, "delete"), {"id": numeric})
    return True
