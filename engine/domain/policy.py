"""The operator actions and the one rule per decision: may this action run for this store now?

Every caller asks here: engine.actions (before it writes anything, and `can` for the UI), the
sync job before a run, the scheduler before it queues, the webhook job before it registers, the
TUI's footer, card menu and Troubleshoot, and the CLI (through engine.actions). So the CLI and
the TUI refuse the same things with the same words.

`Action` names each operator action once: its name (what engine.actions and the UI pass around),
its label (card menu, Troubleshoot), its short label (footer) and its console key (DESIGN.md §6).
`why_not(action, facts)` is None when the action may run, else the operator-facing reason.
`sync_blocked(facts, entity)` is the decision every sync path shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.domain.status import ENTITY_CATEGORY, Check, Entity, EntityState, Status
from engine.domain.views import StoreSummary


class Action(StrEnum):
    """In the order the command palette offers them."""

    CHECK_HEALTH = "check_health"
    RETRY = "retry"
    RESYNC = "resync"
    DISCONNECT = "disconnect"
    RECONNECT = "reconnect"
    DELETE = "delete"
    SETTINGS = "settings"
    DETAILS = "details"
    REGISTER_WEBHOOKS = "register_webhooks"
    INITIAL_SYNC = "initial_sync"
    BULK_OPERATIONS = "bulk_operations"

    @property
    def label(self) -> str:
        """The full label: card menu, Troubleshoot's "Key:" line, notifications."""
        return _SPECS[self][0]

    @property
    def short(self) -> str:
        """The footer's label."""
        return _SPECS[self][1]

    @property
    def key(self) -> str:
        """The console key that runs it on a store (DESIGN.md §6)."""
        return _SPECS[self][2]


# label, footer label, key
_SPECS: dict[Action, tuple[str, str, str]] = {
    Action.CHECK_HEALTH: ("Check health", "Check", "c"),
    Action.SETTINGS: ("Sync settings", "Settings", "e"),
    Action.DETAILS: ("View details", "Details", "i"),
    Action.RETRY: ("Retry", "Retry", "r"),
    Action.RESYNC: ("Re-sync", "Re-sync", "s"),
    Action.DISCONNECT: ("Disconnect", "Disconnect", "d"),
    Action.RECONNECT: ("Reconnect", "Reconnect", "x"),
    Action.DELETE: ("Delete", "Delete", "D"),
    Action.REGISTER_WEBHOOKS: ("Register webhooks", "Register webhooks", "enter"),
    Action.INITIAL_SYNC: ("Start initial sync", "Start sync", "s"),
    Action.BULK_OPERATIONS: ("Bulk operations", "Bulk ops", "b"),
}

# The card menu's seven items, in the product's order (Disconnect or Reconnect, whichever applies).
MENU_ORDER: tuple[Action, ...] = (
    Action.CHECK_HEALTH, Action.SETTINGS, Action.DETAILS, Action.RETRY, Action.RESYNC,
    Action.DISCONNECT, Action.DELETE,
)
RETRY_FAILED_LABEL = "Retry failed"  # the menu's Retry: every Failed entity


def parse_action(name: Action | str) -> Action:
    try:
        return Action(name)
    except ValueError:
        raise ValueError(f"unknown action {name!r}") from None


@dataclass(frozen=True, slots=True)
class StoreFacts:
    """What the decisions depend on. `status` is the derived status (engine.domain.status)."""

    name: str
    status: Status
    status_detail: str | None
    deleting: bool
    entity_states: tuple[tuple[Entity, EntityState], ...]
    # Entities whose last full sync failed (Synced by an incremental since, maybe): Retry runs
    # the full sync again.
    full_failed: tuple[Entity, ...] = ()
    # The count check found records of an enabled entity not matching Shopify's count: Retry
    # runs that entity's full sync (engine.sync.counts).
    records_mismatch: bool = False

    def state(self, entity: Entity) -> EntityState:
        return next((s for e, s in self.entity_states if e is entity), EntityState.PENDING)


def facts_of(summary: StoreSummary) -> StoreFacts:
    """The facts of a summary the UI already holds (its status is the stored derived one)."""
    return StoreFacts(
        name=summary.name,
        status=summary.status,
        status_detail=summary.status_detail,
        deleting=summary.deleting,
        entity_states=tuple((row.entity, row.state) for row in summary.entities),
        full_failed=tuple(row.entity for row in summary.entities if row.full_sync_failed),
        records_mismatch=any(item.check is Check.RECORDS_MATCH and item.ok is False
                             for item in summary.readiness),
    )


def store_blocked(facts: StoreFacts) -> str | None:
    """Why no sync (nor any grant-using job but a health check) may run for the store now."""
    if facts.deleting:
        return f"{facts.name} is being deleted"
    if facts.status is Status.DISCONNECTED:
        return f"{facts.name} is disconnected; reconnect it first"
    if facts.status is Status.RECONNECT_REQUIRED:
        return f"{facts.name} needs a reconnect: {facts.status_detail or 'the grant is not valid'}"
    return None


def entity_off(facts: StoreFacts, entity: Entity) -> str | None:
    if facts.state(entity) is EntityState.OFF:
        return f"{entity.label} is Off: turn on {ENTITY_CATEGORY[entity].label} in sync settings"
    return None


def sync_blocked(facts: StoreFacts, entity: Entity | None = None) -> str | None:
    """May a sync run (of `entity`, or of any entity)? None, or why not. The sync job, the
    scheduler, retry, resync and the initial sync all ask this."""
    blocked = store_blocked(facts)
    if blocked is not None:
        return blocked
    if entity is not None:
        return entity_off(facts, entity)
    if all(state is EntityState.OFF for _e, state in facts.entity_states):
        return f"Every data category of {facts.name} is off"
    return None


def why_not(action: Action | str, facts: StoreFacts, entity: Entity | None = None) -> str | None:
    """None when `action` may run for the store now, else the reason shown to the operator.

    `entity` narrows Retry to one entity (the CLI's `retry STORE ENTITY`, Troubleshoot's fix);
    without it Retry means "every Failed entity" (and every entity whose last full sync failed
    or whose records do not match Shopify: their full sync) and needs one.
    """
    action = parse_action(action)
    if facts.deleting:
        return f"{facts.name} is being deleted"
    match action:
        case Action.CHECK_HEALTH | Action.SETTINGS | Action.DETAILS | Action.DELETE:
            return None
        case Action.RETRY:
            blocked = sync_blocked(facts, entity)
            if blocked is None and entity is None and not facts.full_failed \
                    and not facts.records_mismatch and not any(
                state is EntityState.FAILED for _e, state in facts.entity_states
            ):
                return f"{facts.name} has no Failed entity to retry"
            return blocked
        case Action.RESYNC | Action.INITIAL_SYNC:
            return sync_blocked(facts)
        case Action.BULK_OPERATIONS:  # asks Shopify with the store's token, paused or not
            if facts.status is Status.RECONNECT_REQUIRED:
                return store_blocked(facts)
            return None
        case Action.REGISTER_WEBHOOKS:
            return store_blocked(facts)
        case Action.DISCONNECT:
            if facts.status is Status.DISCONNECTED:
                return f"{facts.name} is already disconnected"
            return None
        case Action.RECONNECT:
            if facts.status in (Status.DISCONNECTED, Status.RECONNECT_REQUIRED):
                return None
            return f"{facts.name} does not need a reconnect (it is {facts.status.label})"
    raise AssertionError(action)  # pragma: no cover - every Action is matched above
