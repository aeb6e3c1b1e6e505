"""The fleet read (two queries, tuples) and the store change log behind "changed since".

The old per-model read is the oracle for the new one: the same fixture fleet must give the
same summaries. The change log is exercised through every kind of writer: model updates,
raw SQL, cascaded deletes, job state changes (and not job heartbeats).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.domain.progress import SyncProgress
from engine.domain.status import ENTITY_ORDER, Category, Check, Entity, EntityState, Status
from engine.domain.views import EntityRow, ReadinessItem, StoreSummary
from engine.persistence import fleet, reads
from engine.persistence.models import (
    EntitySync,
    Job,
    SchemaMeta,
    Store,
    StoreChange,
    database,
    utcnow,
)


@pytest.fixture
def sql_log(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the bound database runs while the test watches."""
    statements: list[str] = []
    real = database.obj.execute_sql

    def watched(sql: str, params=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(database.obj, "execute_sql", watched)
    return statements


@pytest.fixture
def small_fleet(offline_runtime):  # type: ignore[no-untyped-def]
    from tests.tui.factories import demo_fleet

    return demo_fleet()


def test_the_tuple_read_gives_what_the_model_read_gives(small_fleet) -> None:
    from tests.tui.factories import make_store

    make_store("nameless.myshopify.com", "", categories={Category.ORDERS: False})
    stores = reads.list_stores()
    assert len(stores) == Store.select().count()
    for summary in stores:
        store = Store.get_by_id(summary.id)
        syncs = {s.entity: s for s in EntitySync.select().where(EntitySync.store == store.id)}
        assert summary.name == (store.name or store.domain)
        assert summary.status is Status(store.status)
        for row in summary.entities:
            sync = syncs.get(row.entity.value)
            assert row.state is reads.entity_state(store, sync)
            assert row.records == (sync.records if sync else 0)
            assert row.last_synced_at == (sync.last_synced_at if sync else None)
            assert row.error == (sync.error if sync else None)
        active = set(Job.select(Job.kind).where(
            (Job.store_id == store.id) & Job.state.in_(("queued", "running"))).tuples())
        assert summary.busy == bool(active)
        assert summary.checking == (("health",) in active)
    nameless = next(s for s in stores if s.domain == "nameless.myshopify.com")
    assert nameless.name == "nameless.myshopify.com"
    assert nameless.entity(Entity.ORDERS).state is EntityState.OFF
    assert [s.name.lower() for s in stores] == sorted(s.name.lower() for s in stores)
    assert reads.summarise(stores) == reads.fleet_summary()


def test_ten_thousand_summaries_take_one_query(offline_runtime, sql_log) -> None:
    from tests.tui.factories import bulk_fleet

    bulk_fleet(10_000)
    sql_log.clear()
    stores = reads.list_stores()
    assert len(stores) == 10_000
    assert len(sql_log) == 1, sql_log  # one query, whatever the fleet's size
    assert reads.store_summaries([stores[5].id]) == [stores[5]]


def test_the_fleet_comes_in_display_order_from_sql_or_python(offline_runtime) -> None:
    """SQLite keeps fleet_row in the fleet's order, so an all-ASCII fleet is read in display
    order with no sort in Python; SQL's LOWER folds ASCII only, so a non-ASCII name or domain
    sends the read back to Python's sort. Either way: display_order, whatever the ids' order."""
    from tests.tui.factories import make_store

    for domain, name in [("c.myshopify.com", "cherry"), ("b2.myshopify.com", "Banana"),
                         ("a.myshopify.com", "apple"), ("b1.myshopify.com", "banana"),
                         ("aa.myshopify.com", ""), ("z.myshopify.com", "Zebra"),
                         ("x.myshopify.com", "_under"), ("y.myshopify.com", "Apple pie")]:
        make_store(domain, name)

    def in_order() -> None:
        stores = reads.list_stores()
        assert [s.domain for s in stores] == [
            s.domain for s in sorted(stores, key=lambda s: (s.name.lower(), s.domain))]
        assert reads.store_summaries([s.id for s in stores][::-1]) == stores

    in_order()
    plan = " ".join(str(row) for row in database.execute_sql(
        "EXPLAIN QUERY PLAN SELECT body FROM fleet_row ORDER BY sort_name, domain, store_id"))
    assert "TEMP B-TREE" not in plan.upper(), plan  # a scan of the key, no sort
    make_store("e.myshopify.com", "Épicerie")  # LOWER leaves É: SQL's order is not Python's
    make_store("d.myshopify.com", "Ünder")
    Store.update(name="ábaco").where(Store.domain == "z.myshopify.com").execute()
    in_order()


def test_a_big_read_leaves_its_values_in_the_old_generation_and_the_gc_as_it_was(
        offline_runtime) -> None:
    """The GC is paused while a read builds its values, then they are moved to the old
    generation untraversed (freeze + unfreeze): the GC is on again, the young generations
    are empty, and a caller's own frozen objects (or a paused GC) are left alone."""
    import gc

    from tests.tui.factories import bulk_fleet

    bulk_fleet(600)  # 1,200 containers (a summary and its cell each): more than a
    gc.collect()     # generation-0 collection waits for
    stores = reads.list_stores()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert gc.get_count()[0] < gc.get_threshold()[0]
    old = {id(value) for value in gc.get_objects(generation=2)}
    assert all(id(store) in old and id(tuple.__getitem__(store, 4)) in old for store in stores)
    assert fleet.read_summaries() == stores

    gc.freeze()  # someone else's frozen objects: not thawed by a read
    try:
        frozen = gc.get_freeze_count()
        assert fleet.read_summaries() == stores
        # A frozen object that is freed leaves the count (other threads of this process free
        # some during the read: seen 8 of 187,803 under xdist); a read that thawed them would
        # leave 0, one that froze its own values thousands more.
        assert frozen - 100 <= gc.get_freeze_count() <= frozen and gc.isenabled()
    finally:
        gc.unfreeze()
    gc.disable()  # a caller that paused the GC keeps it paused
    try:
        assert fleet.read_summaries() == stores
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_idle_poll_reads_only_the_log(small_fleet, sql_log) -> None:
    cursor = reads.change_cursor()
    sql_log.clear()
    changes = reads.changes_since(cursor)
    assert changes.store_ids == frozenset() and not changes.everything
    assert all("store_change" in sql or "schema_meta" in sql for sql in sql_log), sql_log
    assert not any(" store " in sql or "entity_sync" in sql for sql in sql_log)


def _stored_rows_are_current() -> None:
    """Every store's fleet_row (SQLite) is what the store, its entity rows and jobs give now."""
    stored = {row[0]: row[1:] for row in database.execute_sql(
        "SELECT store_id, sort_name, domain, head, body FROM fleet_row").fetchall()}
    live = {row[0]: row[1:] for row in database.execute_sql(
        f"SELECT s.id, {fleet._SORT_NAME}, s.domain, {fleet._HEAD_JSON}, {fleet._ROW_JSON} "
        f"{fleet._FROM}")}
    assert stored == live


def test_every_writer_advances_the_log(small_fleet) -> None:
    first, second = small_fleet["healthy"], small_fleet["new"]

    def changed_by(write) -> frozenset[int]:  # type: ignore[no-untyped-def]
        cursor = reads.change_cursor()
        write()
        changes = reads.changes_since(cursor)
        assert not changes.everything
        assert changes.cursor > cursor or not changes.store_ids
        _stored_rows_are_current()  # the same triggers rewrite the stored fleet rows
        return changes.store_ids

    assert changed_by(lambda: Store.update(name="X").where(Store.id == first.id).execute()) \
        == {first.id}
    assert changed_by(lambda: EntitySync.update(done=5).where(
        EntitySync.store == second.id).execute()) == {second.id}
    assert changed_by(lambda: database.execute_sql(
        "UPDATE entity_sync SET records = records + 1 WHERE store_id = ?", (first.id,))) \
        == {first.id}
    job = Job.create(kind="health", store_id=second.id, store_domain=second.domain)
    assert changed_by(lambda: Job.update(state="running").where(Job.id == job.id).execute()) \
        == {second.id}
    # A heartbeat changes nothing any fleet view shows: no log row, no re-read.
    assert changed_by(lambda: Job.update(heartbeat_at=Job.created_at).where(
        Job.id == job.id).execute()) == frozenset()
    assert changed_by(lambda: Job.delete().where(Job.id == job.id).execute()) == {second.id}
    assert changed_by(lambda: Store.delete().where(Store.id == first.id).execute()) \
        == {first.id}
    assert reads.store_summaries([first.id]) == []  # a reader learns it is gone


def test_merge_replaces_changed_stores_drops_deleted_ones_and_adds_new_ones(small_fleet) -> None:
    from tests.tui.factories import make_store

    shown = reads.list_stores()
    cursor = reads.change_cursor()
    renamed, gone = small_fleet["healthy"], small_fleet["new"]
    Store.update(name="Zzz Last").where(Store.id == renamed.id).execute()
    Store.delete().where(Store.id == gone.id).execute()
    added = make_store("aaa-first.myshopify.com", "Aaa First")
    changes = reads.changes_since(cursor)
    assert changes.store_ids == {renamed.id, gone.id, added.id}
    merged = reads.merge_changes(shown, changes.store_ids,
                                 reads.store_summaries(sorted(changes.store_ids)))
    assert merged == reads.list_stores()
    names = [store.name for store in merged]
    assert "Aaa First" in names and gone.id not in {store.id for store in merged}
    assert reads.changes_since(changes.cursor).store_ids == frozenset()


def test_a_cursor_older_than_the_pruned_log_asks_for_everything(small_fleet) -> None:
    cursor = reads.change_cursor()
    Store.update(name="Later").where(Store.id == small_fleet["healthy"].id).execute()
    Store.update(name="Later too").where(Store.id == small_fleet["new"].id).execute()
    StoreChange.update(at=utcnow() - timedelta(hours=2)).execute()
    assert fleet.prune_changes() > 0
    assert StoreChange.select().count() == 1  # the newest row stays
    assert SchemaMeta.get_by_id(fleet.PRUNED_KEY)
    assert reads.changes_since(cursor).everything
    fresh = reads.change_cursor()
    assert not reads.changes_since(fresh).everything
    # The log's ids keep rising after a prune (SQLite would reuse the ids of deleted rows).
    Store.update(name="Again").where(Store.id == small_fleet["healthy"].id).execute()
    assert reads.changes_since(fresh).store_ids == {small_fleet["healthy"].id}


def test_a_running_syncs_own_columns_are_read_only_while_it_syncs(offline_runtime) -> None:
    """progress_at, started_at and progress_info describe the run in progress: a Syncing
    entity has them (stuck detection and the ETA read them); on any other row they are the
    last run's leftovers and the fleet read leaves them out."""
    from tests.tui.factories import make_store

    store = make_store("running.myshopify.com", states={Entity.ORDERS: EntityState.SYNCING})
    at = utcnow() - timedelta(minutes=5)
    EntitySync.update(progress_at=at, started_at=at - timedelta(minutes=1),
                      progress_info='{"phase": "import"}').where(
        EntitySync.store == store.id).execute()
    summary = fleet.read_summaries([store.id])[0]
    orders = summary.entity(Entity.ORDERS)
    assert orders.state is EntityState.SYNCING
    assert (orders.progress_at, orders.started_at) == (at, at - timedelta(minutes=1))
    for row in summary.entities:
        if row.entity is not Entity.ORDERS:
            assert row.state is EntityState.SYNCED
            assert (row.progress_at, row.started_at, row.progress) == (None, None, None)
            assert row.last_synced_at is not None
    # Every field of the tuples built without NamedTuple.__new__ is there, in its place.
    assert len(summary) == len(type(summary)._fields)
    assert all(len(row) == len(type(row)._fields) for row in summary.entities)
    assert reads.store_summary(store.id) == summary


# -- every field against an oracle built from the models ---------------------------------------

def _oracle(store: Store) -> StoreSummary:
    """What the fleet read must give for `store`, worked out the slow, obvious way."""
    syncs = {s.entity: s for s in EntitySync.select().where(EntitySync.store == store.id)}
    active = list(Job.select().where(
        (Job.store_id == store.id) & Job.state.in_(("queued", "running"))))
    rows = []
    for entity in ENTITY_ORDER:
        sync = syncs.get(entity.value)
        if sync is None:
            rows.append(EntityRow(entity, EntityState.PENDING, 0))
            continue
        syncing = sync.state == EntityState.SYNCING.value
        rows.append(EntityRow(
            entity, reads.entity_state(store, sync), sync.records,
            (sync.done or 0) if syncing else 0, sync.total if syncing else None,
            sync.last_synced_at, sync.error,
            sync.progress_at if syncing else None, sync.started_at if syncing else None,
            SyncProgress.from_json(sync.progress_info) if syncing and sync.progress_info
            else None,
            sync.full_failed_at,
            sync.state == EntityState.PENDING.value and any(
                job.kind == "sync" and job.entity == entity.value for job in active)))
    readiness = []
    for check in Check:
        entry = (store.readiness or {}).get(check.value) or {}
        ok, detail = entry.get("ok"), entry.get("detail")
        if check is Check.INITIAL_SYNC_COMPLETE and store.initial_sync_completed_at:
            ok, detail = True, None
        readiness.append(ReadinessItem(check, ok, detail))
    times = [row.last_synced_at for row in rows if row.last_synced_at is not None]
    return StoreSummary(
        store.id, store.domain, store.name or store.domain, Status(store.status),
        store.status_detail, tuple(rows), tuple(readiness), store.last_checked_at,
        max(times, default=None), sum(row.records for row in rows), bool(store.paused),
        bool(store.deleting), any(job.kind == "health" for job in active), bool(active))


def _varied_fleet() -> dict[str, Store]:
    """The demo fleet plus what it lacks: a queued sync of a Pending entity, a running sync with
    its phase and rate, a failed full sync, a store with no entity rows, a nameless store."""
    from tests.tui.factories import demo_fleet, make_store

    fleet = demo_fleet()
    new, syncing, healthy = fleet["new"], fleet["syncing"], fleet["healthy"]
    Job.create(kind="sync", store_id=new.id, store_domain=new.domain, entity="orders")
    at = utcnow().replace(microsecond=0) - timedelta(minutes=3)
    EntitySync.update(progress_at=at, started_at=at - timedelta(seconds=90), done=25, total=100,
                      progress_info={"phase": "import", "rate": 12.5,
                                     "updated_at": "2026-11-30T10:00:00.000000Z"}).where(
        EntitySync.store == syncing.id).execute()
    EntitySync.update(full_failed_at=at - timedelta(days=1), full_error="boom").where(
        (EntitySync.store == healthy.id) & (EntitySync.entity == "products")).execute()
    # A finished sync leaves its bar's done and total (a real one does): only a Syncing row
    # shows them.
    EntitySync.update(done=40, total=40).where(
        (EntitySync.store == healthy.id) & (EntitySync.entity == "customers")).execute()
    bare = make_store("bare.myshopify.com", "")
    EntitySync.delete().where(EntitySync.store == bare.id).execute()
    fleet["bare"] = bare
    return fleet


def _assert_every_field_matches_the_oracle() -> None:
    stores = reads.list_stores()
    expected = sorted((_oracle(store) for store in Store.select()),
                      key=lambda s: (s.name.lower(), s.domain))
    assert stores == expected
    assert [s.id for s in reads.store_summaries([s.id for s in expected[::-1]])] == \
        [s.id for s in expected]
    syncing = next(s for s in stores if s.domain == "sunrise-surf.myshopify.com")
    orders = syncing.entity(Entity.ORDERS)
    assert orders.progress is not None and orders.started_at is not None
    assert (orders.done, orders.total) == (25, 100)
    assert all((row.done, row.total) == (0, None)
               for row in syncing.entities if row.state is not EntityState.SYNCING)
    new = next(s for s in stores if s.domain == "fresh-start.myshopify.com")
    assert new.entity(Entity.ORDERS).queued and not new.entity(Entity.CUSTOMERS).queued
    bare = next(s for s in stores if s.domain == "bare.myshopify.com")
    assert bare.name == bare.domain and bare.records_total == 0
    assert bare.last_synced_at is None
    assert all(row.state is EntityState.PENDING for row in bare.entities)
    assert reads.summarise(stores) == reads.fleet_summary()


def test_every_field_of_every_summary_matches_the_model_read(offline_runtime) -> None:
    _varied_fleet()
    _assert_every_field_matches_the_oracle()
    assert reads.store_summaries([]) == []
    Store.delete().execute()
    assert reads.list_stores() == []


def test_every_field_matches_on_postgres(pg_runtime) -> None:
    _varied_fleet()
    _assert_every_field_matches_the_oracle()


def test_the_stored_fleet_rows_follow_every_writer_and_a_new_shape(offline_runtime) -> None:
    """SQLite keeps each store's row as JSON (fleet_row), rewritten by the change triggers: a
    write anywhere (model, raw SQL, cascade, job state) leaves every row current, and a row
    shape this database was not built with (an upgrade) re-creates the rows and triggers."""
    from engine.persistence.database import migrate
    from tests.tui.factories import make_store

    stores = _varied_fleet()
    _stored_rows_are_current()
    store = stores["healthy"]
    EntitySync.update(state="syncing", progress_at=utcnow(), started_at=utcnow(),
                      progress_info={"phase": "export"}).where(
        (EntitySync.store == store.id) & (EntitySync.entity == "orders")).execute()
    Store.update(cat_orders=False, paused=True).where(Store.id == store.id).execute()
    job = Job.create(kind="health", store_id=store.id, store_domain=store.domain)
    _stored_rows_are_current()
    assert reads.store_summary(store.id).checking
    Job.update(state="done").where(Job.id == job.id).execute()
    database.execute_sql("DELETE FROM entity_sync WHERE store_id = ? AND entity = 'products'",
                         (store.id,))
    make_store("later.myshopify.com", "Later")
    Store.delete().where(Store.id == stores["failing"].id).execute()  # cascades
    _stored_rows_are_current()
    assert not reads.store_summary(store.id).checking
    _assert_every_field_matches_the_oracle()
    # A database built with another row shape: rows and triggers are made again on open.
    database.execute_sql("UPDATE fleet_row SET body = '[]'")
    SchemaMeta.update(value="older").where(SchemaMeta.key == fleet.FLEET_ROW_SHAPE_KEY).execute()
    migrate(database.obj)
    _stored_rows_are_current()
    assert SchemaMeta.get_by_id(fleet.FLEET_ROW_SHAPE_KEY).value == fleet.FLEET_ROW_SHAPE


# -- the SQLite read's summaries decode their rows on first use ---------------------------------

def test_a_lazy_summary_is_to_its_caller_the_summary_of_the_same_values(offline_runtime) -> None:
    """On SQLite a read builds each store's id, domain, name and status and keeps the rest as
    its stored row, decoded on first use (fleet._LazySummary). To a caller it must be the
    StoreSummary of the same values: fields, methods, equality either way round, hashing,
    ordering, repr, the tuple protocol, _replace, _asdict, pickling, copying and to_json."""
    import copy
    import pickle

    from tests.tui.factories import make_store

    fleet_stores = _varied_fleet()
    # Control characters and multi-byte UTF-8 survive in every text, and between the stores
    # around them: the bodies are cut apart by their lengths in bytes.
    make_store("lines.myshopify.com", "Two\nlines\r\x00", errors={Entity.ORDERS: "a\nb\x1e"},
               states={Entity.ORDERS: EntityState.FAILED})
    make_store("tokyo.myshopify.com", "Épicerie ☕ 東京", errors={Entity.ORDERS: "ünïcode ☕"},
               states={Entity.ORDERS: EntityState.FAILED})
    stores = reads.list_stores()
    assert all(isinstance(s, fleet._LazySummary) and not s.decoded() for s in stores)
    expected = {store.id: _oracle(store) for store in Store.select()}
    for lazy in stores:
        eager = expected[lazy.id]
        assert type(eager) is StoreSummary
        # the head, without decoding
        assert (lazy.id, lazy.domain, lazy.name, lazy.status) == tuple(eager[:4])
        assert isinstance(lazy, StoreSummary) and isinstance(lazy, tuple)
        assert not lazy.decoded()
        # every field, then the whole value, in every protocol a caller might use
        for name in StoreSummary._fields:
            assert getattr(lazy, name) == getattr(eager, name), name
        assert lazy.decoded()
        assert lazy == eager and eager == lazy
        assert not (lazy != eager) and not (eager != lazy)  # noqa: SIM202 (the operator)
        assert hash(lazy) == hash(eager) and {lazy: 1}[eager] == 1
        assert repr(lazy) == repr(eager) and str(lazy) == str(eager)
        assert len(lazy) == len(eager) == len(StoreSummary._fields)
        assert tuple(lazy) == tuple(eager) and list(lazy) == list(eager)
        assert [lazy[i] for i in range(-14, 14)] == [eager[i] for i in range(-14, 14)]
        assert lazy[2:6] == eager[2:6] and lazy[::-1] == eager[::-1]
        assert lazy.entities[0] in lazy.entities and lazy.name in lazy
        assert lazy.count(lazy.name) == eager.count(eager.name)
        assert lazy.index(lazy.domain) == 1
        assert lazy + (1,) == eager + (1,)  # noqa: RUF005 (the operator)
        assert lazy * 2 == eager * 2 == 2 * lazy
        assert lazy._asdict() == eager._asdict()
        assert lazy._replace(name="Other") == eager._replace(name="Other")
        assert type(lazy._replace(name="x")) is StoreSummary
        assert lazy.to_json() == eager.to_json()
        assert lazy.entity(Entity.ORDERS) == eager.entity(Entity.ORDERS)
        for clone in (pickle.loads(pickle.dumps(lazy)), copy.copy(lazy), copy.deepcopy(lazy)):
            assert clone == eager and type(clone) is StoreSummary
        assert StoreSummary._make(lazy) == eager
        other = expected[next(s.id for s in stores if s.id != lazy.id)]
        assert lazy != other and other != lazy
        assert (lazy < other) == (eager < other) and (other < lazy) == (other < eager)
        assert (lazy <= other, lazy > other, lazy >= other) == \
            (eager <= other, eager > other, eager >= other)
    # decode_all decodes a read at once (column-wise): the same values.
    batch = reads.list_stores()
    fleet.decode_all(batch)
    assert all(s.decoded() and type(s.whole()) is StoreSummary for s in batch)
    assert [tuple(s.whole()) for s in batch] == [tuple(expected[s.id]) for s in batch]
    fleet.decode_all(batch)  # nothing left to decode
    lines = next(s for s in stores if s.domain == "lines.myshopify.com")
    assert lines.name == "Two\nlines\r\x00"
    assert lines.entity(Entity.ORDERS).error == "a\nb\x1e"
    tokyo = next(s for s in stores if s.domain == "tokyo.myshopify.com")
    assert (tokyo.name, tokyo.entity(Entity.ORDERS).error) == ("Épicerie ☕ 東京", "ünïcode ☕")
    # Two reads of the same rows are equal before either is decoded, and to each other's
    # decoded form; a changed store is not.
    again, fresh = reads.list_stores(), reads.list_stores()
    assert again == fresh and not any(s.decoded() for s in again + fresh)
    assert again == stores and sorted(again) == sorted(expected.values())
    healthy = fleet_stores["healthy"]
    Store.update(status_detail="changed").where(Store.id == healthy.id).execute()
    assert reads.store_summary(healthy.id) != next(s for s in again if s.id == healthy.id)


def test_a_read_decodes_nothing_until_asked_and_then_once(offline_runtime) -> None:
    """The read decodes no store's row; using a field of one store decodes that store alone,
    once (the same objects on every later use); decode_all decodes the rest."""
    from tests.tui.factories import bulk_fleet

    bulk_fleet(200)
    stores = reads.list_stores()
    assert not any(s.decoded() for s in stores)
    page = stores[:20]
    rows = [s.entities for s in page]
    assert [s.decoded() for s in stores] == [True] * 20 + [False] * 180
    assert all(s.entities is row for s, row in zip(page, rows, strict=True))
    fleet.decode_all(stores)
    assert all(s.decoded() for s in stores)
    assert stores == reads.list_stores()
    # The first screenful, and a read of some ids, are lazy too.
    assert not any(s.decoded() for s in reads.first_page(50))
    assert not any(s.decoded() for s in reads.store_summaries([s.id for s in stores[:600]]))
