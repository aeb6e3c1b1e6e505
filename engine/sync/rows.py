"""Bulk-export objects (GraphQL shape) → row tuples of the record tables, and the tables.

One mapper per table returns the columns of `TABLES[name].columns`, in order; engine.sync.importer
prefixes the store id and appends its bookkeeping columns. `_EXPECTED` pins that order and is
checked against engine.persistence.models at import, so a model change cannot silently shift
columns.
Mappers are on the per-line hot path: plain dict lookups, no validation beyond the id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from engine.domain.coerce import MAX_INTEGER, as_dict, as_int, gid_number, tags, text
from engine.persistence.models import (
    Collection,
    CollectionMembership,
    Customer,
    Order,
    OrderLineItem,
    Product,
    ProductVariant,
)

Row = tuple[Any, ...]


def _ref_id(value: Any) -> int | None:
    return gid_number(value.get("id")) if isinstance(value, dict) else None


def _amount(value: Any) -> Any:
    # MoneyBag → shopMoney.amount; MoneyV2 → amount.
    if not isinstance(value, dict):
        return None
    money = value.get("shopMoney", value)
    return money.get("amount") if isinstance(money, dict) else None


# -- row mappers: one per (table), returning the columns of TABLES[...].columns in order -----------

def customer_row(o: dict, email_on: bool, sms_on: bool) -> Row:
    email = as_dict(o.get("defaultEmailAddress"))
    phone = as_dict(o.get("defaultPhoneNumber"))
    address = as_dict(o.get("defaultAddress"))
    spent = as_dict(o.get("amountSpent"))
    return (
        gid_number(o.get("id")), o.get("firstName"), o.get("lastName"),
        email.get("emailAddress"), phone.get("phoneNumber"),
        # Consent is stored only while its category is on; otherwise NULL (and an earlier
        # value is overwritten with NULL by the upsert).
        email.get("marketingState") if email_on else None,
        email.get("marketingOptInLevel") if email_on else None,
        email.get("marketingUpdatedAt") if email_on else None,
        phone.get("marketingState") if sms_on else None,
        phone.get("marketingOptInLevel") if sms_on else None,
        phone.get("marketingUpdatedAt") if sms_on else None,
        address.get("address1"), address.get("address2"), address.get("city"),
        address.get("province"), address.get("country"), address.get("countryCodeV2"),
        address.get("zip"), tags(o.get("tags")), o.get("state"), as_int(o.get("numberOfOrders")),
        spent.get("amount"), spent.get("currencyCode"), o.get("createdAt"), o.get("updatedAt"),
    )


def order_row(o: dict) -> Row:
    total = as_dict(o.get("totalPriceSet"))
    return (
        gid_number(o.get("id")), o.get("name"), _ref_id(o.get("customer")), o.get("email"),
        o.get("displayFinancialStatus"), o.get("displayFulfillmentStatus"),
        o.get("currencyCode"), _amount(total), o.get("processedAt"), o.get("cancelledAt"),
        o.get("closedAt"), o.get("createdAt"), o.get("updatedAt"),
    )


def line_item_row(o: dict, parent: int | None) -> Row:
    return (
        gid_number(o.get("id")), parent, o.get("sku"), o.get("title"), as_int(o.get("quantity")),
        _ref_id(o.get("variant")), _amount(o.get("originalUnitPriceSet")),
    )


def product_row(o: dict) -> Row:
    return (
        gid_number(o.get("id")), o.get("title"), o.get("handle"), o.get("status"),
        o.get("vendor"), o.get("productType"), tags(o.get("tags")), o.get("createdAt"),
        o.get("updatedAt"),
    )


def variant_row(o: dict, parent: int | None) -> Row:
    return (
        gid_number(o.get("id")), parent, o.get("title"), o.get("sku"),
        text(o.get("price")), o.get("updatedAt"),  # never str() of an object: a repr
    )


def collection_row(o: dict) -> Row:
    return (
        gid_number(o.get("id")), o.get("handle"), o.get("title"), o.get("sortOrder"),
        o.get("updatedAt"),
    )


def membership_row(o: dict, parent: int | None) -> Row:
    return (parent, gid_number(o.get("id")))


# -- fast mappers: the same rows without per-field helper calls ----------------------------------
#
# The bulk export is GraphQL: every queried field is present, ids are plain GIDs, and nested
# objects have the queried shape. `FAST[table](store_id, run)` is a mapper for one import:
# `mapper(o, parent)` maps such a line straight to the whole row the importer writes (store_id,
# the columns, then seen_run and, for root tables, changed_run: `run` each) with itemgetter
# and inline GID parsing, and raises (one of FAST_MISS) on anything else: a missing field, a
# null or odd-shaped object, a GID that is not plain digits. The importer then maps that line
# with the row mappers above, so a fast row is always the row those would give
# (tests/engine/test_import_rows.py checks this on arbitrary JSON). Values are passed through
# untouched: the importer's scalar check applies to both. One call builds one tuple per line:
# a mapped tuple with the store id and run concatenated around it cost ~10 % of parse + map.

FAST_MISS = (KeyError, TypeError, ValueError, AttributeError)
FastMapper = Callable[[dict, "int | None"], Row]


def _gid(value: str) -> int:
    number = int(value[value.rindex("/") + 1:])
    if not 0 <= number <= MAX_INTEGER:  # gid_number() decides (and counts it as malformed)
        raise ValueError(value)
    return number


_ORDER = itemgetter(
    "id", "name", "customer", "email", "displayFinancialStatus", "displayFulfillmentStatus",
    "currencyCode", "totalPriceSet", "processedAt", "cancelledAt", "closedAt", "createdAt",
    "updatedAt",
)


def _fast_order(store_id: int, run: int) -> FastMapper:
    def fast(o: dict, _parent: int | None) -> Row:
        (gid, name, customer, email, financial, fulfillment, currency, total, processed,
         cancelled, closed, created, updated) = _ORDER(o)
        return (store_id, _gid(gid), name, None if customer is None else _gid(customer["id"]),
                email, financial, fulfillment, currency,
                None if total is None else total["shopMoney"]["amount"], processed, cancelled,
                closed, created, updated, run, run)
    return fast


_LINE_ITEM = itemgetter("id", "sku", "title", "quantity", "variant", "originalUnitPriceSet")


def _fast_line_item(store_id: int, run: int) -> FastMapper:
    def fast(o: dict, parent: int | None) -> Row:
        gid, sku, title, quantity, variant, price = _LINE_ITEM(o)
        if quantity is not None and (type(quantity) is not int
                                     or not 0 <= quantity <= MAX_INTEGER):
            raise TypeError(quantity)  # as_int() decides (and counts it as malformed)
        return (store_id, _gid(gid), parent, sku, title, quantity,
                None if variant is None else _gid(variant["id"]),
                None if price is None else price["shopMoney"]["amount"], run)
    return fast


_PRODUCT = itemgetter("id", "title", "handle", "status", "vendor", "productType", "tags",
                      "createdAt", "updatedAt")


def _fast_product(store_id: int, run: int) -> FastMapper:
    def fast(o: dict, _parent: int | None) -> Row:
        gid, title, handle, status, vendor, kind, tag_list, created, updated = _PRODUCT(o)
        return (store_id, _gid(gid), title, handle, status, vendor, kind, tags(tag_list),
                created, updated, run, run)
    return fast


_VARIANT = itemgetter("id", "title", "sku", "price", "updatedAt")


def _fast_variant(store_id: int, run: int) -> FastMapper:
    def fast(o: dict, parent: int | None) -> Row:
        gid, title, sku, price, updated = _VARIANT(o)
        return (store_id, _gid(gid), parent, title, sku, text(price), updated, run)
    return fast


FAST: dict[str, Callable[[int, int], FastMapper]] = {
    "order": _fast_order,
    "order_line_item": _fast_line_item,
    "product": _fast_product,
    "product_variant": _fast_variant,
}


# -- tables ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]  # mapped columns, in the mappers' order
    key: tuple[str, ...]  # conflict target after store_id
    tracks_changes: bool  # has changed_run (root tables)
    parent_column: str | None = None  # child tables: column holding the parent's Shopify id


def _table(model: Any, key: tuple[str, ...], tracks: bool, parent: str | None = None,
           skip: tuple[str, ...] = ()) -> Table:
    columns = tuple(
        f.column_name for f in model._meta.sorted_fields
        if f.column_name not in ("id", "store_id", "seen_run", "changed_run", *skip)
    )
    return Table(model._meta.table_name, columns, key, tracks, parent)


TABLES: dict[str, Table] = {
    "customer": _table(Customer, ("shopify_id",), True),
    "order": _table(Order, ("shopify_id",), True),
    "order_line_item": _table(OrderLineItem, ("shopify_id",), False, "order_id"),
    "product": _table(Product, ("shopify_id",), True),
    "product_variant": _table(ProductVariant, ("shopify_id",), False, "product_id"),
    "collection": _table(Collection, ("shopify_id",), True),
    "collection_membership": _table(
        CollectionMembership, ("collection_id", "product_id"), False, "collection_id"
    ),
}

# entity → (root table, child tables)
ENTITY_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "customers": ("customer", ()),
    "orders": ("order", ("order_line_item",)),
    "products": ("product", ("product_variant",)),
    "collections": ("collection", ("collection_membership",)),
}

# The mappers' column order; checked against the models at import so they cannot drift apart.
_EXPECTED: dict[str, tuple[str, ...]] = {
    "customer": (
        "shopify_id", "first_name", "last_name", "email", "phone", "email_marketing_state",
        "email_opt_in_level", "email_consent_updated_at", "sms_marketing_state",
        "sms_opt_in_level", "sms_consent_updated_at", "address1", "address2", "city",
        "province", "country", "country_code", "zip", "tags", "state", "orders_count",
        "amount_spent", "currency", "created_at", "updated_at",
    ),
    "order": (
        "shopify_id", "name", "customer_id", "email", "financial_status", "fulfillment_status",
        "currency", "total_price", "processed_at", "cancelled_at", "closed_at", "created_at",
        "updated_at",
    ),
    "order_line_item": (
        "shopify_id", "order_id", "sku", "title", "quantity", "variant_id", "unit_price",
    ),
    "product": (
        "shopify_id", "title", "handle", "status", "vendor", "product_type", "tags",
        "created_at", "updated_at",
    ),
    "product_variant": ("shopify_id", "product_id", "title", "sku", "price", "updated_at"),
    "collection": ("shopify_id", "handle", "title", "sort_order", "updated_at"),
    "collection_membership": ("collection_id", "product_id"),
}
for _name, _columns in _EXPECTED.items():
    if TABLES[_name].columns != _columns:  # pragma: no cover - a model changed
        raise RuntimeError(
            f"importer mapping for {_name} is out of step with engine.persistence.models")
