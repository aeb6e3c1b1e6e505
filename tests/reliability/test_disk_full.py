"""Disk full (issue 10 §5): the job and the entity say "database or disk is full" (not "cannot
rollback - no transaction is active"), `connect` exits 1, no entity stays Syncing without a job
(the runner's sweep), and syncing resumes by itself once space returns.

The full disk is SQLite's own size cap (tests/reliability/disk_limit.py): the same SQLITE_FULL a
full filesystem gives, on the test's database only."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.domain.jobs import JobState
from engine.persistence.models import EntitySync, Job, database
from tests.reliability.disk_limit import DiskLimit
from tests.support import wait_until

FAST = {"bulk_rate": 500_000}
FULL = "database or disk is full"


def _entity(store_id: int, entity: str = "customers") -> EntitySync:
    return EntitySync.get(EntitySync.store == store_id, EntitySync.entity == entity)


@pytest.mark.timeout(120)
def test_disk_full_is_reported_as_such_and_resumes_once_space_returns(
    runtime: Any, make_store: Any, sim: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.jobs.queue import enqueue
    from engine.persistence import reads
    from engine.registry import make_runner

    store = make_store(customers=3000, **FAST)
    limit = DiskLimit()
    limit.install(monkeypatch, database.connection())
    limit.fill(database.connection())
    runner = make_runner(runtime, sweep_interval=0.1, disk_full_retry=0.3).start_thread()
    try:
        job = enqueue("sync", store, entity="customers", params={"mode": "full"})
        runner.notify()
        failed = wait_until(lambda: (j := Job.get_by_id(job.id)).state.finished and j, 60)
        assert failed.state is JobState.FAILED
        assert failed.error.startswith(FULL), failed.error
        assert "rollback" not in failed.error and "nternal error" not in failed.error
        # What the dashboard and `show` read: the entity says why, and is not left Syncing.
        row = wait_until(lambda: next(
            r for r in reads.store_summary(store.id).entities if r.entity.value == "customers"
            if r.state.value != "syncing"), 10)
        assert row.state.value == "failed" and (row.error or "").startswith(FULL), row

        limit.lift()  # space returns: nobody retries by hand
        resumed = wait_until(lambda: Job.select().where(
            (Job.store_id == store.id) & (Job.entity == "customers")
            & (Job.state == JobState.DONE) & (Job.id > job.id)).first(), 60)
        assert resumed.params == {"mode": "full"}
        synced = wait_until(lambda: (s := _entity(store.id)).state == "synced" and s, 10)
        assert synced.records == len(sim.ids(store.domain, "customers")) == 3000
        assert synced.error is None
    finally:
        runner.stop()


@pytest.mark.timeout(60)
def test_an_entity_left_syncing_without_a_job_is_repaired_by_the_runner(
    runtime: Any, make_store: Any,
) -> None:
    """A sync whose outcome could not be written (the disk was full for that write too, or the
    process died in between) leaves its entity Syncing with no job: the runner's sweep repairs
    it from the entity's last job."""
    from engine.jobs.queue import enqueue
    from engine.registry import make_runner

    store = make_store(customers=2)
    failed = enqueue("sync", store, entity="customers")
    Job.update(state=JobState.FAILED, error=f"{FULL}: free space").where(
        Job.id == failed.id).execute()
    EntitySync.update(state="syncing").where(
        (EntitySync.store == store.id) & EntitySync.entity.in_(["customers", "orders"])).execute()
    runner = make_runner(runtime, sweep_interval=0.1, disk_full_retry=3600).start_thread()
    try:
        customers = wait_until(lambda: (s := _entity(store.id)).state != "syncing" and s, 10)
        assert customers.state == "failed" and customers.error.startswith(FULL)
        orders = wait_until(lambda: (s := _entity(store.id, "orders")).state != "syncing" and s)
        assert orders.state == "pending"  # never synced, no job: what it showed before
    finally:
        runner.stop()


@pytest.mark.timeout(180)
def test_connect_on_a_full_disk_exits_1_and_says_why(
    shopsync: Callable[..., subprocess.CompletedProcess[str]], cli_env: dict[str, str],
    sim_shop: Callable[..., dict], _isolated_environment: Path, unique_domain: str,
) -> None:
    assert shopsync("stores").returncode == 0  # the database, before the disk fills
    with sqlite3.connect(_isolated_environment / "shopsync.db") as connection:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
    shop = sim_shop(unique_domain, customers=3000, **FAST)
    site = Path(__file__).parent / "disk_full_site"
    cli_env["PYTHONPATH"] = f"{site}:{cli_env['PYTHONPATH']}"
    cli_env["SHOPSYNC_TEST_MAX_PAGES"] = str(pages + 40)  # room for the store, not its records
    result = shopsync("connect", shop["domain"], "--token", shop["access_token"])
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "rollback" not in result.stderr, result.stderr
    assert f"Error: {FULL}" in result.stderr, result.stderr
