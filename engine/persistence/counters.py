"""Durable counters behind `/metrics`, shared by every process on the database.

`incr("shopsync_import_rows_total", 500, entity="orders")` adds to a labelled counter in one
upsert; callers batch (per import chunk, per webhook) so this never sits on a per-row path.
"""

from __future__ import annotations

from peewee import EXCLUDED

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


# Upper bounds (seconds) of the sync duration histogram: a small store's incremental sync takes
# a second, a large store's full import an hour or more.
SYNC_DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
                         7200.0, float("inf"))


def observe(name: str, value: float, buckets: tuple[float, ...] = SYNC_DURATION_BUCKETS,
            **labels: str) -> None:
    """One observation of a durable histogram: `name_bucket{le}` (cumulative), `name_sum` and
    `name_count`, in one statement (/metrics renders them as a Prometheus histogram)."""
    rows = [
        {"name": f"{name}_bucket", "labels": label_key({**labels, "le": _le(bound)}),
         "value": 1.0 if value <= bound else 0.0}
        for bound in buckets
    ]
    rows.append({"name": f"{name}_sum", "labels": label_key(labels), "value": value})
    rows.append({"name": f"{name}_count", "labels": label_key(labels), "value": 1.0})
    Metric.insert_many(rows).on_conflict(
        conflict_target=[Metric.name, Metric.labels],
        update={Metric.value: Metric.value + EXCLUDED.value},
    ).execute()


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


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
