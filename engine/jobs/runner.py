"""Durable jobs: the queue every action goes through, and the runner that works it.

A Job row is claimed by a runner with a lease (owner, expiry) that a heartbeat extends while
the handler runs; a runner that dies leaves an expired lease that any other runner takes over,
and handlers are written to resume (a sync adopts its stored bulk operation id). On the same
machine a dead runner is not waited for: the owner names its process and machine (boot and PID
namespace), and at every heartbeat each runner releases the leases of owners whose process is
gone (`release_dead_owners`), so a SIGKILLed worker's jobs are resumed within one beat (a few
seconds) instead of a whole lease; a runner on another machine still waits for the lease.

Rules: one active job per (store, kind, entity); one running job per store at a time, taken in
id order (so a re-sync's entities run Customers → Orders → Products → Collections); different
stores run concurrently up to `max_concurrent_stores`.

Handlers are `async def handler(ctx: JobContext) -> dict | None`, passed in by kind (the
mapping is engine.registry.JOB_HANDLERS). A handler reports progress with `await ctx.progress(done,
total)` and checks `ctx.stopping` at safe points: when the runner is shutting down it raises
`JobInterrupted`, which releases the lease so the next runner resumes the job.

Every `sweep_interval` (and at start) the runner repairs entities left Syncing without a job (an
outcome that could not be written) and queues again the jobs a full disk failed, once the disk
has room and `disk_full_retry` seconds have passed (engine.jobs.queue).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from peewee import PeeweeException as PeeweeError

from engine.domain.jobs import JobKind, JobState
from engine.jobs.claim import claim_next
from engine.jobs.queue import repair_orphaned_syncs, retry_after_disk_full
from engine.persistence.database import database_fault, database_has_room
from engine.persistence.fleet import prune_changes
from engine.persistence.models import Job, RunnerHeartbeat, utcnow
from engine.persistence.runtime import Runtime
from engine.retry import Backoff, retrying_blocking

log = logging.getLogger("shopsync.jobs")

Handler = Callable[[Any], Awaitable[dict | None]]
PRUNE_EVERY = 3600.0  # seconds between prunes of the store change log
SWEEP_EVERY = 30.0  # seconds between sweeps (orphaned Syncing entities, disk-full retries)
DISK_FULL_RETRY = 60.0  # seconds after a full disk failed a job before it is queued again

# A job's outcome is retried through a locked database (~8 s in all) rather than lost.
FINISH_RETRIES = Backoff(8, first=0.25, cap=2.0)


def _machine() -> str | None:
    """This boot of this machine and this PID namespace (a container has its own): a PID means
    the same process only under the same token. None where /proc does not say."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            boot_id = boot.read().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return hashlib.sha256(f"{boot_id}:{namespace}".encode()).hexdigest()[:8]


MACHINE = _machine()


def owner_name(kind: str) -> str:
    """A runner's lease owner: `kind:host:pid:nonce`, and `:machine` where it can be told."""
    owner = f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return f"{owner}:{MACHINE}" if MACHINE else owner


def owner_is_dead(owner: str) -> bool:
    """Whether `owner` is a runner of this machine (and PID namespace) whose process is gone.
    False whenever that cannot be known for sure: another machine, an unparsable owner, a PID
    that is alive (even if reused by some other process)."""
    parts = owner.split(":")
    if MACHINE is None or len(parts) != 5 or parts[4] != MACHINE or not parts[2].isdigit():
        return False
    pid = int(parts[2])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    try:  # killed but not yet reaped by its parent: dead all the same
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def release_dead_owners(me: str) -> list[str]:
    """End the leases of this machine's dead runners now (their jobs become claimable at once,
    resumed as after an expired lease); returns those owners."""
    owners = {job.lease_owner or "" for job in Job.select(Job.lease_owner).where(
        (Job.state == JobState.RUNNING) & Job.lease_owner.is_null(False)
        & (Job.lease_owner != me) & (Job.lease_expires_at > utcnow())
    ).distinct()}
    dead = [owner for owner in owners if owner_is_dead(owner)]
    if dead:
        Job.update(lease_expires_at=utcnow()).where(
            (Job.state == JobState.RUNNING) & Job.lease_owner.in_(dead)
        ).execute()
        RunnerHeartbeat.delete().where(RunnerHeartbeat.owner.in_(dead)).execute()
    return dead


class JobInterrupted(Exception):
    """Raised by a handler at a safe point when the runner is stopping; the job is requeued."""


class JobFailed(Exception):
    """A handler's clean failure: the message is the job's error, shown to the operator."""


@dataclass
class JobContext:
    runtime: Runtime
    job: Job
    runner: Runner
    _last_write: float = field(default=0.0)

    @property
    def stopping(self) -> bool:
        return self.runner.stopping.is_set()

    def check_stop(self) -> None:
        if self.stopping:
            raise JobInterrupted()

    async def progress(self, done: int, total: int | None = None, *, force: bool = False) -> None:
        """Record progress (throttled to a few writes a second) and extend the lease."""
        loop = asyncio.get_running_loop()
        if not force and loop.time() - self._last_write < 0.25:
            return
        self._last_write = loop.time()
        self.job.progress_done, self.job.progress_total = done, total
        await asyncio.to_thread(self._write_progress, done, total)

    def _write_progress(self, done: int, total: int | None) -> None:
        Job.update(
            progress_done=done,
            progress_total=total,
            heartbeat_at=utcnow(),
            lease_expires_at=utcnow() + timedelta(seconds=self.runner.lease_seconds),
        ).where((Job.id == self.job.id) & (Job.lease_owner == self.runner.owner)).execute()


class Runner:
    """Claims and runs jobs; run it in its own thread (`start_thread`) or `await run()`."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        kind: str = "embedded",
        handlers: Mapping[JobKind, Handler],
        max_concurrent_stores: int | None = None,
        poll_interval: float | None = None,
        lease_seconds: float | None = None,
        kinds: tuple[JobKind, ...] | None = None,
        sweep_interval: float = SWEEP_EVERY,
        disk_full_retry: float = DISK_FULL_RETRY,
    ) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.kind = kind
        self.owner = owner_name(kind)
        self.handlers = handlers
        self.max_concurrent = max_concurrent_stores or settings.max_concurrent_stores
        self.poll_interval = poll_interval or settings.poll_interval
        self.lease_seconds = lease_seconds or settings.lease_seconds
        self.kinds = kinds
        self.sweep_interval = sweep_interval
        self.disk_full_retry = disk_full_retry
        self.stopping = threading.Event()
        self.stopped = threading.Event()
        self.wake = threading.Event()
        self._running: dict[int, asyncio.Task] = {}  # store id (or -job id) -> task
        self._job_ids: set[int] = set()  # jobs whose handler is still running here
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start_thread(self) -> Runner:
        self._thread = threading.Thread(target=self._thread_main, name="shopsync-runner",
                                        daemon=True)
        self._thread.start()
        return self

    def _thread_main(self) -> None:
        try:
            asyncio.run(self.run())
        except Exception:  # the runner must never take its host process down
            log.exception("job runner crashed")
        finally:
            self.stopped.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking work, interrupt handlers at their next safe point, release leases."""
        self.stopping.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def notify(self) -> None:
        """Wake the claim loop now (a job was just queued in this process)."""
        self.wake.set()

    async def run(self) -> None:
        self._beat(initial=True)
        last_beat = 0.0
        loop = asyncio.get_running_loop()
        last_prune = loop.time()
        last_sweep = -self.sweep_interval  # the first pass sweeps: repairs after a crash
        try:
            while not self.stopping.is_set():
                try:
                    if loop.time() - last_beat > min(5.0, self.lease_seconds / 3):
                        await asyncio.to_thread(self._beat)
                        await asyncio.to_thread(self._extend_leases)
                        last_beat = loop.time()
                        dead = await asyncio.to_thread(release_dead_owners, self.owner)
                        if dead:
                            log.warning("job runner: resuming the jobs of runners that died: %s",
                                        ", ".join(dead))
                    if loop.time() - last_prune > PRUNE_EVERY:
                        await asyncio.to_thread(prune_changes)
                        last_prune = loop.time()
                    if loop.time() - last_sweep > self.sweep_interval:
                        last_sweep = loop.time()
                        await asyncio.to_thread(self._sweep)
                    await self._claim_and_start()
                except PeeweeError as error:
                    # A locked or briefly unreachable database must not end the runner:
                    # log it, back off, try again (leases cover the jobs meanwhile).
                    log.warning("job runner: database error, retrying: %s", error)
                    await asyncio.sleep(min(5.0, self.poll_interval * 4))
                self.wake.clear()
                await asyncio.to_thread(self.wake.wait, self.poll_interval)
            if self._running:
                await asyncio.wait(list(self._running.values()), timeout=self.lease_seconds)
        finally:
            await asyncio.to_thread(self._retire)

    # -- heartbeat and leases -------------------------------------------------------------------

    def _beat(self, initial: bool = False) -> None:
        now = utcnow()
        updated = RunnerHeartbeat.update(beat_at=now, stopping=self.stopping.is_set()).where(
            RunnerHeartbeat.owner == self.owner
        ).execute()
        if not updated:
            RunnerHeartbeat.create(owner=self.owner, kind=self.kind, pid=os.getpid(),
                                   host=socket.gethostname(), started_at=now, beat_at=now)
        if initial:  # forget runners that have been silent for a day
            RunnerHeartbeat.delete().where(
                RunnerHeartbeat.beat_at < now - timedelta(days=1)
            ).execute()

    def _extend_leases(self) -> None:
        # Only jobs whose handler still runs here: a job whose outcome could not be written
        # lets its lease lapse, so another runner takes it over instead of it hanging forever.
        ids = list(self._job_ids)
        if not ids:
            return
        Job.update(
            lease_expires_at=utcnow() + timedelta(seconds=self.lease_seconds),
            heartbeat_at=utcnow(),
        ).where(
            (Job.lease_owner == self.owner) & (Job.state == JobState.RUNNING) & Job.id.in_(ids)
        ).execute()

    def _retire(self) -> None:
        # Release whatever is still ours so the next runner resumes it at once.
        Job.update(state=JobState.QUEUED, lease_owner=None, lease_expires_at=None).where(
            (Job.lease_owner == self.owner) & (Job.state == JobState.RUNNING)
        ).execute()
        RunnerHeartbeat.delete().where(RunnerHeartbeat.owner == self.owner).execute()

    def _sweep(self) -> None:
        """Repair what a failed write left behind, and resume what a full disk stopped."""
        if repair_orphaned_syncs():
            log.warning("job runner: repaired entities left Syncing without a job")
        if database_has_room() and retry_after_disk_full(self.disk_full_retry):
            log.info("job runner: retrying jobs a full disk stopped")
            self.wake.set()

    # -- claiming -------------------------------------------------------------------------------

    async def _claim_and_start(self) -> None:
        while len(self._running) < self.max_concurrent and not self.stopping.is_set():
            job = await asyncio.to_thread(self._claim_one)
            if job is None:
                return
            key = job.store_id if job.store_id is not None else -job.id
            task = asyncio.create_task(self._execute(job))
            self._running[key] = task
            self._job_ids.add(job.id)
            task.add_done_callback(functools.partial(self._forget, key, job.id))

    def _forget(self, key: int, job_id: int, _task: object = None) -> None:
        self._running.pop(key, None)
        self._job_ids.discard(job_id)

    def _claim_one(self) -> Job | None:
        kinds = [kind for kind in self.handlers if not self.kinds or kind in self.kinds]
        busy_stores = [k for k in self._running if k >= 0]
        job_id = claim_next(self.owner, kinds, busy_stores, utcnow(), self.lease_seconds)
        return Job.get_by_id(job_id) if job_id is not None else None

    # -- running --------------------------------------------------------------------------------

    async def _execute(self, job: Job) -> None:
        handler = self.handlers[job.kind]
        ctx = JobContext(self.runtime, job, self)
        try:
            result = await handler(ctx)
        except JobInterrupted:
            await asyncio.to_thread(self._finish, job, JobState.QUEUED, None, None)
            return
        except JobFailed as error:
            await asyncio.to_thread(self._finish, job, JobState.FAILED, None, str(error))
            return
        except Exception as error:  # a handler bug must not kill the runner
            detail = database_fault(error)  # a full disk is said as such, not as a crash
            if detail is None:
                log.exception("job %s (%s) crashed", job.id, job.kind)
                detail = f"internal error: {type(error).__name__}: {error}"
            else:
                log.error("job %s (%s) stopped: %s", job.id, job.kind, detail)
            await asyncio.to_thread(self._finish, job, JobState.FAILED, None, detail)
            return
        await asyncio.to_thread(self._finish, job, JobState.DONE, result, None)

    def _finish(self, job: Job, state: JobState, result: dict | None, error: str | None) -> None:
        # The job's outcome must land: retry through a locked database rather than leave the
        # row "running" under a lease this runner keeps extending.
        for attempt in retrying_blocking(FINISH_RETRIES):
            try:
                self._write_finish(job, state, result, error)
                return
            except PeeweeError:
                if attempt == FINISH_RETRIES.attempts:
                    raise

    def _write_finish(self, job: Job, state: JobState, result: dict | None, error: str | None
                      ) -> None:
        values: dict = {"state": state, "lease_owner": None, "lease_expires_at": None}
        if state is JobState.QUEUED:
            values["attempts"] = Job.attempts  # unchanged; resumed by the next runner
        else:
            values.update(result=result, error=error, finished_at=utcnow())
        Job.update(**values).where((Job.id == job.id) & (Job.lease_owner == self.owner)).execute()
        self.wake.set()
