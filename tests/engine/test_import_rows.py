"""The importer's fast paths give exactly what the plain paths give.

- engine.sync.rows.TYPED decodes a line of the export's shape with msgspec and maps it to the
  whole row the importer writes, and refuses anything else so that orjson and the row mappers
  decide: on arbitrary JSON (and on well-formed lines), a typed row is the row mapper's row
  between the store id and the run's bookkeeping, value for value and type for type, with no
  value the database cannot bind; every line of the simulator's own exports takes that path.
- On SQLite the importer writes a batch as one multi-row upsert (engine.persistence.sql.
  upsert_values_sql); the tables it leaves are the ones executemany of the one-row upsert
  leaves, bookkeeping (seen_run, changed_run) included, also when one batch holds a key twice
  and when a batch is longer than one statement may be.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.credentials import open_client
from engine.domain.coerce import MAX_INTEGER, gid_number, scalar_row
from engine.persistence.models import Store, database
from engine.persistence.runtime import Runtime
from engine.shopify import bulk
from engine.shopify.documents import bulk_query
from engine.sync import importer as importer_module
from engine.sync import rows
from engine.sync.importer import Importer
from tests.engine.conftest import run_coroutine
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

# The export's shape with values of their schema types: the typed path's own lines, and the edges
# it refuses (GIDs of other forms, quantities past what a column holds).
TYPED_LINES = st.fixed_dictionaries({
    **{name: st.none() | st.text(max_size=10) for name in NAMES},
    "id": GIDS, "customer": st.none() | st.fixed_dictionaries({"id": GIDS}),
    "variant": st.none() | st.fixed_dictionaries({"id": GIDS}),
    **{name: st.none() | st.fixed_dictionaries({"shopMoney": st.fixed_dictionaries(
        {"amount": st.none() | st.text(max_size=8)}, optional={"currencyCode": st.just("USD")})})
       for name in ("totalPriceSet", "originalUnitPriceSet")},
    "quantity": st.none() | st.integers(min_value=-2, max_value=2**64) | st.sampled_from(
        (-1, 0, MAX_INTEGER, MAX_INTEGER + 1, 2**64 - 1, 2**64)),
    "tags": st.none() | st.lists(st.text(max_size=5), max_size=3),
    "price": st.none() | st.text(max_size=6),
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
    """Typed rows equal the row mappers' rows (with the store id before and the bookkeeping
    after them, as the importer writes them); how many rows took the typed path."""
    line = json.dumps(o).encode()  # orjson.dumps refuses integers past 64 bits
    try:
        plain = orjson.loads(line)  # what the importer's general path maps
    except orjson.JSONDecodeError:
        return 0  # e.g. a lone surrogate: neither path imports it (the run fails)
    typed_ones = 0
    for entity in rows.TYPED.values():
        try:
            decoded = entity.decode(line)
        except msgspec.MsgspecError:
            continue
        for table, make in entity.kinds.values():
            bookkeeping = (RUN, RUN) if rows.TABLES[table].tracks_changes else (RUN,)
            expected = scalar_row((STORE, *PLAIN_MAPPERS[table](plain, parent), *bookkeeping))
            try:
                got = make(STORE, RUN)(decoded, parent)
            except ValueError:
                continue
            typed_ones += 1
            assert expected[1] is not None, (table, o)  # never a row the importer would skip
            assert _typed(got) == _typed(expected), (table, o)  # needs no scalar_row either
    return typed_ones


CHECK = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@CHECK
@given(LINES, st.integers(min_value=0, max_value=2**40) | st.none())
def test_typed_rows_are_the_row_mappers_rows_on_arbitrary_json(
    o: dict[str, Any], parent: int | None
) -> None:
    _same_rows(o, parent)


@CHECK
@given(PLAIN, st.integers(min_value=0, max_value=2**40))
def test_typed_rows_are_the_row_mappers_rows_on_plain_lines(o: dict[str, Any], parent: int
                                                            ) -> None:
    _same_rows(o, parent)


def _plain_gid(value: Any) -> bool:
    try:
        rows._gid(value)
    except (ValueError, TypeError):
        return False
    return True


@CHECK
@given(TYPED_LINES, st.integers(min_value=0, max_value=2**40))
def test_typed_rows_are_the_row_mappers_rows_on_typed_lines(o: dict[str, Any], parent: int
                                                            ) -> None:
    typed_ones = _same_rows(o, parent)
    gids = [o["id"]] + [ref["id"] for ref in (o["customer"], o["variant"]) if ref is not None]
    quantity = o["quantity"]
    if all(map(_plain_gid, gids)) and (quantity is None or 0 <= quantity <= MAX_INTEGER):
        assert typed_ones == 4  # an order's, a line item's, a product's and a variant's row


def test_a_plain_export_line_takes_the_typed_path() -> None:
    order = {"__typename": "Order", "id": "gid://shopify/Order/5", "name": "#1", "customer":
             {"id": "gid://shopify/Customer/9"}, "email": None, "displayFinancialStatus": "PAID",
             "displayFulfillmentStatus": None, "currencyCode": "USD", "totalPriceSet":
             {"shopMoney": {"amount": "1.50", "currencyCode": "USD"}}, "processedAt": None,
             "cancelledAt": None, "closedAt": None, "createdAt": "2026-01-01T00:00:00Z",
             "updatedAt": "2026-01-02T00:00:00Z", "unqueried": {"x": [1, 2]}}
    orders = rows.TYPED["orders"]
    _table, make = orders.kinds[("Order", False)]
    decoded = orders.decode(orjson.dumps(order))
    assert make(STORE, RUN)(decoded, None) == (
        STORE, 5, "#1", 9, None, "PAID", None, "USD", "1.50", None, None, None,
        "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", RUN, RUN)
    assert make(STORE, RUN)(decoded, None) == (STORE, *rows.order_row(order), RUN, RUN)


@pytest.mark.parametrize("entity", sorted(rows.TYPED))
def test_every_line_of_the_simulators_export_takes_the_typed_path(
    runtime: Runtime, make_store: Callable[..., Store], entity: str
) -> None:
    """The typed path is the one the export's lines take: a change of the bulk query or of the
    simulator's output that sent every line down the general path would fail here."""
    store = make_store(customers=3, orders=40, products=25, collections=2, bulk_rate=500_000)
    lines = run_coroutine(_export_lines(runtime, store, entity))
    typed = rows.TYPED[entity]
    kinds = dict.fromkeys(typed.kinds, 0)
    for line in lines:
        decoded = typed.decode(line)  # raises on a line of another shape
        kind = (decoded.typename, decoded.parent is not None)
        table, make = typed.kinds[kind]
        parent = None if decoded.parent is None else gid_number(decoded.parent)
        got = make(STORE, RUN)(decoded, parent)  # raises on a GID of another form
        bookkeeping = (RUN, RUN) if rows.TABLES[table].tracks_changes else (RUN,)
        expected = (STORE, *PLAIN_MAPPERS[table](orjson.loads(line), parent), *bookkeeping)
        assert _typed(got) == _typed(expected)
        kinds[kind] += 1
    assert all(kinds.values()), kinds  # roots and children both


async def _export_lines(runtime: Runtime, store: Store, entity: str) -> list[bytes]:
    async with open_client(runtime, store) as client:
        operation = await bulk.start(client, bulk_query(entity))
        while not (status := await bulk.poll(client, operation)).finished:
            await asyncio.sleep(0.05)
        assert status.status == "COMPLETED" and status.url
        url = status.url
    return [line for chunk in bulk.stream_chunks(url) for line in chunk]


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
