"""REST-shaped views of records (webhook payloads, control API) and REST-ish partial updates.

Records are stored in the GraphQL shape; webhooks carry Shopify's REST shape (snake_case,
numeric `id`, `admin_graphql_api_id`). `apply_fields` maps a control-API body such as
`{"first_name": "X"}` onto a copy of a record, raising `FieldError` for unknown fields or values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.simulator.common import iso, money, parse_gid, parse_iso
from engine.simulator.data import ID_BASE, MAX_LINE_ITEMS, Ref


class FieldError(Exception):
    def __init__(self, name: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = name
        self.message = message
        self.status = status


def clone(value: Any) -> Any:
    """Copy plain dicts and lists, sharing `Ref` stubs and scalars."""
    if type(value) is dict:
        return {k: clone(v) for k, v in value.items()}
    if type(value) is list:
        return [clone(v) for v in value]
    return value


def _num(global_id: Any) -> int | None:
    parsed = parse_gid(global_id)
    return parsed[1] if parsed else None


def _lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _consent(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    if not obj:
        return None
    return {"state": _lower(obj["marketingState"]),
            "opt_in_level": _lower(obj.get("marketingOptInLevel")),
            "consent_updated_at": obj.get("marketingUpdatedAt")}


def _address(addr: dict[str, Any] | None) -> dict[str, Any] | None:
    if not addr:
        return None
    return {"id": _num(addr["id"]), "first_name": addr["firstName"],
            "last_name": addr["lastName"], "address1": addr["address1"],
            "address2": addr["address2"], "city": addr["city"], "province": addr["province"],
            "province_code": addr["provinceCode"], "country": addr["country"],
            "country_code": addr["countryCodeV2"], "zip": addr["zip"], "phone": addr["phone"],
            "company": addr["company"], "default": True}


def customer_view(r: dict[str, Any]) -> dict[str, Any]:
    email = r["defaultEmailAddress"]
    phone = r["defaultPhoneNumber"]
    return {
        "id": int(r["legacyResourceId"]), "admin_graphql_api_id": r["id"],
        "email": email["emailAddress"] if email else None,
        "first_name": r["firstName"], "last_name": r["lastName"],
        "phone": phone["phoneNumber"] if phone else None,
        "state": r["state"].lower(), "tags": ", ".join(r["tags"]), "note": r["note"],
        "verified_email": r["verifiedEmail"], "orders_count": int(r["numberOfOrders"]),
        "total_spent": r["amountSpent"]["amount"], "currency": r["amountSpent"]["currencyCode"],
        "created_at": r["createdAt"], "updated_at": r["updatedAt"],
        "email_marketing_consent": _consent(email),
        "sms_marketing_consent": _consent(phone),
        "default_address": _address(r["defaultAddress"]),
    }


_FULFILLMENT_REST = {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}


def order_view(r: dict[str, Any]) -> dict[str, Any]:
    customer = r["customer"]
    return {
        "id": int(r["legacyResourceId"]), "admin_graphql_api_id": r["id"], "name": r["name"],
        "order_number": int(r["name"].lstrip("#")) if r["name"].lstrip("#").isdigit() else None,
        "email": r["email"], "phone": r["phone"], "note": r["note"], "tags": ", ".join(r["tags"]),
        "test": r["test"], "currency": r["currencyCode"],
        "created_at": r["createdAt"], "updated_at": r["updatedAt"],
        "processed_at": r["processedAt"], "cancelled_at": r["cancelledAt"],
        "closed_at": r["closedAt"],
        "financial_status": _lower(r["displayFinancialStatus"]),
        "fulfillment_status": _FULFILLMENT_REST.get(r["displayFulfillmentStatus"]),
        "total_price": r["totalPriceSet"]["shopMoney"]["amount"],
        "subtotal_price": (r["subtotalPriceSet"] or r["totalPriceSet"])["shopMoney"]["amount"],
        "customer": None if customer is None else {
            "id": _num(customer["id"]), "admin_graphql_api_id": customer["id"]},
        "line_items": [{
            "id": _num(li["id"]), "admin_graphql_api_id": li["id"], "title": li["title"],
            "name": li["name"], "sku": li["sku"], "quantity": li["quantity"],
            "price": li["originalUnitPriceSet"]["shopMoney"]["amount"],
            "variant_id": _num(li["variant"]["id"]) if li["variant"] else None,
            "product_id": _num(li["product"]["id"]) if li["product"] else None,
        } for li in r["lineItems"]],
    }


def product_view(r: dict[str, Any]) -> dict[str, Any]:
    numeric = int(r["legacyResourceId"])
    return {
        "id": numeric, "admin_graphql_api_id": r["id"], "title": r["title"],
        "handle": r["handle"], "status": r["status"].lower(), "vendor": r["vendor"],
        "product_type": r["productType"], "tags": ", ".join(r["tags"]),
        "body_html": r["descriptionHtml"], "created_at": r["createdAt"],
        "updated_at": r["updatedAt"],
        "variants": [{
            "id": int(v["legacyResourceId"]), "admin_graphql_api_id": v["id"],
            "product_id": numeric, "title": v["title"], "sku": v["sku"], "price": v["price"],
            "inventory_quantity": v["inventoryQuantity"], "created_at": v["createdAt"],
            "updated_at": v["updatedAt"],
        } for v in r["variants"]],
    }


def collection_view(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(r["legacyResourceId"]), "admin_graphql_api_id": r["id"], "title": r["title"],
        "handle": r["handle"], "sort_order": r["sortOrder"].lower().replace("_", "-"),
        "body_html": r["description"], "updated_at": r["updatedAt"], "published_scope": "web",
        "product_ids": [_num(p["id"]) for p in r["products"]],
    }


VIEWS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "customers": customer_view, "orders": order_view, "products": product_view,
    "collections": collection_view,
}


# -------------------------------------------------------------------- partial updates


def _text(name: str, value: Any, *, nullable: bool = True) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise FieldError(name, f"{name} must be a string")
    return value


def _enum(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.upper() not in allowed:
        raise FieldError(name, f"{name} must be one of {', '.join(a.lower() for a in allowed)}")
    return value.upper()


def _tags(name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return list(value)
    raise FieldError(name, f"{name} must be a list of strings or a comma-separated string")


def _price(name: str, value: Any) -> str:
    try:
        cents = round(float(value) * 100)
    except (TypeError, ValueError):
        raise FieldError(name, f"{name} must be a decimal amount") from None
    if isinstance(value, bool) or cents < 0:
        raise FieldError(name, f"{name} must be a non-negative decimal amount")
    return money(cents)


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FieldError(name, f"{name} must be a non-negative integer")
    return value


def _time(name: str, value: Any) -> str | None:
    if value is None:
        return None
    try:
        return iso(parse_iso(_text(name, value) or ""))
    except ValueError:
        raise FieldError(name, f"{name} must be an ISO 8601 timestamp") from None


def _object(name: str, value: Any, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError(name, f"{name} must be an object")
    for key in value:
        if key not in keys:
            raise FieldError(f"{name}.{key}", f"unknown field '{name}.{key}'")
    return value


_CONSENT_KEYS = {"state", "opt_in_level", "consent_updated_at"}
_ADDRESS_KEYS = {"address1", "address2", "city", "province", "province_code", "country",
                 "country_code", "zip", "phone", "company", "first_name", "last_name"}


def _customer(r: dict[str, Any], name: str, value: Any, now: str) -> None:
    if name in ("first_name", "last_name"):
        r["firstName" if name == "first_name" else "lastName"] = _text(name, value)
        r["displayName"] = " ".join(p for p in (r["firstName"], r["lastName"]) if p) or "Customer"
    elif name == "email":
        email = _text(name, value)
        r["email"] = email
        if email is None:
            r["defaultEmailAddress"] = None
        else:
            base = r["defaultEmailAddress"] or {
                "marketingState": "NOT_SUBSCRIBED", "marketingOptInLevel": None,
                "marketingUpdatedAt": None, "openTrackingLevel": "UNKNOWN", "validFormat": True}
            r["defaultEmailAddress"] = {**base, "emailAddress": email}
    elif name == "phone":
        phone = _text(name, value)
        r["phone"] = phone
        r["defaultPhoneNumber"] = None if phone is None else {
            **(r["defaultPhoneNumber"] or {"marketingState": "NOT_SUBSCRIBED",
                                           "marketingOptInLevel": None,
                                           "marketingUpdatedAt": None}),
            "phoneNumber": phone}
    elif name in ("email_marketing_consent", "sms_marketing_consent"):
        consent = _object(name, value, _CONSENT_KEYS)
        key = "defaultEmailAddress" if name.startswith("email") else "defaultPhoneNumber"
        if r[key] is None:
            raise FieldError(name, f"{name} needs an {'email' if key[7] == 'E' else 'phone'}")
        states = (("INVALID", "NOT_SUBSCRIBED", "PENDING", "SUBSCRIBED", "UNSUBSCRIBED")
                  if key == "defaultEmailAddress"
                  else ("NOT_SUBSCRIBED", "PENDING", "REDACTED", "SUBSCRIBED", "UNSUBSCRIBED"))
        updated = dict(r[key])
        if "state" in consent:
            updated["marketingState"] = _enum(f"{name}.state", consent["state"], states)
        if "opt_in_level" in consent:
            level = consent["opt_in_level"]
            updated["marketingOptInLevel"] = None if level is None else _enum(
                f"{name}.opt_in_level", level, ("CONFIRMED_OPT_IN", "SINGLE_OPT_IN", "UNKNOWN"))
        updated["marketingUpdatedAt"] = _time(name, consent.get("consent_updated_at")) or now
        r[key] = updated
    elif name == "default_address":
        if value is None:
            r["defaultAddress"] = None
            return
        fields = _object(name, value, _ADDRESS_KEYS)
        addr = dict(r["defaultAddress"] or {
            "id": f"gid://shopify/MailingAddress/{r['legacyResourceId']}", "address1": None,
            "address2": None, "city": None, "province": None, "provinceCode": None,
            "country": None, "countryCodeV2": None, "zip": None, "phone": None,
            "company": None, "firstName": r["firstName"], "lastName": r["lastName"],
            "name": r["displayName"]})
        for key, val in fields.items():
            camel = {"province_code": "provinceCode", "country_code": "countryCodeV2",
                     "first_name": "firstName", "last_name": "lastName"}.get(key, key)
            addr[camel] = _text(f"{name}.{key}", val)
        r["defaultAddress"] = addr
    elif name == "tags":
        r["tags"] = _tags(name, value)
    elif name == "state":
        r["state"] = _enum(name, value, ("DECLINED", "DISABLED", "ENABLED", "INVITED"))
    elif name == "note":
        r["note"] = _text(name, value)
    elif name == "orders_count":
        r["numberOfOrders"] = str(_int(name, value))
    elif name == "total_spent":
        r["amountSpent"] = {**r["amountSpent"], "amount": _price(name, value)}
    else:
        raise FieldError(name, f"unknown field '{name}'")


_FINANCIAL = ("AUTHORIZED", "EXPIRED", "PAID", "PARTIALLY_PAID", "PARTIALLY_REFUNDED", "PENDING",
              "REFUNDED", "VOIDED")
_LINE_KEYS = {"title", "quantity", "price", "sku"}


def _order(r: dict[str, Any], name: str, value: Any, now: str) -> None:
    if name in ("email", "note", "phone"):
        r[name] = _text(name, value)
    elif name == "tags":
        r["tags"] = _tags(name, value)
    elif name == "financial_status":
        r["displayFinancialStatus"] = _enum(name, value, _FINANCIAL)
    elif name == "fulfillment_status":
        mapped = {None: "UNFULFILLED", "fulfilled": "FULFILLED", "partial": "PARTIALLY_FULFILLED",
                  "unfulfilled": "UNFULFILLED"}
        if value not in mapped:
            raise FieldError(name, f"{name} must be fulfilled, partial, unfulfilled or null")
        r["displayFulfillmentStatus"] = mapped[value]
    elif name in ("cancelled_at", "closed_at"):
        r["cancelledAt" if name == "cancelled_at" else "closedAt"] = _time(name, value)
    elif name == "customer_id":
        if value is None:
            r["customer"] = None
        else:
            ref = Ref(__typename="Customer", id=f"gid://shopify/Customer/{_int(name, value)}")
            ref.src = getattr(r["customer"], "src", None)
            r["customer"] = ref
    elif name == "total_price":
        amount = {"amount": _price(name, value), "currencyCode": r["currencyCode"]}
        r["totalPriceSet"] = {"shopMoney": amount, "presentmentMoney": amount}
    elif name == "line_items":
        if not isinstance(value, list) or not value:
            raise FieldError(name, f"{name} must be a non-empty list")
        base = ID_BASE["LineItem"] + 1 + (int(r["legacyResourceId"]) - ID_BASE["Order"] - 1) * 4
        items = []
        for j, raw in enumerate(value[:MAX_LINE_ITEMS]):
            item = _object(f"{name}[{j}]", raw, _LINE_KEYS)
            unit = {"amount": _price(f"{name}[{j}].price", item.get("price", "10.00")),
                    "currencyCode": r["currencyCode"]}
            title = _text(f"{name}[{j}].title", item.get("title", "Custom item")) or "Item"
            items.append({"__typename": "LineItem",
                          "id": f"gid://shopify/LineItem/{base + j}",
                          "name": title, "title": title,
                          "sku": _text(f"{name}[{j}].sku", item.get("sku")),
                          "quantity": _int(f"{name}[{j}].quantity", item.get("quantity", 1)),
                          "vendor": None, "variant": None, "product": None,
                          "originalUnitPriceSet": {"shopMoney": unit, "presentmentMoney": unit}})
        r["lineItems"] = items
    else:
        raise FieldError(name, f"unknown field '{name}'")


def _product(r: dict[str, Any], name: str, value: Any, now: str) -> None:
    if name in ("title", "handle", "vendor"):
        text = _text(name, value, nullable=False)
        if not text:
            raise FieldError(name, f"{name} can't be blank")
        r[name] = text
    elif name == "product_type":
        r["productType"] = _text(name, value, nullable=False)
    elif name == "body_html":
        r["descriptionHtml"] = _text(name, value) or ""
    elif name == "status":
        r["status"] = _enum(name, value, ("ACTIVE", "ARCHIVED", "DRAFT", "UNLISTED"))
    elif name == "tags":
        r["tags"] = _tags(name, value)
    else:
        raise FieldError(name, f"unknown field '{name}'")


def _collection(r: dict[str, Any], name: str, value: Any, now: str) -> None:
    if name in ("title", "handle"):
        text = _text(name, value, nullable=False)
        if not text:
            raise FieldError(name, f"{name} can't be blank")
        r[name] = text
    elif name == "body_html":
        r["description"] = _text(name, value) or ""
    elif name == "sort_order":
        r["sortOrder"] = _enum(name, str(value).replace("-", "_"), (
            "ALPHA_ASC", "ALPHA_DESC", "BEST_SELLING", "CREATED", "CREATED_DESC", "MANUAL",
            "PRICE_ASC", "PRICE_DESC"))
    else:
        raise FieldError(name, f"unknown field '{name}'")


_APPLY = {"customers": _customer, "orders": _order, "products": _product,
          "collections": _collection}


def apply_fields(entity: str, record: dict[str, Any], fields: dict[str, Any], now: str,
                 *, created: bool = False) -> dict[str, Any]:
    """A copy of `record` with `fields` applied and `updatedAt` = now (and createdAt if new)."""
    updated = clone(record)
    for name, value in fields.items():
        _APPLY[entity](updated, name, value, now)
    updated["updatedAt"] = now
    if created:
        updated["createdAt"] = now
        if entity == "orders":
            updated["processedAt"] = now
    for child in updated.get("variants", ()):
        child["updatedAt"] = now
        if created:
            child["createdAt"] = now
    return updated
