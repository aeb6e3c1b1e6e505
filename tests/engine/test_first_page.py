"""The dashboard's first screenful (`reads.first_page`): the first stores in the fleet's order,
what `first_summaries` gives, read on SQLite from the first keys of fleet_row alone."""

from __future__ import annotations

from engine.persistence import reads
from engine.persistence.models import Store, database


def _same_as_first_summaries(limits: tuple[int, ...]) -> None:
    for limit in limits:
        assert reads.first_page(limit) == reads.first_summaries(limit), limit


def test_the_first_page_is_the_first_stores_in_the_fleets_order(offline_runtime) -> None:
    from tests.tui.factories import bulk_fleet, demo_fleet, make_store

    demo_fleet()  # every status and entity state, markup and escape sequences in names
    bulk_fleet(300)
    make_store("nameless.myshopify.com", "")  # sorted by its domain
    total = Store.select().count()
    _same_as_first_summaries((1, 15, 120, total, total + 5))
    assert [s.name for s in reads.first_page(total)] == [s.name for s in reads.list_stores()]
    assert reads.first_page(0) == []

    # A write moves a store to the front: the page follows it (the triggers keep fleet_row).
    last = reads.list_stores()[-1]
    Store.update(name="!first now").where(Store.id == last.id).execute()
    assert reads.first_page(1)[0].id == last.id
    _same_as_first_summaries((1, 15, 120))
    # A store deleted leaves it.
    database.execute_sql("DELETE FROM store WHERE id = ?", (last.id,))
    assert last.id not in {s.id for s in reads.first_page(total)}
    _same_as_first_summaries((1, 15, total))


def test_an_empty_fleet_has_an_empty_first_page(offline_runtime) -> None:
    assert reads.first_page(120) == []


def test_the_first_page_on_postgres(pg_runtime) -> None:
    from tests.tui.factories import demo_fleet

    demo_fleet()
    _same_as_first_summaries((1, 5, 120))
