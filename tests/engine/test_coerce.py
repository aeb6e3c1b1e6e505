"""The one set of payload coercers (engine.domain.coerce), and both import paths using them.

A value of the wrong shape (an object where a name belongs, text where a time belongs, a
negative id) is stored as NULL and counted — never as a Python repr, never crashing a batch.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from engine.domain import coerce
from engine.domain.coerce import (
    as_int,
    enum,
    gid_number,
    iso_utc,
    naive_utc,
    parse_time,
    scalar_row,
    tags,
    take_malformed,
    text,
)
from engine.persistence.counters import count_malformed
from engine.persistence.models import Customer, Metric, Order, OrderLineItem
from engine.sync.importer import Importer
from engine.webhooks.rows import customer_row
from tests.engine.livedata_support import store_row


@pytest.fixture(autouse=True)
def _fresh_tally() -> None:
    take_malformed()


@pytest.mark.parametrize("value, expected", [
    (5, 5), ("5", 5), ("gid://shopify/Order/5", 5), (5.0, 5), (0, 0),
])
def test_as_int_accepts_every_spelling_of_a_count_or_id(value: object, expected: int) -> None:
    assert as_int(value) == expected
    assert take_malformed() == {}


@pytest.mark.parametrize("value", [-1, "-1", True, {"id": 5}, [5], "five", 1.5, -2.0])
def test_as_int_drops_and_counts_what_is_not_a_non_negative_integer(value: object) -> None:
    assert as_int(value) is None
    assert take_malformed() == {"int": 1}


def test_missing_values_are_not_malformed() -> None:
    for coercer in (as_int, text, tags, enum, iso_utc, gid_number):
        assert coercer(None) is None
    assert (as_int(""), enum(""), iso_utc("")) == (None, None, None)
    assert take_malformed() == {}


def test_text_never_stores_a_python_repr() -> None:
    assert text({"first": "Ada"}) is None
    assert text(["Ada"]) is None
    assert (text("Ada"), text(12), text(2.5), text(False)) == ("Ada", "12", "2.5", "false")
    assert enum({"state": "paid"}) is None and enum("best-selling") == "BEST_SELLING"
    assert tags({"a": 1}) is None and tags(["a", {"b": 1}, 3]) == "a, 3"
    assert take_malformed() == {"text": 3, "enum": 1, "tags": 1}


def test_times() -> None:
    assert iso_utc("2026-10-05T10:05:00-04:00") == "2026-10-05T14:05:00Z"
    assert iso_utc("yesterday") is None and iso_utc(20261005) is None
    assert take_malformed() == {"time": 2}
    assert parse_time("2026-10-05T14:05:00z") == datetime(2026, 10, 5, 14, 5, tzinfo=UTC)
    assert naive_utc("2026-10-05T16:05:00+02:00") == datetime(2026, 10, 5, 14, 5)
    assert parse_time("soon") is None and naive_utc(None) is None


def test_gid_numbers_reject_negative_and_non_gid_values() -> None:
    assert gid_number("gid://shopify/Order/123") == 123
    assert gid_number("gid://shopify/Order/123?x=y") == 123
    assert gid_number("gid://shopify/Order/-4") is None
    assert gid_number({"id": 1}) is None
    assert take_malformed() == {"id": 2}


def test_scalar_row_keeps_a_clean_row_and_empties_objects() -> None:
    clean = (1, "a", None, 2.5)
    assert scalar_row(clean) is clean
    assert scalar_row((1, {"x": 1}, "b", [2])) == (1, None, "b", None)
    assert take_malformed() == {"text": 2}


def test_a_webhook_customer_with_malformed_fields_maps_to_nulls() -> None:
    row = customer_row({
        "id": 7, "first_name": {"evil": "<b>"}, "last_name": "Lee", "orders_count": -3,
        "updated_at": "not a date", "tags": ["vip"], "state": ["enabled"],
    })
    assert (row["first_name"], row["last_name"], row["orders_count"]) == (None, "Lee", None)
    assert (row["updated_at"], row["tags"], row["state"]) == (None, "vip", None)
    assert "{" not in repr([v for v in row.values() if isinstance(v, str)])
    assert sum(take_malformed().values()) == 4


def test_a_bulk_line_with_an_object_for_a_name_is_stored_as_null_and_counted(runtime) -> None:
    store = store_row("malformed.myshopify.com")
    importer = Importer(store.id, "customers", 1)
    good = {"__typename": "Customer", "id": "gid://shopify/Customer/1", "firstName": "Ada",
            "updatedAt": "2026-01-01T00:00:00Z"}
    bad = {"__typename": "Customer", "id": "gid://shopify/Customer/2",
           "firstName": {"nested": "object"}, "tags": {"a": 1}, "numberOfOrders": "-2",
           "updatedAt": {"not": "a time"}}
    for line in (good, bad):
        importer.feed(orjson.dumps(line))
    importer.write(importer.take())  # used to fail the whole batch: a dict cannot be bound
    rows = {c.shopify_id: c for c in Customer.select().where(Customer.store == store.id)}
    assert rows[1].first_name == "Ada"
    assert (rows[2].first_name, rows[2].tags, rows[2].orders_count) == (None, None, None)
    assert importer.max_updated_at == "2026-01-01T00:00:00Z"
    assert count_malformed() == 4
    counted = {m.labels: m.value for m in
               Metric.select().where(Metric.name == "shopsync_malformed_values_total")}
    assert counted == {"kind=int": 1.0, "kind=tags": 1.0, "kind=text": 2.0}
    assert coerce.MALFORMED == {}


def test_integers_no_column_can_hold_are_malformed_not_fatal() -> None:
    too_big = 1 << 63
    assert gid_number(f"gid://shopify/Order/{too_big}") is None
    assert gid_number(f"gid://shopify/Order/{too_big}?x=y") is None
    assert (as_int(too_big), as_int(str(too_big)), as_int(float(too_big))) == (None,) * 3
    assert as_int(too_big - 1) == too_big - 1
    assert take_malformed() == {"id": 2, "int": 3}
    assert scalar_row((1, too_big, -too_big - 1)) == (1, str(too_big), str(-too_big - 1))


def test_a_bulk_export_with_huge_integers_imports_every_other_line(runtime) -> None:
    # One such value used to fail its whole batch with OverflowError, so no line of it landed.
    store = store_row("huge-ints.myshopify.com")
    importer = Importer(store.id, "orders", 1)
    huge = 1 << 63  # JSON allows it (orjson reads up to 2**64 - 1); no database column holds it

    def order(number: object, name: object = "#1") -> dict:
        return {"__typename": "Order", "id": f"gid://shopify/Order/{number}", "name": name,
                "customer": None, "email": None, "displayFinancialStatus": "PAID",
                "displayFulfillmentStatus": "FULFILLED", "currencyCode": "EUR",
                "totalPriceSet": None, "processedAt": None, "cancelledAt": None,
                "closedAt": None, "createdAt": None, "updatedAt": "2026-01-01T00:00:00Z"}

    lines = [
        order(1),
        order(huge),  # an id no column holds: skipped and counted
        order(3, name=huge),  # a huge number where text belongs: stored as its digits
        {"__typename": "LineItem", "id": "gid://shopify/LineItem/7", "sku": "S",
         "title": "Mug", "quantity": huge, "variant": None, "originalUnitPriceSet": None,
         "__parentId": "gid://shopify/Order/1"},  # a quantity no column holds: NULL
    ]
    for line in lines:
        importer.feed(orjson.dumps(line))
    importer.write(importer.take())
    names = {o.shopify_id: o.name for o in Order.select().where(Order.store == store.id)}
    assert names == {1: "#1", 3: str(huge)}
    items = list(OrderLineItem.select().where(OrderLineItem.store == store.id))
    assert [(i.shopify_id, i.order_id, i.quantity) for i in items] == [(7, 1, None)]
    assert importer.skipped == 1
    assert take_malformed() == {"id": 1, "int": 1}
