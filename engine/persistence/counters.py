"""Durable counters behind `/metrics`, shared by every process on the database.

`incr("shopsync_import_rows_total", 500, entity="orders")` adds to a labelled counter in one
upsert; callers batch (per import chunk, per webhook) so this never sits on a per-row path.
"""

from __future__ import annotations

from engine.domain.coerce import take_malformed
from engine.persistence.models import Metric


def label_key(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def incr(name: str, value: float = 1.0, **labels: str) -> None:
    key = label_key(labels)
    Metric.insert(name=name, labels=key, value=value).on_conflict(
        conflict_target=[Metric.name, Metric.labels],
        update={Metric.value: Metric.value + value},
    ).execute()


def snapshot() -> list[tuple[str, dict[str, str], float]]:
    rows = []
    for metric in Metric.select().order_by(Metric.name, Metric.labels):
        labels = dict(part.split("=", 1) for part in metric.labels.split(",") if part)
        rows.append((metric.name, labels, metric.value))
    return rows


def count_malformed() -> int:
    """Move the payload coercers' dropped-value tally into the durable counters.

    `shopsync_malformed_values_total{kind}` counts values stored as NULL because of their shape
    (engine.domain.coerce). Returns how many were moved, for the caller's warning.
    """
    counts = take_malformed()
    for kind, n in counts.items():
        incr("shopsync_malformed_values_total", n, kind=kind)
    return sum(counts.values())
