"""The importer's fast paths give exactly what the plain paths give.

- engine.sync.rows.FAST maps a plain export line with itemgetter and inline GID parsing to the
  whole row the importer writes, and raises on anything else so the row mappers decide: on
  arbitrary JSON (and on well-formed lines), a fast row is the row mapper's row between the
  store id and the run's bookkeeping, value for value and type for type.
- On SQLite the importer writes a batch as one multi-row upsert (engine.persistence.sql.
  upsert_values_sql); the tables it leaves are the ones executemany of the one-row upsert
  leaves, bookkeeping (seen_run, changed_run) included, also when one batch holds a key twice
  and when a batch is longer than one statement may be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.domain.coerce import scalar_row
from engine.persistence.models import database
from engine.persistence.runtime import Runtime
from engine.sync import importer as importer_module
from engine.sync import rows
from engine.sync.importer import Importer
from tests.engine.livedata_support import store_row

SCALARS = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | (
    st.floats(allow_nan=False, allow_infinity=False)) | st.text(max_size=12)
JSON = st.recursive(SCALARS, lambda children: st.lists(children, max_size=3) | st.dictionaries(
    st.sampled_from(("id", "shopMoney", "amount", "x")) | st.text(max_size=6), children,
    max_size=3), max_leaves=8)
GIDS = st.builds(lambda kind, n: f"gid://shopify/{kind}/{n}",
                 st.sampled_from(("Order", "LineItem", "Customer", "ProductVariant")),
                 st.integers(min_value=-5, max_value=2**64)) | st.sampled_from(
    ("gid://shopify/Order/12?x=1", "gid://shopify/Order/", "12", "gid://shopify/Order/²",
     "gid://shopify/Order/ 7", "gid://shopify/Order/1_000"))
REFS = st.none() | st.fixed_dictionaries({"id": GIDS | JSON}) | JSON
MONEY = st.none() | st.fixed_dictionaries({"shopMoney": st.fixed_dictionaries(
    {"amount": st.text(max_size=8) | JSON, "currencyCode": st.just("USD")})}) | (
    st.fixed_dictionaries({"amount": st.text(max_size=8)})) | JSON
FIELDS = {
    "id": GIDS | JSON, "customer": REFS, "variant": REFS, "totalPriceSet": MONEY,
    "originalUnitPriceSet": MONEY, "quantity": st.integers(min_value=-3, max_value=50) | JSON,
    "tags": st.lists(st.text(max_size=5) | JSON, max_size=3) | JSON, "price": JSON,
}
NAMES = ("name", "email", "displayFinancialStatus", "displayFulfillmentStatus", "currencyCode",
         "processedAt", "cancelledAt", "closedAt", "createdAt", "updatedAt", "sku", "title",
         "handle", "status", "vendor", "productType")
LINES = st.fixed_dictionaries({}, optional={
    **FIELDS, **{name: st.none() | st.text(max_size=10) | JSON for name in NAMES},
})
# Every field present (the export's shape), values mostly plain, sometimes not.
PLAIN = st.fixed_dictionaries({
    **{name: st.none() | st.text(max_size=10) | SCALARS | JSON for name in NAMES},
    "id": GIDS, "customer": st.none() | st.fixed_dictionaries({"id": GIDS}) | REFS,
    "variant": st.none() | st.fixed_dictionaries({"id": GIDS}) | REFS,
    "totalPriceSet": MONEY, "originalUnitPriceSet": MONEY,
    "quantity": st.none() | st.integers(min_value=-2, max_value=50) | SCALARS,
    "tags": st.lists(st.text(max_size=5), max_size=3) | JSON,
    "price": st.none() | st.text(max_size=6) | SCALARS,
})

PLAIN_MAPPERS: dict[str, Callable[[dict, int | None], rows.Row]] = {
    "order": lambda o, _p: rows.order_row(o),
    "order_line_item": rows.line_item_row,
    "product": lambda o, _p: rows.product_row(o),
    "product_variant": rows.variant_row,
}


def _typed(row: tuple[Any, ...]) -> list[tuple[type, Any]]:
    return [(type(value), value) for value in row]  # 1 == 1.0 == True: compare types too


STORE, RUN = 41, 7


def _same_rows(o: dict[str, Any], parent: int | None) -> int:
    """Fast rows equal the row mappers' rows (with the store id before and the bookkeeping
    after them, as the importer writes them); how many lines took the fast path."""
    fast_ones = 0
    for table, make in rows.FAST.items():
        fast = make(STORE, RUN)
        bookkeeping = (RUN, RUN) if rows.TABLES[table].tracks_changes else (RUN,)
        expected = scalar_row((STORE, *PLAIN_MAPPERS[table](o, parent), *bookkeeping))
        try:
            got = fast(o, parent)
        except rows.FAST_MISS:
            continue
        fast_ones += 1
        assert expected[1] is not None, (table, o)  # the fast path never keeps a row the
        assert _typed(scalar_row(got)) == _typed(expected), (table, o)  # importer would skip
    return fast_ones


CHECK = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@CHECK
@given(LINES, st.integers(min_value=0, max_value=2**40) | st.none())
def test_fast_rows_are_the_row_mappers_rows_on_arbitrary_json(
    o: dict[str, Any], parent: int | None
) -> None:
    _same_rows(o, parent)


@CHECK
@given(PLAIN, st.integers(min_value=0, max_value=2**40))
def test_fast_rows_are_the_row_mappers_rows_on_plain_lines(o: dict[str, Any], parent: int
                                                           ) -> None:
    _same_rows(o, parent)


def test_a_plain_export_line_takes_the_fast_path() -> None:
    order = {"id": "gid://shopify/Order/5", "name": "#1", "customer": {"id":
             "gid://shopify/Customer/9"}, "email": None, "displayFinancialStatus": "PAID",
             "displayFulfillmentStatus": None, "currencyCode": "USD", "totalPriceSet":
             {"shopMoney": {"amount": "1.50", "currencyCode": "USD"}}, "processedAt": None,
             "cancelledAt": None, "closedAt": None, "createdAt": "2026-01-01T00:00:00Z",
             "updatedAt": "2026-01-02T00:00:00Z"}
    assert rows.FAST["order"](STORE, RUN)(order, None) == (
        STORE, 5, "#1", 9, None, "PAID", None, "USD", "1.50", None, None, None,
        "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", RUN, RUN)
    assert rows.FAST["order"](STORE, RUN)(order, None) == (STORE, *rows.order_row(order), RUN,
                                                           RUN)


# -- multi-row upserts ---------------------------------------------------------------------------

def _order(n: int, updated: str, name: str) -> bytes:
    return orjson.dumps({
        "__typename": "Order", "id": f"gid://shopify/Order/{n}", "name": name,
        "customer": None, "email": None, "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": None, "currencyCode": "USD", "totalPriceSet": None,
        "processedAt": None, "cancelledAt": None, "closedAt": None,
        "createdAt": "2026-01-01T00:00:00Z", "updatedAt": updated})


def _item(n: int, order: int, quantity: Any) -> bytes:
    return orjson.dumps({
        "__typename": "LineItem", "id": f"gid://shopify/LineItem/{n}", "sku": f"S{n}",
        "title": "t", "quantity": quantity, "variant": None, "originalUnitPriceSet": None,
        "__parentId": f"gid://shopify/Order/{order}"})


def _import(store_id: int, run: int, lines: list[bytes], *, multi: bool) -> Importer:
    sink = Importer(store_id, "orders", run)
    sink._multi = multi
    for line in lines:
        if sink.feed(line):
            sink.flush()
    sink.flush()
    return sink


def _tables(store_id: int) -> list[list[tuple[Any, ...]]]:
    out = []
    for table in ("order", "order_line_item"):
        cursor = database.execute_sql(
            f'SELECT * FROM "{table}" WHERE "store_id" = ? ORDER BY "shopify_id"', (store_id,))
        # the first column is the surrogate id, the second the store: compare the rest
        out.append([tuple(r[2:]) for r in cursor.fetchall()])
    return out


@pytest.fixture
def small_statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A batch longer than one statement may be (as VALUES_PARAMETERS does at 32,766).
    monkeypatch.setattr(importer_module, "VALUES_PARAMETERS", 40)
    monkeypatch.setattr(importer_module, "BATCH", 7)
    yield


@pytest.mark.usefixtures("small_statements")
def test_multi_row_upserts_leave_what_executemany_leaves(offline_runtime: Runtime) -> None:
    first = [_order(1, "2026-01-02T00:00:00Z", "#1"), _item(10, 1, 2), _item(11, 1, -1),
             _order(2, "2026-01-02T00:00:00Z", "#2"), _item(20, 2, True),
             # the same key twice in one batch: the later line wins, as with executemany
             _order(1, "2026-01-03T00:00:00Z", "#1b"), _item(10, 1, 5)]
    first += [_order(n, "2026-01-02T00:00:00Z", f"#{n}") for n in range(3, 30)]
    second = [_order(1, "2026-01-03T00:00:00Z", "#1c"), _order(2, "2026-01-09T00:00:00Z", "#2"),
              _item(11, 1, 4)]
    results = []
    for multi in (True, False):
        store = store_row(f"multi-{multi}.myshopify.com")
        a = _import(store.id, 1, first, multi=multi)
        b = _import(store.id, 2, second, multi=multi)
        results.append((_tables(store.id), a.rows, b.rows, b.roots))
    assert results[0] == results[1]
    orders, items = results[0][0]
    assert len(orders) == 29 and len(items) == 3
    changed = {row[0]: row[-1] for row in orders}  # changed_run: updated_at moved in run 2?
    assert changed[1] == 1 and changed[2] == 2 and changed[3] == 1
