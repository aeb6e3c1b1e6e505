"""REST webhook payloads mapped to the record tables' rows, in engine.sync.job's conventions.

Webhook bodies are REST-shaped (snake_case, numeric ids, lowercase enums, local-offset times);
bulk exports are GraphQL-shaped. Both must land as the same column values, so every value here
goes through engine.domain.coerce, which normalises it to the GraphQL spelling (`paid` → `PAID`,
`best-selling` → `BEST_SELLING`, timestamps as UTC `YYYY-MM-DDTHH:MM:SSZ`) and drops a value of
the wrong shape as NULL.
"""

from __future__ import annotations

from typing import Any

from engine.domain.coerce import as_dict, as_int, as_list, enum, iso_utc, tags, text

# -- REST payload → row -------------------------------------------------------------------------

def customer_row(p: dict[str, Any]) -> dict[str, Any]:
    address = as_dict(p.get("default_address"))
    email = as_dict(p.get("email_marketing_consent"))
    sms = as_dict(p.get("sms_marketing_consent"))
    return {
        "first_name": text(p.get("first_name")),
        "last_name": text(p.get("last_name")),
        "email": text(p.get("email")),
        "phone": text(p.get("phone")),
        "email_marketing_state": enum(email.get("state")),
        "email_opt_in_level": enum(email.get("opt_in_level")),
        "email_consent_updated_at": iso_utc(email.get("consent_updated_at")),
        "sms_marketing_state": enum(sms.get("state")),
        "sms_opt_in_level": enum(sms.get("opt_in_level")),
        "sms_consent_updated_at": iso_utc(sms.get("consent_updated_at")),
        "address1": text(address.get("address1")),
        "address2": text(address.get("address2")),
        "city": text(address.get("city")),
        "province": text(address.get("province")),
        "country": text(address.get("country")),
        "country_code": text(address.get("country_code")),
        "zip": text(address.get("zip")),
        "tags": tags(p.get("tags")),
        "state": enum(p.get("state")),
        "orders_count": as_int(p.get("orders_count")),
        "amount_spent": text(p.get("total_spent")),
        "currency": text(p.get("currency")),
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
        "name": text(p.get("name")),
        "customer_id": as_int(as_dict(p.get("customer")).get("id")),
        "email": text(p.get("email")),
        "financial_status": enum(p.get("financial_status")),
        "fulfillment_status": fulfillment(p.get("fulfillment_status")),
        "currency": text(p.get("currency")),
        "total_price": text(p.get("total_price")),
        "processed_at": iso_utc(p.get("processed_at")),
        "cancelled_at": iso_utc(p.get("cancelled_at")),
        "closed_at": iso_utc(p.get("closed_at")),
        "created_at": iso_utc(p.get("created_at")),
        "updated_at": iso_utc(p.get("updated_at")),
    }


def line_item_rows(p: dict[str, Any], order_id: int) -> list[dict[str, Any]]:
    rows = []
    for item in as_list(p.get("line_items")):
        item_id = as_int(as_dict(item).get("id"))
        if item_id is None:
            continue
        rows.append({
            "shopify_id": item_id,
            "order_id": order_id,
            "sku": text(item.get("sku")),
            "title": text(item.get("title")),
            "quantity": as_int(item.get("quantity")),
            "variant_id": as_int(item.get("variant_id")),
            "unit_price": text(item.get("price")),
        })
    return rows


def product_row(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": text(p.get("title")),
        "handle": text(p.get("handle")),
        "status": enum(p.get("status")),
        "vendor": text(p.get("vendor")),
        "product_type": text(p.get("product_type")),
        "tags": tags(p.get("tags")),
        "created_at": iso_utc(p.get("created_at")),
        "updated_at": iso_utc(p.get("updated_at")),
    }


def variant_rows(p: dict[str, Any], product_id: int) -> list[dict[str, Any]]:
    rows = []
    for variant in as_list(p.get("variants")):
        variant_id = as_int(as_dict(variant).get("id"))
        if variant_id is None:
            continue
        rows.append({
            "shopify_id": variant_id,
            "product_id": product_id,
            "title": text(variant.get("title")),
            "sku": text(variant.get("sku")),
            "price": text(variant.get("price")),
            "updated_at": iso_utc(variant.get("updated_at")),
        })
    return rows


def collection_row(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "handle": text(p.get("handle")),
        "title": text(p.get("title")),
        "sort_order": enum(p.get("sort_order")),
        "updated_at": iso_utc(p.get("updated_at")),
    }
