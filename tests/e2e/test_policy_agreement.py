"""Every status × action: the CLI (a subprocess) and `can()` (what the TUI dims) agree.

One rule decides (engine.domain.policy): where `can()` says no, the CLI refuses with exactly the
reason the TUI's notification shows, exits 1 and records nothing; where it says yes, the CLI acts
(every action leaves an event in the store's activity log, or removes the store).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine import actions
from engine.persistence.models import EntitySync, Event, Store, utcnow
from engine.persistence.reads import store_summary
from engine.persistence.records import refresh_status

SYNCED = ("customers", "orders", "products", "collections")


def _set_up(case: str, store_id: int) -> None:
    """Put the store into one status (every case but "connected" has Orders Failed, so a
    refusal below is about the status, not about nothing to retry)."""
    now = utcnow()
    EntitySync.update(state="synced", last_synced_at=now, full_synced_at=now, records=0).where(
        EntitySync.store == store_id).execute()
    Store.update(initial_sync_completed_at=now).where(Store.id == store_id).execute()
    if case != "connected":
        EntitySync.update(state="failed", error="Bulk operation failed: boom").where(
            (EntitySync.store == store_id) & (EntitySync.entity == "orders")).execute()
    flags: dict[str, Any] = {
        "connected": {}, "error": {},
        "disconnected": {"paused": True},
        "reauth": {"needs_reauth": True, "reauth_reason": "App uninstalled in Shopify"},
        "missing_scope": {"granted_scopes": "read_customers,read_products"},
        "deleting": {"deleting": True},
    }[case]
    if flags:
        Store.update(**flags).where(Store.id == store_id).execute()
    refresh_status(store_id)


# Reconnect required twice: by a revoked grant, and by a missing scope (where the CLI used to
# queue retry and resync jobs that the TUI dimmed).
CASES = ("connected", "error", "disconnected", "reauth", "missing_scope", "deleting")
# (policy action, entity or None, the CLI arguments after STORE)
COMMANDS: list[tuple[str, str | None, Callable[[str], list[str]]]] = [
    ("check_health", None, lambda token: ["health", "@", "--timeout", "60"]),
    ("retry", None, lambda token: ["retry", "@", "--timeout", "60"]),
    ("retry", "orders", lambda token: ["retry", "@", "orders", "--timeout", "60"]),
    ("resync", None, lambda token: ["resync", "@", "--timeout", "60"]),
    ("disconnect", None, lambda token: ["disconnect"]),
    ("reconnect", None, lambda token: ["reconnect", "@", "--token", token]),
    ("delete", None, lambda token: ["delete", "@", "--yes", "--timeout", "60"]),
]


def _effect(store_id: int) -> tuple:
    store = Store.get_or_none(Store.id == store_id)
    if store is None:
        return ("gone",)
    return (Event.select().where(Event.store_id == store_id).count(), store.paused,
            store.needs_reauth, store.granted_scopes, store.deleting)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(("action", "entity", "command"), COMMANDS,
                         ids=[f"{a}-{e}" if e else a for a, e, _c in COMMANDS])
def test_cli_and_can_agree(shopsync, sim_shop, unique_domain, runtime, case: str, action: str,
                           entity: str | None, command: Callable[[str], list[str]]) -> None:
    shop = sim_shop(unique_domain, customers=3, orders=3, products=2, collections=1)
    actions.use_runtime(runtime)
    store_id = actions.connect_token(unique_domain, shop["access_token"]).id
    _set_up(case, store_id)
    summary = store_summary(store_id)
    reason = actions.why_cannot(summary, action, entity)
    assert actions.can(summary, action, entity) is (reason is None)
    before = _effect(store_id)
    argv = command(shop["access_token"])
    args = [argv[0], unique_domain, *[a for a in argv[1:] if a != "@"]]
    result = shopsync(*args)
    if reason is not None:
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip() == f"Error: {reason}"
        assert _effect(store_id) == before  # nothing queued, nothing changed
    else:
        assert f"Error: {summary.name} " not in result.stderr.splitlines()[:1]
        assert _effect(store_id) != before, result.stderr  # it acted
