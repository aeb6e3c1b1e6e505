"""`/metrics`: the Prometheus text exposition of shopsync's counters and fleet gauges.

Counters come from engine.persistence.counters (durable, shared by every process on the
database: syncs by entity and outcome, webhooks by topic and outcome, import rows, throttle
waits, malformed payload values, …). Gauges are computed from the database at scrape time: jobs
by kind and state, stores by status, webhook receipts waiting to be applied, live runners. A
process may add its own in-memory counters (`ProcessCounters`, e.g. webhook deliveries refused
before anything was written).
prometheus_client renders the text, so escaping and the format are its job.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

from peewee import fn
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.domain.jobs import JobState
from engine.domain.status import Status
from engine.persistence.counters import snapshot
from engine.persistence.models import Job, RunnerHeartbeat, Store, WebhookReceipt, utcnow

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
}


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


def _counter_families(rows: list[tuple[str, dict[str, str], float]]) -> Iterator[Metric]:
    by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, labels, value in rows:
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
    ).tuples():
        counts[(kind, state)] = n
    for kind in sorted({k for k, _s in counts}):
        for state in JobState:
            jobs.add_metric([kind, state], counts.get((kind, state), 0))
    yield jobs

    stores = GaugeMetricFamily("shopsync_stores", "Stores by status.", labels=["status"])
    by_status = dict(
        Store.select(Store.status, fn.COUNT(Store.id)).group_by(Store.status).tuples()
    )
    for status in Status:
        stores.add_metric([status.value], by_status.get(status.value, 0))
    yield stores

    pending = WebhookReceipt.select().where(WebhookReceipt.status == "received").count()
    yield GaugeMetricFamily(
        "shopsync_webhook_receipts_pending",
        "Webhook deliveries recorded and not applied yet.", value=pending,
    )
    runners = GaugeMetricFamily("shopsync_runners", "Job runners with a fresh heartbeat.",
                                labels=["kind"])
    alive = RunnerHeartbeat.select(RunnerHeartbeat.kind, fn.COUNT(RunnerHeartbeat.id)).where(
        RunnerHeartbeat.beat_at > utcnow() - timedelta(seconds=30)
    ).group_by(RunnerHeartbeat.kind).tuples()
    for kind, n in alive:
        runners.add_metric([kind], n)
    yield runners


class ShopsyncCollector(Collector):
    def __init__(self, process: ProcessCounters | None = None) -> None:
        self.process = process

    def collect(self) -> Iterator[Metric]:
        rows = snapshot()
        if self.process is not None:
            rows.extend(self.process.items())
        yield from _counter_families(rows)
        yield from _gauges()


def render(process: ProcessCounters | None = None) -> bytes:
    """The whole exposition, as `GET /metrics` serves it (blocking database reads)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ShopsyncCollector(process))
    return generate_latest(registry)
