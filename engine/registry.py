"""Which function runs each kind of job: the one place where the job queue meets the work.

`engine.jobs` knows nothing of syncs, health checks or deletes; whoever starts a `Runner` passes
it `JOB_HANDLERS` (or `start_runner` does). The loop jobs → handler → sync → `jobs.enqueue` is
therefore written here, in one plain mapping, instead of hidden behind strings and decorators.
"""

from __future__ import annotations

from typing import Any

from engine.domain.jobs import JobKind
from engine.jobs.runner import Handler, Runner
from engine.lifecycle import delete, health, subscriptions
from engine.persistence.runtime import Runtime
from engine.sync import job as sync_job

JOB_HANDLERS: dict[JobKind, Handler] = {
    JobKind.SYNC: sync_job.run_sync,
    JobKind.HEALTH: health.run_health,
    JobKind.DELETE: delete.run_delete,
    JobKind.WEBHOOKS: subscriptions.assert_webhooks,
    JobKind.COUNTS: health.run_count_check,
}


def make_runner(runtime: Runtime, *, kind: str = "embedded", **options: Any) -> Runner:
    """A runner that knows every job kind (not yet started)."""
    return Runner(runtime, kind=kind, handlers=JOB_HANDLERS, **options)
