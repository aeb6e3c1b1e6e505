"""Deterministic record generators: record i of an entity is a pure function of (seed, entity, i).

Nothing is materialised: a shop with a million orders is just `counts["orders"] == 1_000_000`, and
`Dataset.record("orders", i)` builds order i on demand in the GraphQL shape (camelCase fields,
child connections as lists). Numeric ids are `base + i + 1`, so an id gives its index back, and
`updatedAt` grows with the index, so `updated_at:>=` filters become a binary search over indices.
References to other records (an order's customer, a line item's variant) are `Ref` stubs that
fill themselves in from a `Lookup` the first time a field other than `__typename`/`id` is read.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import UTC, datetime
from typing import Any, Protocol

from engine.simulator.common import M64, gid, mix, money, stamp
from engine.simulator.vocab import (
    ADJECTIVES,
    CITIES,
    CUSTOMER_STATES,
    CUSTOMER_TAGS,
    EMAIL_STATES,
    FINANCIAL,
    FIRST,
    FULFILLMENT,
    LAST,
    NOUNS,
    OPT_IN,
    PRODUCT_STATUS,
    PRODUCT_TYPES,
    SIZES,
    SMS_STATES,
    SORT_ORDERS,
    STREETS,
    THEMES,
    VENDORS,
)

T_END = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())
SPAN = 3 * 365 * 24 * 3600
T_START = T_END - SPAN

ID_BASE: dict[str, int] = {
    "Customer": 7_000_000_000_000,
    "Order": 5_000_000_000_000,
    "Product": 8_000_000_000_000,
    "Collection": 4_000_000_000_000,
    "LineItem": 13_000_000_000_000,
    "ProductVariant": 44_000_000_000_000,
    "MailingAddress": 9_000_000_000_000,
}
MAX_LINE_ITEMS = 4
MAX_VARIANTS = 3
MAX_MEMBERS = 50


class Lookup(Protocol):
    def lookup(self, typename: str, global_id: str) -> dict[str, Any] | None: ...


class Ref(dict[str, Any]):
    """`{"__typename", "id"}` that loads the rest of the record from `src` on first access."""

    __slots__ = ("src",)
    src: Any  # what loads the rest of the record (a slot, set after construction)

    def __missing__(self, key: str) -> Any:
        src = getattr(self, "src", None)
        full = src.lookup(self["__typename"], self["id"]) if src is not None else None
        if full is None:
            raise KeyError(key)
        for name, value in full.items():
            self.setdefault(name, value)
        return dict.__getitem__(self, key)




class Dataset:
    """The generated part of one shop's data: `counts[entity]` records of each entity."""

    def __init__(self, seed: int, counts: dict[str, int], currency: str = "USD") -> None:
        self.seed = seed
        self.counts = dict(counts)
        self.currency = currency
        self.src: Lookup | None = None
        base = mix(seed & M64)
        self._salt = {name: mix(base ^ (k * 0x1000193)) for k, name in enumerate(ID_BASE)}
        self._lines: dict[int, tuple[tuple[Any, ...], ...]] = {}

    def forget(self) -> None:
        """Drop cached line-item templates (after a product changes or the currency does)."""
        self._lines.clear()

    def _line_templates(self, pi: int) -> tuple[tuple[Any, ...], ...]:
        """Per variant of product `pi`: (title, name, sku, unit price, variant ref, product ref)."""
        lines = self._lines.get(pi)
        if lines is not None:
            return lines
        title, _handle, sizes, price = self.product_info(pi)
        product = self._ref("Product", ID_BASE["Product"] + pi + 1)
        lines = tuple(
            (
                title,
                f"{title} - {size}" if len(sizes) > 1 else title,
                f"SKU-{pi + 1:06d}-{vj + 1}",
                money(price + vj * 200),
                self._ref("ProductVariant", ID_BASE["ProductVariant"] + pi * 3 + vj + 1),
                product,
                price + vj * 200,
            )
            for vj, size in enumerate(sizes)
        )
        if len(self._lines) < 50_000:
            self._lines[pi] = lines
        return lines

    # ---------------------------------------------------------------- indices and time

    def updated_ts(self, typename: str, index: int) -> int:
        n = max(self._count(typename), 1)
        return T_START + (index * SPAN) // n

    def first_index_at_or_after(self, typename: str, epoch: float) -> int:
        """Smallest generated index whose updatedAt >= epoch (binary search)."""
        n = self._count(typename)
        return bisect_left(range(n), epoch, key=lambda i: self.updated_ts(typename, i))

    def _count(self, typename: str) -> int:
        return self.counts.get(_ENTITY[typename], 0)

    @staticmethod
    def numeric_id(typename: str, index: int) -> int:
        return ID_BASE[typename] + index + 1

    @staticmethod
    def index_of(typename: str, numeric: int) -> int | None:
        index = numeric - ID_BASE[typename] - 1
        return index if index >= 0 else None

    def _ref(self, typename: str, numeric: int) -> Ref:
        ref = Ref(__typename=typename, id=gid(typename, numeric))
        ref.src = self.src
        return ref

    # ---------------------------------------------------------------- records

    def record(self, entity: str, index: int) -> dict[str, Any]:
        return _GENERATORS[entity](self, index)

    def child_count(self, entity: str, index: int, field: str) -> int | None:
        """Number of children in a generated record's child list, without building it."""
        if entity == "orders" and field == "lineItems":
            return 1 + mix(self._salt["Order"] + index) % MAX_LINE_ITEMS
        if entity == "products" and field == "variants":
            return len(SIZES[mix(self._salt["Product"] + index) % MAX_VARIANTS])
        if entity == "products" and field == "collections":
            return 1 if self._collection_of(index) is not None else 0
        if entity == "collections" and field == "products":
            return len(self._members(index))
        return None

    def customer(self, i: int) -> dict[str, Any]:
        h = mix(self._salt["Customer"] + i)
        first, first_ascii = FIRST[h % len(FIRST)]
        h //= len(FIRST)
        last, last_ascii = LAST[h % len(LAST)]
        h //= len(LAST)
        numeric = ID_BASE["Customer"] + i + 1
        updated = self.updated_ts("Customer", i)
        created = updated - (h % (90 * 86400))
        h >>= 24
        updated_at = stamp(updated)
        email_state = EMAIL_STATES[h % len(EMAIL_STATES)]
        h >>= 3
        email = f"{first_ascii}.{last_ascii}{i + 1}@example.com"
        phone = None
        phone_obj = None
        if h % 5 < 3:
            phone = f"+1555{(mix(h) % 10_000_000):07d}"
            sms_state = SMS_STATES[(h >> 3) % len(SMS_STATES)]
            phone_obj = {
                "phoneNumber": phone,
                "marketingState": sms_state,
                "marketingOptInLevel": "SINGLE_OPT_IN" if sms_state == "SUBSCRIBED" else None,
                "marketingUpdatedAt": None if sms_state == "NOT_SUBSCRIBED" else updated_at,
            }
        h >>= 5
        address = None
        if h % 20 < 17:
            city, province, code, country, cc, zipfmt = CITIES[(h >> 5) % len(CITIES)]
            address = {
                "id": gid("MailingAddress", ID_BASE["MailingAddress"] + i + 1),
                "firstName": first, "lastName": last, "name": f"{first} {last}",
                "address1": f"{1 + (h >> 9) % 899} {STREETS[(h >> 19) % len(STREETS)]}",
                "address2": "Apt 4" if (h >> 22) % 4 == 0 else None,
                "city": city, "province": province, "provinceCode": code, "country": country,
                "countryCodeV2": cc, "zip": zipfmt.format((h >> 24) % 10), "phone": phone,
                "company": None,
            }
        h = mix(h ^ numeric)
        orders = h % 12
        spent = orders * (1500 + (h >> 4) % 9000)
        tags = [t for k, t in enumerate(CUSTOMER_TAGS) if (h >> (20 + k)) % 4 == 0]
        return {
            "__typename": "Customer",
            "id": gid("Customer", numeric),
            "legacyResourceId": str(numeric),
            "firstName": first,
            "lastName": last,
            "displayName": f"{first} {last}",
            "email": email,
            "phone": phone,
            "note": None,
            "verifiedEmail": True,
            "state": CUSTOMER_STATES[(h >> 26) % len(CUSTOMER_STATES)],
            "tags": tags,
            "numberOfOrders": str(orders),
            "amountSpent": {"amount": money(spent), "currencyCode": self.currency},
            "createdAt": stamp(created),
            "updatedAt": updated_at,
            "defaultEmailAddress": {
                "emailAddress": email,
                "marketingState": email_state,
                "marketingOptInLevel": OPT_IN[(h >> 30) % 3] if email_state != "NOT_SUBSCRIBED"
                else None,
                "marketingUpdatedAt": None if email_state == "NOT_SUBSCRIBED" else updated_at,
                "openTrackingLevel": "UNKNOWN",
                "validFormat": True,
            },
            "defaultPhoneNumber": phone_obj,
            "defaultAddress": address,
        }

    def product_info(self, pi: int) -> tuple[str, str, tuple[str, ...], int]:
        """(title, handle, variant titles, base price cents) of product `pi`."""
        h = mix(self._salt["Product"] + pi)
        sizes = SIZES[h % MAX_VARIANTS]
        h //= MAX_VARIANTS
        title = f"{ADJECTIVES[h % len(ADJECTIVES)]} {NOUNS[(h >> 4) % len(NOUNS)]}"
        handle = f"{title.lower().replace(' ', '-')}-{pi + 1}"
        return title, handle, sizes, 500 + ((h >> 8) % 200) * 50 + 99 * ((h >> 16) % 2)

    def order(self, i: int) -> dict[str, Any]:
        h = mix(self._salt["Order"] + i)
        n_items = 1 + h % MAX_LINE_ITEMS
        numeric = ID_BASE["Order"] + i + 1
        updated = self.updated_ts("Order", i)
        created = updated - (h >> 2) % (3 * 86400)
        currency = self.currency
        n_products = self.counts.get("products", 0)
        n_customers = self.counts.get("customers", 0)
        items = []
        subtotal = 0
        templates = self._line_templates
        item_base = ID_BASE["LineItem"] + i * MAX_LINE_ITEMS + 1
        for j in range(n_items):
            hj = mix(h + j)
            quantity = 1 + (hj >> 40) % 3
            if n_products:
                lines = templates(hj % n_products)
                title, name, sku, amount, variant, product, price = lines[(hj >> 20) % len(lines)]
            else:
                title = name = "Custom item"
                sku = variant = product = None
                price = 1000 + (hj >> 20) % 5000
                amount = money(price)
            subtotal += price * quantity
            unit = {"amount": amount, "currencyCode": currency}
            items.append({
                "__typename": "LineItem",
                "id": f"gid://shopify/LineItem/{item_base + j}",
                "name": name,
                "title": title,
                "sku": sku,
                "quantity": quantity,
                "vendor": None,
                "variant": variant,
                "product": product,
                "originalUnitPriceSet": {"shopMoney": unit, "presentmentMoney": unit},
            })
        total = {"amount": money(subtotal + subtotal // 10), "currencyCode": currency}
        sub = {"amount": money(subtotal), "currencyCode": currency}
        financial = FINANCIAL[(h >> 30) % len(FINANCIAL)]
        fulfillment = FULFILLMENT[(h >> 34) % len(FULFILLMENT)]
        updated_at = stamp(updated)
        customer = None
        if n_customers:
            customer = self._ref("Customer", ID_BASE["Customer"] + (h >> 38) % n_customers + 1)
        created_at = stamp(created)
        return {
            "__typename": "Order",
            "id": f"gid://shopify/Order/{numeric}",
            "legacyResourceId": str(numeric),
            "name": f"#{1001 + i}",
            "email": None,
            "phone": None,
            "note": None,
            "tags": [],
            "test": False,
            "createdAt": created_at,
            "processedAt": created_at,
            "updatedAt": updated_at,
            "cancelledAt": updated_at if (h >> 50) % 40 == 0 else None,
            "closedAt": updated_at if fulfillment == "FULFILLED" else None,
            "displayFinancialStatus": financial,
            "displayFulfillmentStatus": fulfillment,
            "currencyCode": currency,
            "totalPriceSet": {"shopMoney": total, "presentmentMoney": total},
            "subtotalPriceSet": {"shopMoney": sub, "presentmentMoney": sub},
            "customer": customer,
            "lineItems": items,
        }

    def product(self, i: int) -> dict[str, Any]:
        title, handle, sizes, price = self.product_info(i)
        h = mix(self._salt["Product"] + i) >> 24
        numeric = ID_BASE["Product"] + i + 1
        updated = self.updated_ts("Product", i)
        updated_at = stamp(updated)
        created_at = stamp(updated - h % (200 * 86400))
        product_ref = self._ref("Product", numeric)
        variants = []
        inventory = 0
        for j, size in enumerate(sizes):
            vid = ID_BASE["ProductVariant"] + i * 3 + j + 1
            quantity = (h >> (5 * j)) % 60
            inventory += quantity
            variants.append({
                "__typename": "ProductVariant",
                "id": gid("ProductVariant", vid),
                "legacyResourceId": str(vid),
                "title": size,
                "displayName": f"{title} - {size}",
                "sku": f"SKU-{i + 1:06d}-{j + 1}",
                "barcode": None,
                "price": money(price + j * 200),
                "inventoryQuantity": quantity,
                "createdAt": created_at,
                "updatedAt": updated_at,
                "product": product_ref,
            })
        collection = self._collection_of(i)
        vendor = VENDORS[(h >> 20) % len(VENDORS)]
        return {
            "__typename": "Product",
            "id": gid("Product", numeric),
            "legacyResourceId": str(numeric),
            "title": title,
            "handle": handle,
            "status": PRODUCT_STATUS[(h >> 24) % len(PRODUCT_STATUS)],
            "vendor": vendor,
            "productType": PRODUCT_TYPES[(h >> 29) % len(PRODUCT_TYPES)],
            "tags": [vendor.split()[0].lower()],
            "descriptionHtml": f"<p>{title} by {vendor}.</p>",
            "totalInventory": inventory,
            "createdAt": created_at,
            "updatedAt": updated_at,
            "variants": variants,
            "collections": [] if collection is None else [
                self._ref("Collection", ID_BASE["Collection"] + collection + 1)
            ],
        }

    def _collection_of(self, product_index: int) -> int | None:
        n = self.counts.get("collections", 0)
        if not n or product_index // n >= MAX_MEMBERS:
            return None
        return product_index % n

    def _members(self, j: int) -> range:
        n = self.counts.get("collections", 0) or 1
        return range(j, min(self.counts.get("products", 0), j + n * MAX_MEMBERS), n)

    def collection(self, i: int) -> dict[str, Any]:
        h = mix(self._salt["Collection"] + i)
        numeric = ID_BASE["Collection"] + i + 1
        theme = THEMES[h % len(THEMES)]
        title = f"{theme} Collection" if i < len(THEMES) else f"{theme} Collection {i + 1}"
        members = [self._ref("Product", ID_BASE["Product"] + p + 1) for p in self._members(i)]
        return {
            "__typename": "Collection",
            "id": gid("Collection", numeric),
            "legacyResourceId": str(numeric),
            "title": title,
            "handle": f"{theme.lower().replace(' ', '-')}-{i + 1}",
            "sortOrder": SORT_ORDERS[(h >> 8) % len(SORT_ORDERS)],
            "description": f"Our {theme.lower()} picks.",
            "updatedAt": stamp(self.updated_ts("Collection", i)),
            "productsCount": {"count": len(members), "precision": "EXACT"},
            "products": members,
        }


_ENTITY = {"Customer": "customers", "Order": "orders", "Product": "products",
           "Collection": "collections"}
_GENERATORS = {
    "customers": Dataset.customer,
    "orders": Dataset.order,
    "products": Dataset.product,
    "collections": Dataset.collection,
}
