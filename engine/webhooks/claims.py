"""Tying a delivery's headers to its signed body.

Shopify signs only the body: the topic, shop-domain and event-id headers could be anything. So
before a verified delivery is recorded, every claim the body can confirm is checked against the
headers, and a body is identified by what it is (its SHA-256) rather than by the event-id header:

- the topic must be one shopsync subscribes to (or a compliance topic): anything else is refused
  before it can become a receipt, an event or a metric label value;
- `shop/redact`, `customers/redact` and `customers/data_request` carry `shop_domain`, and
  `app/uninstalled` carries the shop's `myshopify_domain`: it must equal the shop header;
- record topics carry `admin_graphql_api_id`: its resource type must be the topic's (a Customer
  gid for customers/*, …) and its number the body's `id`. Create/update bodies always carry it;
  delete bodies may be just `{"id": …}`, and never carry a full record (`updated_at`), so a
  captured create/update body cannot be re-sent as a delete;
- `bulk_operations/finish` carries a BulkOperation gid.

`claims_mismatch` returns why a delivery is refused (a short fixed reason, safe as a label) or
None. It never raises, whatever the payload holds.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from engine.webhooks.apply import COMPLIANCE_TOPICS, DELETE, ENTITY_TOPICS, LIFECYCLE_TOPICS

KNOWN_TOPICS = frozenset((*ENTITY_TOPICS, *COMPLIANCE_TOPICS, *LIFECYCLE_TOPICS))
# Topics whose apply destroys or locks out data; they are confirmed and recorded with their ids.
DESTRUCTIVE_TOPICS = frozenset(("shop/redact", "customers/redact", "app/uninstalled"))
GID_TYPES = {
    "customers": "Customer", "orders": "Order", "products": "Product",
    "collections": "Collection",
}
_GID = re.compile(r"gid://shopify/([A-Za-z]+)/([0-9]+)(?:\?.*)?")
# The fixed reasons, i.e. the label values of shopsync_webhooks_rejected_total.
UNKNOWN_TOPIC = "unknown_topic"
SHOP_MISMATCH = "shop_mismatch"
RESOURCE_MISMATCH = "resource_mismatch"


def body_digest(body: bytes) -> str:
    """What identifies a delivery: equal bytes are one signed delivery, whatever the headers."""
    return hashlib.sha256(body).hexdigest()


def _gid(value: object) -> tuple[str, int] | None:
    if not isinstance(value, str):
        return None
    match = _GID.fullmatch(value)
    return None if match is None else (match.group(1), int(match.group(2)))


def _same_shop(value: object, shop_domain: str) -> bool:
    return isinstance(value, str) and value.strip().lower() == shop_domain


def _record_mismatch(topic: str, payload: dict[str, Any]) -> str | None:
    entity, action = ENTITY_TOPICS[topic]
    gid = payload.get("admin_graphql_api_id")
    if gid is None and action == DELETE:
        return None
    parsed = _gid(gid)
    if parsed is None or parsed[0] != GID_TYPES[entity]:
        return RESOURCE_MISMATCH
    record_id = payload.get("id")
    if type(record_id) is not int or record_id != parsed[1]:
        return RESOURCE_MISMATCH
    if action == DELETE and "updated_at" in payload:
        return RESOURCE_MISMATCH
    return None


def claims_mismatch(topic: str, shop_domain: str, payload: dict[str, Any]) -> str | None:
    """Why the headers contradict the signed body (a fixed reason), or None when they agree."""
    if topic not in KNOWN_TOPICS:
        return UNKNOWN_TOPIC
    if topic in COMPLIANCE_TOPICS:
        return None if _same_shop(payload.get("shop_domain"), shop_domain) else SHOP_MISMATCH
    if topic == "app/uninstalled":
        return None if _same_shop(payload.get("myshopify_domain"), shop_domain) else (
            SHOP_MISMATCH
        )
    if topic == "bulk_operations/finish":
        parsed = _gid(payload.get("admin_graphql_api_id"))
        return None if parsed is not None and parsed[0] == "BulkOperation" else (
            RESOURCE_MISMATCH
        )
    if topic in ENTITY_TOPICS:
        return _record_mismatch(topic, payload)
    return None  # app/scopes_update names only the shop's number: nothing to compare
