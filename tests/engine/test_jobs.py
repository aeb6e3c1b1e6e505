"""The durable job queue and runner: ordering, per-store exclusivity, leases, stop."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

from engine.domain.jobs import ACTIVE, JobKind, JobState
from engine.jobs.queue import enqueue, runner_alive, wait_for_job
from engine.jobs.runner import MACHINE, JobContext, JobFailed, Runner
from engine.persistence.models import Job, RunnerHeartbeat, Store, database, utcnow
from tests.support import wait_until


def _stores(n: int) -> list[Store]:
    return [Store.create(domain=f"s{i}.myshopify.com", name=f"S{i}") for i in range(n)]


class Recorder:
    """Handlers that log start/end and can be held open."""

    def __init__(self, hold: float = 0.05) -> None:
        self.log: list[tuple[str, int, str | None, float]] = []
        self.hold = hold
        self.lock = threading.Lock()

    async def handle(self, ctx: JobContext) -> dict:
        with self.lock:
            self.log.append(("start", ctx.job.store_id, ctx.job.entity, time.monotonic()))
        for _ in range(5):
            await asyncio.sleep(self.hold / 5)
            ctx.check_stop()
        with self.lock:
            self.log.append(("end", ctx.job.store_id, ctx.job.entity, time.monotonic()))
        return {"entity": ctx.job.entity}


def _run_until_done(runner: Runner, job_ids: list[int], timeout: float = 15) -> None:
    runner.start_thread()
    try:
        for job_id in job_ids:
            wait_for_job(job_id, timeout=timeout, interval=0.02)
    finally:
        runner.stop()


def test_entities_of_one_store_run_in_order_and_never_overlap(offline_runtime) -> None:
    [store] = _stores(1)
    recorder = Recorder()
    ids = [enqueue("sync", store, entity=e).id
           for e in ("customers", "orders", "products", "collections")]
    _run_until_done(Runner(offline_runtime, handlers={"sync": recorder.handle},
                           poll_interval=0.02), ids)
    starts = [entity for kind, _, entity, _ in recorder.log if kind == "start"]
    assert starts == ["customers", "orders", "products", "collections"]
    events = [kind for kind, *_ in recorder.log]
    assert events == ["start", "end"] * 4  # strictly one at a time


def test_stores_run_concurrently_up_to_the_bound(offline_runtime) -> None:
    stores = _stores(4)
    recorder = Recorder(hold=0.3)
    ids = [enqueue("sync", s, entity="orders").id for s in stores]
    _run_until_done(Runner(offline_runtime, handlers={"sync": recorder.handle},
                           max_concurrent_stores=2, poll_interval=0.02), ids)
    running = peak = 0
    for kind, *_ in sorted(recorder.log, key=lambda row: row[3]):
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    assert peak == 2


def test_enqueue_dedupes_an_active_job(offline_runtime) -> None:
    [store] = _stores(1)
    first = enqueue("sync", store, entity="orders")
    assert enqueue("sync", store, entity="orders").id == first.id
    assert enqueue("sync", store, entity="products").id != first.id


def test_expired_lease_is_taken_over(offline_runtime) -> None:
    [store] = _stores(1)
    job = enqueue("sync", store, entity="orders")
    Job.update(state="running", lease_owner="dead-runner",
               lease_expires_at=utcnow() - timedelta(seconds=1)).where(Job.id == job.id).execute()
    recorder = Recorder()
    _run_until_done(Runner(offline_runtime, handlers={"sync": recorder.handle},
                           poll_interval=0.02), [job.id])
    done = Job.get_by_id(job.id)
    assert done.state == "done" and done.attempts == 1 and done.lease_owner is None


def test_a_dead_runner_of_this_machine_is_not_waited_for(offline_runtime) -> None:
    """A SIGKILLed worker's jobs are resumed at the next heartbeat, not when its lease ends;
    an owner that is alive, or of another machine (or PID namespace), keeps its lease."""
    if MACHINE is None:
        pytest.skip("needs /proc (boot id and PID namespace) to tell a dead process")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    host, pid = socket.gethostname(), int(gone.stdout)
    owners = {
        "dead": f"worker:{host}:{pid}:deadbeef:{MACHINE}",
        "alive": f"worker:{host}:{os.getpid()}:cafef00d:{MACHINE}",
        "elsewhere": f"worker:{host}:{pid}:0badf00d:00000000",
    }
    jobs = {}
    for store, (name, owner) in zip(_stores(3), owners.items(), strict=True):
        jobs[name] = enqueue("sync", store, entity="orders")
        Job.update(state="running", lease_owner=owner,
                   lease_expires_at=utcnow() + timedelta(seconds=60)).where(
            Job.id == jobs[name].id).execute()
    RunnerHeartbeat.create(owner=owners["dead"], kind="worker", pid=pid, host=host,
                           started_at=utcnow(), beat_at=utcnow())
    recorder = Recorder()
    started = time.monotonic()
    _run_until_done(Runner(offline_runtime, handlers={"sync": recorder.handle},
                           poll_interval=0.02), [jobs["dead"].id])
    assert time.monotonic() - started < 30  # well inside the 60 s lease
    assert Job.get_by_id(jobs["dead"].id).state == "done"
    assert not RunnerHeartbeat.select().where(RunnerHeartbeat.owner == owners["dead"]).exists()
    for name in ("alive", "elsewhere"):
        job = Job.get_by_id(jobs[name].id)
        assert (job.state, job.lease_owner) == ("running", owners[name]), name
    assert [entry[1] for entry in recorder.log] == [jobs["dead"].store_id] * 2


def test_live_lease_is_respected(offline_runtime) -> None:
    store, other = _stores(2)
    job = enqueue("sync", store, entity="orders")
    Job.update(state="running", lease_owner="other-runner",
               lease_expires_at=utcnow() + timedelta(seconds=60)).where(Job.id == job.id).execute()
    later = enqueue("sync", store, entity="products")
    # A job of another store, queued after both: the runner claims in id order, so once it
    # has run this one, it has looked at (and passed over) the two before it.
    sentinel = enqueue("sync", other, entity="customers")
    recorder = Recorder()
    runner = Runner(offline_runtime, handlers={"sync": recorder.handle}, poll_interval=0.02)
    _run_until_done(runner, [sentinel.id])
    # neither the leased job nor the store's next one ran
    assert {(entry[1], entry[2]) for entry in recorder.log} == {(other.id, "customers")}
    assert Job.get_by_id(later.id).state == "queued"


def test_stop_requeues_an_interrupted_job_and_removes_the_heartbeat(offline_runtime) -> None:
    [store] = _stores(1)
    recorder = Recorder(hold=5)
    job = enqueue("sync", store, entity="orders")
    runner = Runner(offline_runtime, handlers={"sync": recorder.handle}, poll_interval=0.02,
                    kind="serve").start_thread()
    wait_until(lambda: Job.get_by_id(job.id).state == "running", timeout=10)
    assert runner_alive("serve")
    runner.stop()
    requeued = Job.get_by_id(job.id)
    assert requeued.state == "queued" and requeued.lease_owner is None
    assert not RunnerHeartbeat.select().where(RunnerHeartbeat.owner == runner.owner).exists()


def test_failures_are_recorded_not_raised(offline_runtime) -> None:
    [store] = _stores(1)

    async def clean_failure(ctx: JobContext) -> None:
        raise JobFailed("Orders: bulk export failed")

    async def crash(ctx: JobContext) -> None:
        raise ZeroDivisionError("boom")

    a = enqueue(JobKind.HEALTH, store)
    b = enqueue(JobKind.DELETE, None)
    handlers = {JobKind.HEALTH: clean_failure, JobKind.DELETE: crash}
    _run_until_done(Runner(offline_runtime, handlers=handlers, poll_interval=0.02),
                    [a.id, b.id])
    assert Job.get_by_id(a.id).error == "Orders: bulk export failed"
    assert Job.get_by_id(b.id).state == "failed"
    assert "ZeroDivisionError" in Job.get_by_id(b.id).error


def test_leases_are_extended_only_for_jobs_still_running_here(offline_runtime) -> None:
    """A job whose outcome this runner could not write must let its lease lapse, so another
    runner takes it over, instead of being kept "running" by our heartbeat forever."""
    [store] = _stores(1)
    job = enqueue("sync", store, entity="orders")
    runner = Runner(offline_runtime, handlers={}, lease_seconds=30)
    expiry = utcnow() + timedelta(seconds=1)
    Job.update(state="running", lease_owner=runner.owner, lease_expires_at=expiry).where(
        Job.id == job.id).execute()
    runner._extend_leases()
    assert Job.get_by_id(job.id).lease_expires_at == expiry
    runner._job_ids.add(job.id)
    runner._extend_leases()
    assert Job.get_by_id(job.id).lease_expires_at > expiry + timedelta(seconds=20)


def test_job_kind_and_state_are_enums_stored_as_their_old_strings(offline_runtime) -> None:
    [store] = _stores(1)
    job = enqueue(JobKind.SYNC, store, entity="orders")
    stored = Job.get_by_id(job.id)
    assert (stored.kind, stored.state) == (JobKind.SYNC, JobState.QUEUED)
    assert type(stored.state) is JobState and stored.state.active
    raw = Job.select(Job.kind, Job.state).where(Job.id == job.id).dicts().first()
    assert raw == {"kind": JobKind.SYNC, "state": JobState.QUEUED}
    sql = f'SELECT "kind", "state" FROM "job" WHERE "id" = {database.param}'
    column = database.execute_sql(sql, (job.id,))
    assert column.fetchone() == ("sync", "queued")  # the database spells them as before
    with pytest.raises(ValueError):
        Job.update(state="finished").where(Job.id == job.id).execute()
    assert [state for state in JobState if state.active] == list(ACTIVE)
