"""The dashboard's sort orders and the alerts when a store breaks.

Sorts (both views; `o` cycles them, `O` reverses, a click on a table column header sorts by
that column):

    name       the stores' names (the database's order; the default)
    problems   problems first: Error, Reconnect required, Disconnected, then Connected; within
               each, stores with a failed entity first, then by name
    status     by status label, then name
    records    most records first
    synced     least recently synced first (never synced at the top)
    domain     by domain

Alerts: `newly_broken(before, stores)` names the stores that turned Error or Reconnect required
since the last read (none on the first read, nor for a store the last read did not have: what
is already broken when it appears is on screen, not news).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from engine.domain.status import EntityState, Status
from engine.domain.views import StoreSummary


class Sort(NamedTuple):
    label: str
    key: Callable[[StoreSummary], Any]


PROBLEM_RANK = {Status.ERROR: 0, Status.RECONNECT_REQUIRED: 1, Status.DISCONNECTED: 2,
                Status.CONNECTED: 3}
ALERT_STATUSES = frozenset({Status.ERROR, Status.RECONNECT_REQUIRED})
_NEVER = datetime.min


def _name(store: StoreSummary) -> tuple[str, str]:
    return store.name.casefold(), store.domain


def _failed(store: StoreSummary) -> bool:
    return any(row.state is EntityState.FAILED for row in store.entities)


SORTS: dict[str, Sort] = {
    "name": Sort("Name", _name),
    "problems": Sort("Problems first",
                     lambda s: (PROBLEM_RANK[s.status], not _failed(s), *_name(s))),
    "status": Sort("Status", lambda s: (s.status.label, *_name(s))),
    "records": Sort("Records", lambda s: (-s.records_total, *_name(s))),
    "synced": Sort("Last sync", lambda s: (s.last_synced_at or _NEVER, *_name(s))),
    "domain": Sort("Domain", lambda s: s.domain),
}
DEFAULT_SORT = "name"
# Sorts that read only a summary's id, domain, name and status: what the fleet read builds for
# every store (the rest of a summary is decoded on first use; engine.persistence.fleet).
HEAD_SORTS = frozenset({"name", "status", "domain"})


def next_sort(current: str) -> str:
    names = list(SORTS)
    return names[(names.index(current) + 1) % len(names)]


def sort_stores(stores: list[StoreSummary], sort: str, reverse: bool = False
                ) -> list[StoreSummary]:
    """`stores` in the order `sort` names (the default order is the database's own)."""
    if sort == DEFAULT_SORT and not reverse:
        return stores
    return sorted(stores, key=SORTS[sort].key, reverse=reverse)


def newly_broken(before: Mapping[int, Status] | None,
                 stores: list[StoreSummary]) -> list[StoreSummary]:
    """Stores that turned Error or Reconnect required since `before` (None: the first read)."""
    if before is None:
        return []
    # Only stores already known: the first read may come as a screenful, then the rest.
    return [s for s in stores if s.status in ALERT_STATUSES and s.id in before
            and before[s.id] is not s.status and not s.deleting]
