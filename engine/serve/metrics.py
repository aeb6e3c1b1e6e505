"""`/metrics`: the Prometheus text exposition of shopsync's counters and fleet gauges.

Counters come from engine.persistence.counters (durable, shared by every process on the
database: syncs by entity and outcome, webhooks by topic and outcome, import rows, throttle
waits, malformed payload values, …). Gauges are computed from the database at scrape time: jobs
by kind and state, stores by status, webhook receipts waiting to be applied, live runners. A
process may add its own in-memory counters (`ProcessCounters`, e.g. webhook deliveries refused
before anything was written).
Durable histograms (`counters.observe`: `*_bucket`/`*_sum`/`*_count` rows, e.g.
shopsync_sync_duration_seconds) are rendered as Prometheus histograms.

Per-store series, for alert rules on one store: `shopsync_store_status{store,status}` (1 for the
store's current status, 0 for the others: four series per store) and
`shopsync_entity_last_success_timestamp_seconds{store,entity}` (Unix time of the entity's last
successful sync; absent before the first) and `shopsync_record_count_drift{store,entity}` (local
records minus Shopify's count, for an entity whose last count check found it not matching,
engine.sync.counts; absent while it matches). Domains are bounded by the fleet, so
cardinality is at most 12 series per store: on by default; SHOPSYNC_METRICS_PER_STORE=false
drops them for a fleet large enough to worry the Prometheus server (the fleet totals stay,
among them `shopsync_stores_records_mismatch{entity}`: stores whose records of that entity do
not match Shopify, four series whatever the fleet's size).
The standard process metrics (CPU, memory, open files, start time) and Python's GC and platform
metrics describe the process serving /metrics.
prometheus_client renders the text, so escaping and the format are its job.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

from peewee import fn
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from engine.domain.jobs import JobState
from engine.domain.status import Entity, Status
from engine.persistence.counters import snapshot
from engine.persistence.models import (
    EntitySync,
    Job,
    RunnerHeartbeat,
    Store,
    WebhookReceipt,
    utcnow,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

HELP: dict[str, str] = {
    "shopsync_syncs_total": "Entity sync runs by entity and outcome.",
    "shopsync_import_rows_total": "Rows written by bulk imports, by entity.",
    "shopsync_throttle_waits_total": "Waits for Shopify's rate limits, by reason.",
    "shopsync_webhooks_total": "Webhook deliveries by topic and outcome.",
    "shopsync_malformed_values_total":
        "Payload values of the wrong shape stored as NULL, by kind (int, text, time, …).",
    "shopsync_webhooks_rejected_total":
        "Webhook requests refused before anything was written, by reason (this process).",
    "shopsync_sync_duration_seconds":
        "Duration of successful entity syncs, by entity and mode (full, incremental, …).",
    "shopsync_count_checks_total":
        "Count checks (local records against Shopify's counts), by outcome (match, mismatch).",
}
HISTOGRAM_PARTS = ("_bucket", "_sum", "_count")


class ProcessCounters:
    """Thread-safe in-memory counters of one process, exported next to the durable ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def incr(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + value

    def items(self) -> list[tuple[str, dict[str, str], float]]:
        with self._lock:
            return [(name, dict(labels), v) for (name, labels), v in self._values.items()]


def _histogram_base(name: str) -> str | None:
    for part in HISTOGRAM_PARTS:
        if name.endswith(part) and name.removesuffix(part) in HELP:
            return name.removesuffix(part)
    return None


def _histogram_families(rows: list[tuple[str, dict[str, str], float]]) -> Iterator[Metric]:
    grouped: dict[str, dict[tuple[tuple[str, str], ...], dict[str, Any]]] = {}
    for name, labels, value in rows:
        base = _histogram_base(name)
        if base is None:
            continue
        series = {k: v for k, v in labels.items() if k != "le"}
        entry = grouped.setdefault(base, {}).setdefault(
            tuple(sorted(series.items())), {"buckets": {}, "sum": 0.0})
        if name.endswith("_bucket"):
            entry["buckets"][labels.get("le", "+Inf")] = value
        elif name.endswith("_sum"):
            entry["sum"] = value
    for base in sorted(grouped):
        keys = sorted({k for series in grouped[base] for k, _v in series})
        family = HistogramMetricFamily(base, HELP[base], labels=keys)
        for key, entry in sorted(grouped[base].items()):
            named = dict(key)
            buckets = sorted(entry["buckets"].items(),
                             key=lambda item: float("inf") if item[0] == "+Inf" else float(item[0]))
            family.add_metric([named.get(k, "") for k in keys], buckets, entry["sum"])
        yield family


def _counter_families(rows: list[tuple[str, dict[str, str], float]]) -> Iterator[Metric]:
    by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, labels, value in rows:
        if _histogram_base(name) is not None:
            continue
        by_name.setdefault(name, []).append((labels, value))
    for name in sorted(by_name):
        samples = by_name[name]
        keys = sorted({k for labels, _v in samples for k in labels})
        documentation = HELP.get(name, name.replace("_", " "))
        family: CounterMetricFamily | GaugeMetricFamily
        if name.endswith("_total"):
            family = CounterMetricFamily(name, documentation, labels=keys)
        else:
            family = GaugeMetricFamily(name, documentation, labels=keys)
        for labels, value in samples:
            family.add_metric([labels.get(k, "") for k in keys], value)
        yield family


def _gauges() -> Iterator[Metric]:
    jobs = GaugeMetricFamily("shopsync_jobs", "Jobs by kind and state.", labels=["kind", "state"])
    counts: dict[tuple[str, str], int] = {}
    for kind, state, n in Job.select(Job.kind, Job.state, fn.COUNT(Job.id)).group_by(
        Job.kind, Job.state
    ).tuples().iterator():
        counts[(kind, state)] = n
    for kind in sorted({k for k, _s in counts}):
        for state in JobState:
            jobs.add_metric([kind, state], counts.get((kind, state), 0))
    yield jobs

    stores = GaugeMetricFamily("shopsync_stores", "Stores by status.", labels=["status"])
    by_status: dict[str, int] = dict(
        Store.select(Store.status, fn.COUNT(Store.id)).group_by(Store.status).tuples().iterator()
    )
    for status in Status:
        stores.add_metric([status.value], by_status.get(status.value, 0))
    yield stores

    pending = WebhookReceipt.select().where(WebhookReceipt.status == "received").count()
    yield GaugeMetricFamily(
        "shopsync_webhook_receipts_pending",
        "Webhook deliveries recorded and not applied yet.", value=pending,
    )
    mismatch = GaugeMetricFamily(
        "shopsync_stores_records_mismatch",
        "Stores whose last count check found the entity's records not matching Shopify's count.",
        labels=["entity"])
    drifted: dict[str, int] = dict(
        EntitySync.select(EntitySync.entity, fn.COUNT(EntitySync.id)).where(
            EntitySync.count_drift.is_null(False)).group_by(EntitySync.entity).tuples()
        .iterator())
    for entity in Entity:
        mismatch.add_metric([entity.value], drifted.get(entity.value, 0))
    yield mismatch

    runners = GaugeMetricFamily("shopsync_runners", "Job runners with a fresh heartbeat.",
                                labels=["kind"])
    alive = RunnerHeartbeat.select(RunnerHeartbeat.kind, fn.COUNT(RunnerHeartbeat.id)).where(
        RunnerHeartbeat.beat_at > utcnow() - timedelta(seconds=30)
    ).group_by(RunnerHeartbeat.kind).tuples()
    for kind, n in alive.iterator():
        runners.add_metric([kind], n)
    yield runners


def _per_store_gauges() -> Iterator[Metric]:
    status = GaugeMetricFamily(
        "shopsync_store_status",
        "1 for the store's current status, 0 for the others (alert on status=\"error\").",
        labels=["store", "status"])
    domains: dict[int, str] = {}
    for store_id, domain, current in Store.select(Store.id, Store.domain, Store.status).where(
        ~Store.deleting
    ).order_by(Store.domain).tuples().iterator():
        domains[store_id] = domain
        for candidate in Status:
            status.add_metric([domain, candidate.value], 1 if current == candidate.value else 0)
    yield status
    synced = GaugeMetricFamily(
        "shopsync_entity_last_success_timestamp_seconds",
        "Unix time of the entity's last successful sync (absent before the first).",
        labels=["store", "entity"])
    rows = EntitySync.select(EntitySync.store, EntitySync.entity, EntitySync.last_synced_at).where(
        EntitySync.last_synced_at.is_null(False)).tuples()
    for store_id, entity, at in rows.iterator():
        if store_id in domains:
            synced.add_metric([domains[store_id], entity],
                              at.replace(tzinfo=UTC).timestamp())
    yield synced
    yield from _drift_gauge(domains)


def _drift_gauge(domains: dict[int, str]) -> Iterator[Metric]:
    drift = GaugeMetricFamily(
        "shopsync_record_count_drift",
        "Local records minus Shopify's count, for entities whose last count check found them "
        "not matching (absent while they match).",
        labels=["store", "entity"])
    rows = EntitySync.select(EntitySync.store, EntitySync.entity, EntitySync.count_drift).where(
        EntitySync.count_drift.is_null(False)).tuples()  # indexed: only the mismatched rows
    for store_id, entity, difference in rows.iterator():
        if store_id in domains:
            drift.add_metric([domains[store_id], entity], difference)
    yield drift


class ShopsyncCollector(Collector):
    def __init__(self, process: ProcessCounters | None = None, *, per_store: bool = True) -> None:
        self.process = process
        self.per_store = per_store

    def collect(self) -> Iterator[Metric]:
        rows = snapshot()
        if self.process is not None:
            rows.extend(self.process.items())
        yield from _counter_families(rows)
        yield from _histogram_families(rows)
        yield from _gauges()
        if self.per_store:
            yield from _per_store_gauges()


def render(process: ProcessCounters | None = None, *, per_store: bool = True) -> bytes:
    """The whole exposition, as `GET /metrics` serves it (blocking database reads)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ShopsyncCollector(process, per_store=per_store))
    for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(standard)
    return generate_latest(registry)
