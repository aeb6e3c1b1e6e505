"""Several engines on one PostgreSQL: what two processes must agree on is in the database.

Each test opens a second connection (as another process would) next to the runtime's: the
change log with a transaction that commits late, claims racing from many connections (SKIP
LOCKED: every job claimed once), tombstones seen by another webhook worker, and one scheduler
ticking at a time.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg2
import pytest

from engine.domain.jobs import JobKind, JobState
from engine.jobs.claim import claim_next
from engine.persistence import reads
from engine.persistence.models import Job, Store, database, utcnow
from engine.sync.scheduler import SCHEDULER_LOCK, Scheduler
from engine.webhooks.context import ApplyContext


@pytest.fixture
def other_connection(pg_runtime):  # type: ignore[no-untyped-def]
    """A connection of "another process" to the same database."""
    connection = psycopg2.connect(pg_runtime.settings.resolved_database_url)
    yield connection
    connection.close()


def test_a_store_written_by_a_transaction_that_commits_late_is_not_missed(
    pg_runtime, other_connection
) -> None:
    from tests.tui.factories import make_store

    first, second = make_store("one.myshopify.com", "One"), make_store("two.myshopify.com", "Two")
    cursor = reads.change_cursor()
    late = other_connection.cursor()
    late.execute("UPDATE store SET name = 'Late' WHERE id = %s", (first.id,))  # not committed
    Store.update(name="Early").where(Store.id == second.id).execute()  # committed now
    changes = reads.changes_since(cursor)
    assert changes.store_ids == {second.id}
    other_connection.commit()  # the late one commits after the reader moved on
    again = reads.changes_since(changes.cursor)
    assert first.id in again.store_ids
    assert reads.store_summaries([first.id])[0].name == "Late"
    assert reads.changes_since(reads.changes_since(again.cursor).cursor).store_ids == frozenset()


def test_the_fleet_read_on_postgres_matches(pg_runtime) -> None:
    from tests.tui.factories import demo_fleet

    fleet = demo_fleet()
    stores = reads.list_stores()
    assert len(stores) == len(fleet) and reads.summarise(stores) == reads.fleet_summary()
    assert [s.name.lower() for s in stores] == sorted(s.name.lower() for s in stores)
    assert reads.store_summaries([fleet["healthy"].id]) == [
        s for s in stores if s.id == fleet["healthy"].id]
    assert all(row.last_synced_at is None or row.last_synced_at.tzinfo is None
               for s in stores for row in s.entities)


def test_concurrent_claims_take_every_job_once(pg_runtime) -> None:
    from engine.persistence.database import open_database

    jobs = 200
    with database.atomic():
        for number in range(jobs):  # store-less jobs: no per-store ordering, pure contention
            Job.create(kind=JobKind.HEALTH, store_id=None, params={"n": number})
    claimed: list[int] = []
    errors: list[BaseException] = []
    url = pg_runtime.settings.resolved_database_url

    def claimer(owner: str) -> None:
        try:
            open_database(url)  # this thread's own connection, as a separate process has
            while (job_id := claim_next(owner, [JobKind.HEALTH], [], utcnow(), 60)) is not None:
                claimed.append(job_id)
        except BaseException as error:
            errors.append(error)
        finally:
            database.close()

    threads = [threading.Thread(target=claimer, args=(f"r{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(claimed) == jobs and len(set(claimed)) == jobs
    assert Job.select().where(Job.state == JobState.RUNNING).count() == jobs


def test_a_tombstone_written_by_one_worker_stops_a_late_update_at_another(pg_runtime) -> None:
    from tests.engine.livedata_support import store_row

    store = store_row("tomb.myshopify.com")
    key = (store.id, "orders", 4007)
    deleted = datetime(2026, 11, 2, 11, 0, tzinfo=UTC)
    ApplyContext().tombstone(key, deleted)  # the serve process that applied orders/delete
    other = ApplyContext()  # another serve process, which never saw the delete
    assert other.deleted_at(key) == deleted
    ApplyContext().remember(key, datetime(2026, 11, 2, 12, 0, 0, 500_000, tzinfo=UTC))
    assert other.triggered_later(key, datetime(2026, 11, 2, 12, 0, tzinfo=UTC))
    assert not other.triggered_later(key, datetime(2026, 11, 2, 12, 0, 1, tzinfo=UTC))


def test_one_scheduler_ticks_at_a_time(pg_runtime, other_connection) -> None:
    from tests.engine.livedata_support import mark_synced, store_row

    store = store_row("sched.myshopify.com")
    mark_synced(store)
    holder = other_connection.cursor()
    holder.execute("SELECT pg_advisory_lock(hashtext(%s))", (SCHEDULER_LOCK,))
    scheduler = Scheduler(pg_runtime.settings)
    assert scheduler.tick().queued == 0  # the other serve process is ticking
    holder.execute("SELECT pg_advisory_unlock(hashtext(%s))", (SCHEDULER_LOCK,))
    assert scheduler.tick().queued > 0
    assert Scheduler(pg_runtime.settings).tick().queued == 0  # nothing is due twice
