"""The pure status rule: precedence and how Error clears."""

from __future__ import annotations

from engine.domain.status import (
    Category,
    Entity,
    EntityState,
    Status,
    StatusFacts,
    derive_status,
    missing_scopes,
    required_scopes,
)

SYNCED = tuple((e, EntityState.SYNCED, None) for e in Entity)


def facts(**changes: object) -> StatusFacts:
    base = dict(paused=False, needs_reauth=False, reauth_reason=None, missing_scopes=(),
                health_failing=False, health_detail=None, entity_states=SYNCED)
    base.update(changes)
    return StatusFacts(**base)  # type: ignore[arg-type]


def test_healthy_store_is_connected() -> None:
    assert derive_status(facts()) == (Status.CONNECTED, None)


def test_pause_wins_over_everything() -> None:
    status, _ = derive_status(facts(paused=True, needs_reauth=True, health_failing=True))
    assert status is Status.DISCONNECTED


def test_reauth_and_missing_scopes_need_a_reconnect() -> None:
    assert derive_status(facts(needs_reauth=True, reauth_reason="App uninstalled"))[0] \
        is Status.RECONNECT_REQUIRED
    status, detail = derive_status(facts(missing_scopes=("read_orders",)))
    assert status is Status.RECONNECT_REQUIRED
    assert detail == "Missing scopes: read_orders"


def test_failed_entity_gives_error_with_its_detail() -> None:
    states = ((Entity.CUSTOMERS, EntityState.SYNCED, None),
              (Entity.ORDERS, EntityState.FAILED, "bulk export failed"))
    status, detail = derive_status(facts(entity_states=states))
    assert status is Status.ERROR
    assert detail == "Orders sync failed: bulk export failed"


def test_failed_health_gives_error_and_clears_when_the_flag_clears() -> None:
    assert derive_status(facts(health_failing=True))[0] is Status.ERROR
    assert derive_status(facts(health_failing=False))[0] is Status.CONNECTED


def test_an_off_entity_never_causes_error() -> None:
    states = ((Entity.ORDERS, EntityState.OFF, "old failure"),)
    assert derive_status(facts(entity_states=states))[0] is Status.CONNECTED


def test_required_scopes_follow_categories() -> None:
    everything = {c: True for c in Category}
    assert required_scopes(everything) == ["read_customers", "read_orders", "read_products"]
    no_orders = dict(everything, **{Category.ORDERS: False})
    assert required_scopes(no_orders) == ["read_customers", "read_products"]


def test_write_scope_satisfies_read() -> None:
    assert missing_scopes(["read_orders", "read_products"], ["write_orders"]) == ["read_products"]
