"""REST webhook payloads mapped to the record tables' rows, in engine.sync.job's conventions.

Webhook bodies are REST-shaped (snake_case, numeric ids, lowercase enums, local-offset times);
bulk exports are GraphQL-shaped. Both must land as the same column values, so every value here
is normalised to the GraphQL spelling: enums upper-case with underscores (`paid` → `PAID`,
`best-selling` → `BEST_SELLING`), timestamps as UTC `YYYY-MM-DDTHH:MM:SSZ`, tags as one
comma-separated string, ids as integers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# -- value conventions --------------------------------------------------------------------------

def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from an ISO-8601 string (`Z`, offsets, or naive = UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso_utc(value: object) -> str | None:
    """`2026-10-05T10:05:00-04:00` → `2026-10-05T14:05:00Z`; unparsable text is kept as is."""
    moment = parse_time(value)
    if moment is None:
        return value if isinstance(value, str) and value else None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def enum(value: object) -> str | None:
    """REST's `partially_refunded` / `best-selling` in GraphQL's `PARTIALLY_REFUNDED` form."""
    if value is None or value == "":
        return None
    return str(value).upper().replace("-", "_").replace(" ", "_")


def as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.rsplit("/", 1)[-1]  # also accepts gid://shopify/Order/5
        if text.isdigit():
            return int(text)
    return None


def tags(value: object) -> str | None:
    if isinstance(value, list):
        return ", ".join(str(t) for t in value)
    return value if isinstance(value, str) else None


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# -- REST payload → row -------------------------------------------------------------------------

def customer_row(p: dict[str, Any]) -> dict[str, Any]:
    address = as_dict(p.get("default_address"))
    email = as_dict(p.get("email_marketing_consent"))
    sms = as_dict(p.get("sms_marketing_consent"))
    return {
        "first_name": _text(p.get("first_name")),
        "last_name": _text(p.get("last_name")),
        "email": _text(p.get("email")),
        "phone": _text(p.get("phone")),
        "email_marketing_state": enum(email.get("state")),
        "email_opt_in_level": enum(email.get("opt_in_level")),
        "email_consent_updated_at": iso_utc(email.get("consent_updated_at")),
        "sms_marketing_state": enum(sms.get("state")),
        "sms_opt_in_level": enum(sms.get("opt_in_level")),
        "sms_consent_updated_at": iso_utc(sms.get("consent_updated_at")),
        "address1": _text(address.get("address1")),
        "address2": _text(address.get("address2")),
        "city": _text(address.get("city")),
        "province": _text(address.get("province")),
        "country": _text(address.get("country")),
        "country_code": _text(address.get("country_code")),
        "zip": _text(address.get("zip")),
        "tags": tags(p.get("tags")),
        "state": enum(p.get("state")),
        "orders_count": as_int(p.get("orders_count")),
        "amount_spent": _text(p.get("total_spent")),
        "currency": _text(p.get("currency")),
        "created_at": iso_utc(p.get("created_at")),
        "updated_at": iso_utc(p.get("updated_at")),
    }


def fulfillment(value: object) -> str | None:
    """REST's fulfillment_status → GraphQL's displayFulfillmentStatus (REST: null for none)."""
    if not value:
        return "UNFULFILLED"
    return "PARTIALLY_FULFILLED" if value == "partial" else enum(value)


def order_row(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": _text(p.get("name")),
        "customer_id": as_int(as_dict(p.get("customer")).get("id")),
        "email": _text(p.get("email")),
        "financial_status": enum(p.get("financial_status")),
        "fulfillment_status": fulfillment(p.get("fulfillment_status")),
        "currency": _text(p.get("currency")),
        "total_price": _text(p.get("total_price")),
        "processed_at": iso_utc(p.get("processed_at")),
        "cancelled_at": iso_utc(p.get("cancelled_at")),
        "closed_at": iso_utc(p.get("closed_at")),
        "created_at": iso_utc(p.get("created_at")),
        "updated_at": iso_utc(p.get("updated_at")),
    }


def line_item_rows(p: dict[str, Any], order_id: int) -> list[dict[str, Any]]:
    rows = []
    for item in p.get("line_items") or ():
        item_id = as_int(as_dict(item).get("id"))
        if item_id is None:
            continue
        rows.append({
            "shopify_id": item_id,
            "order_id": order_id,
            "sku": _text(item.get("sku")),
            "title": _text(item.get("title")),
            "quantity": as_int(item.get("quantity")),
            "variant_id": as_int(item.get("variant_id")),
            "unit_price": _text(item.get("price")),
        })
    return rows


def product_row(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": _text(p.get("title")),
        "handle": _text(p.get("handle")),
        "status": enum(p.get("status")),
        "vendor": _text(p.get("vendor")),
        "product_type": _text(p.get("product_type")),
        "tags": tags(p.get("tags")),
        "created_at": iso_utc(p.get("created_at")),
        "updated_at": iso_utc(p.get("updated_at")),
    }


def variant_rows(p: dict[str, Any], product_id: int) -> list[dict[str, Any]]:
    rows = []
    for variant in p.get("variants") or ():
        variant_id = as_int(as_dict(variant).get("id"))
        if variant_id is None:
            continue
        rows.append({
            "shopify_id": variant_id,
            "product_id": product_id,
            "title": _text(variant.get("title")),
            "sku": _text(variant.get("sku")),
            "price": _text(variant.get("price")),
            "updated_at": iso_utc(variant.get("updated_at")),
        })
    return rows


def collection_row(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "handle": _text(p.get("handle")),
        "title": _text(p.get("title")),
        "sort_order": enum(p.get("sort_order")),
        "updated_at": iso_utc(p.get("updated_at")),
    }
