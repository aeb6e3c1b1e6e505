"""Webhook deliveries: verification, and the durable receipt that dedupes them.

The flow (DESIGN.md §3, shopify-api.md §5): engine.serve.app reads the raw body (capped) and checks
the HMAC over those exact bytes with `signature_valid` before parsing anything; the parsed
`Delivery` goes to the worker (engine.webhooks.ingest), which records it with `record_receipts`:
a WebhookReceipt row, "received" — or "duplicate" when the same shop already sent this topic's
X-Shopify-Event-Id (else X-Shopify-Webhook-Id), or when the same body (by its SHA-256) was
already recorded under any headers: the body is what the signature proves, so a replay with a
new event id, topic or shop is still a duplicate. A duplicate is logged and counted, never
applied, and keeps no copy of the body (it points at the original receipt). Receipts are what
makes the 200 durable: a crash between the answer and the apply leaves a "received" row that
`received_deliveries` finds again at the next start.

Every delivery lands in the activity log (an Event of kind "webhook", e.g. "orders/create #1042
applied") and in the `shopsync_webhooks_total{topic, outcome}` counter.

A refused delivery (bad signature, malformed, headers that contradict the signed body) writes no
receipt: `count_rejections` only adds it to a counter row per claimed store, topic, hour and
reason (WebhookRejection) when the claimed shop is a store we have and the topic one we
subscribe to — never a body, an id or a header — so a forgery can neither fill the database
nor make a real delivery look like a duplicate. Rows older than REJECTION_RETENTION are pruned.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from engine.config import Settings
from engine.domain.coerce import as_int, parse_time
from engine.persistence.counters import incr
from engine.persistence.database import transaction_lock, write_transaction
from engine.persistence.models import (
    Store,
    WebhookReceipt,
    WebhookRejection,
    database,
    utcnow,
)
from engine.persistence.sql import where_sql
from engine.webhooks.apply import DELETE, ENTITY_TOPICS, UNCONFIRMED
from engine.webhooks.claims import DESTRUCTIVE_TOPICS, body_digest
from engine.webhooks.context import (
    WEBHOOK_WRITES,
    Outcome,
    event_values,
    insert_row,
    insert_rows,
)

# Receipts are kept this long: the dedupe window (Shopify retries for 4 h) and the audit trail.
RECEIPT_RETENTION = timedelta(days=7)
# Rejection counter rows are kept this long (webhook health shows the last 24 h).
REJECTION_RETENTION = timedelta(hours=48)
# Receipts a later delivery of the same event or body is not a duplicate of: it may apply.
NOT_ORIGINALS = ("duplicate", "failed", UNCONFIRMED)


class IngestUnavailable(RuntimeError):
    """The worker is stopped; the delivery was not recorded (answer 503, Shopify retries)."""


# -- headers and signatures ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class WebhookHeaders:
    topic: str | None
    hmac: str | None
    shop_domain: str | None
    api_version: str | None
    webhook_id: str | None
    event_id: str | None
    triggered_at: str | None


def read_headers(headers: Mapping[str, str]) -> WebhookHeaders:
    """The Shopify headers, from `X-Shopify-*` or the un-prefixed `shopify-*` names, any case."""
    lowered = {key.lower(): value for key, value in headers.items()}

    def get(name: str) -> str | None:
        value = lowered.get(f"x-shopify-{name}") or lowered.get(f"shopify-{name}")
        value = value.strip() if value else None
        return value or None

    topic = get("topic")
    shop = get("shop-domain")
    return WebhookHeaders(
        topic=topic.lower() if topic else None,
        hmac=get("hmac-sha256"),
        shop_domain=shop.lower() if shop else None,
        api_version=get("api-version"),
        webhook_id=get("webhook-id"),
        event_id=get("event-id"),
        triggered_at=get("triggered-at"),
    )


def webhook_secrets(settings: Settings) -> tuple[bytes, ...]:
    """The app secret, and the previous one while a rotation propagates (up to an hour)."""
    secrets = [settings.api_secret, settings.api_secret_previous]
    return tuple(s.get_secret_value().encode() for s in secrets if s and s.get_secret_value())


def sign(body: bytes, secret: str | bytes) -> str:
    """Shopify's signature: base64 of HMAC-SHA256 over the raw body, keyed by the app secret."""
    key = secret.encode() if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def signature_valid(body: bytes, signature: str | None, secrets: Sequence[bytes]) -> bool:
    """Constant-time check of `signature` against every accepted secret."""
    if not signature or not secrets:
        return False
    try:
        given = base64.b64decode(signature.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False
    valid = False
    for secret in secrets:
        expected = hmac.new(secret, body, hashlib.sha256).digest()
        valid |= hmac.compare_digest(expected, given)
    return valid


# -- deliveries ---------------------------------------------------------------------------------

@dataclass(slots=True)
class Delivery:
    """A verified, parsed delivery on its way to the database."""

    topic: str
    shop_domain: str
    body: bytes
    payload: dict[str, Any]
    event_id: str | None = None
    webhook_id: str | None = None
    api_version: str | None = None
    triggered_at: str | None = None
    digest: str = ""

    def __post_init__(self) -> None:
        if not self.digest:
            self.digest = body_digest(self.body)

    @classmethod
    def from_headers(cls, headers: WebhookHeaders, body: bytes, payload: dict[str, Any]
                     ) -> Delivery:
        return cls(
            topic=headers.topic or "", shop_domain=headers.shop_domain or "", body=body,
            payload=payload, event_id=headers.event_id, webhook_id=headers.webhook_id,
            api_version=headers.api_version, triggered_at=headers.triggered_at,
        )

    def dedupe_key(self) -> tuple[str, str, str] | None:
        if self.event_id:
            return (self.shop_domain, self.topic, "e:" + self.event_id)
        if self.webhook_id:
            return (self.shop_domain, self.topic, "w:" + self.webhook_id)
        return None


def label(delivery: Delivery, outcome: Outcome | None = None) -> str:
    if outcome is not None and outcome.label:
        return outcome.label
    payload = delivery.payload
    if delivery.topic.startswith("orders/") and isinstance(payload.get("name"), str):
        return payload["name"]
    record_id = as_int(payload.get("id"))
    return str(record_id) if record_id is not None else ""


def _message(delivery: Delivery, status: str, detail: str | None, text: str) -> str:
    line = f"{delivery.topic} {text}".rstrip() + f" {status}"
    return f"{line}: {detail}" if detail and status != "applied" else line


# -- receipts -----------------------------------------------------------------------------------

def record_receipts(deliveries: list[Delivery]) -> list[tuple[int, str]]:
    """Record deliveries in one transaction; (receipt id, "received" | "duplicate") each."""
    results: list[tuple[int, str]] = []
    with write_transaction():
        transaction_lock(WEBHOOK_WRITES)  # another serve process may record the same event
        seen = seen_keys(deliveries)
        store_ids = _store_ids({d.shop_domain for d in deliveries})
        events: list[dict[str, Any]] = []
        counts: Counter[tuple[str, str]] = Counter()
        for delivery in deliveries:
            key = delivery.dedupe_key()
            original = seen.get(key) if key is not None else None
            if original is None:
                original = seen.get(("body", "", delivery.digest))
            store_id = store_ids.get(delivery.shop_domain)
            status = "received" if original is None else "duplicate"
            receipt_id = insert_row("webhook_receipt", {
                "event_id": delivery.event_id, "webhook_id": delivery.webhook_id,
                "topic": delivery.topic, "shop_domain": delivery.shop_domain,
                "store_id": store_id, "api_version": delivery.api_version,
                "triggered_at": delivery.triggered_at, "received_at": utcnow(),
                # A duplicate keeps no copy: its original receipt holds the body.
                "body": delivery.body.decode("utf-8") if original is None else "",
                "body_digest": delivery.digest, "status": status,
                "detail": None if original is None else f"same event as receipt {original}",
            })
            results.append((receipt_id, status))
            if original is None:
                if key is not None:
                    seen[key] = receipt_id
                seen[("body", "", delivery.digest)] = receipt_id
                continue
            counts[(delivery.topic, "duplicate")] += 1
            events.append(event_row(delivery, store_id, "duplicate", None, "info",
                                    label(delivery), receipt_id))
        if events:
            insert_rows("event", event_values(events))
            Store.update(last_webhook_at=utcnow()).where(
                Store.id.in_({e["store_id"] for e in events if e["store_id"]})
            ).execute()
        for (topic, outcome), n in counts.items():
            incr("shopsync_webhooks_total", n, topic=topic, outcome=outcome)
    return results


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused delivery as webhook health counts it: the shop and topic it claimed (from its
    headers, unverified) and why it was refused. Nothing else of it is kept."""

    shop_domain: str
    topic: str
    reason: str


def count_rejections(rejections: Sequence[Rejection], known_topics: frozenset[str],
                     now: datetime | None = None) -> int:
    """Add refused deliveries to the per-store counters, in one transaction; returns how many
    were counted (those naming a store we have and a topic in `known_topics`)."""
    hour = (now or utcnow()).replace(minute=0, second=0, microsecond=0)
    wanted = [r for r in rejections if r.topic in known_topics and r.shop_domain]
    if not wanted:
        return 0
    with write_transaction():
        store_ids = _store_ids({r.shop_domain for r in wanted})
        counts = Counter((store_ids[r.shop_domain], r.topic, r.reason)
                         for r in wanted if r.shop_domain in store_ids)
        for (store_id, topic, reason), n in counts.items():
            (WebhookRejection
             .insert(store=store_id, topic=topic, hour=hour, reason=reason, count=n)
             .on_conflict(conflict_target=[WebhookRejection.store, WebhookRejection.topic,
                                           WebhookRejection.hour, WebhookRejection.reason],
                          update={WebhookRejection.count: WebhookRejection.count + n})
             .execute())
        if counts:
            prune_rejections(hour, {store_id for store_id, _t, _r in counts})
    return sum(counts.values())


def prune_rejections(now: datetime | None = None, store_ids: set[int] | None = None) -> int:
    """Delete rejection counter rows older than REJECTION_RETENTION (of `store_ids` only)."""
    condition = WebhookRejection.hour < (now or utcnow()) - REJECTION_RETENTION
    if store_ids is not None:
        condition &= WebhookRejection.store.in_(store_ids)
    return WebhookRejection.delete().where(condition).execute()


def seen_keys(deliveries: Iterable[Delivery]) -> dict[tuple[str, str, str], int]:
    """Dedupe keys already recorded (not as duplicates or failures) → their receipt id.

    Keys are (shop, topic, "e:"/"w:" + header id) and ("body", "", sha256 of the body).
    Plain parameterised SQL: this runs in every receipt transaction, on the 2xx's path.
    """
    deliveries = list(deliveries)
    event_ids = {d.event_id for d in deliveries if d.event_id}
    webhook_ids = {d.webhook_id for d in deliveries if d.webhook_id and not d.event_id}
    digests = {d.digest for d in deliveries}
    seen: dict[tuple[str, str, str], int] = {}
    param = database.param
    originals = f'"status" NOT IN ({", ".join([param] * len(NOT_ORIGINALS))})'
    for chunk in _chunks(sorted(digests)):
        rows = database.execute_sql(
            f'SELECT "id", "body_digest" FROM "webhook_receipt" WHERE "body_digest" IN '
            f'({", ".join([param] * len(chunk))}) AND {originals}', (*chunk, *NOT_ORIGINALS),
        ).fetchall()
        for receipt_id, digest in rows:
            seen.setdefault(("body", "", digest or ""), receipt_id)
    for column, values in (("event_id", event_ids), ("webhook_id", webhook_ids)):
        for chunk in _chunks(sorted(values)):
            rows = database.execute_sql(
                f'SELECT "id", "event_id", "webhook_id", "shop_domain", "topic" '
                f'FROM "webhook_receipt" WHERE "{column}" IN '
                f'({", ".join([param] * len(chunk))}) AND {originals}',
                (*chunk, *NOT_ORIGINALS),
            ).fetchall()
            for receipt_id, event_id, webhook_id, shop_domain, topic in rows:
                key = _key(shop_domain, topic, event_id, webhook_id)
                if key is not None:
                    seen.setdefault(key, receipt_id)
    return seen


def _chunks(values: list[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _key(shop_domain: str, topic: str, event_id: str | None, webhook_id: str | None
         ) -> tuple[str, str, str] | None:
    if event_id:
        return (shop_domain, topic, "e:" + event_id)
    if webhook_id:
        return (shop_domain, topic, "w:" + webhook_id)
    return None


def settle(receipt_id: int, outcome: Outcome, store_id: int | None) -> bool:
    """Record a receipt's outcome, unless someone else already did (False then)."""
    values: dict[str, Any] = {"status": outcome.status, "detail": outcome.detail}
    if store_id is not None:
        values["store_id"] = store_id
    cursor = database.execute_sql(
        where_sql("UPDATE", "webhook_receipt", tuple(values), ("id", "status"), database.param),
        (*values.values(), receipt_id, "received"),
    )
    return cursor.rowcount > 0


def _store_ids(domains: set[str]) -> dict[str, int]:
    if not domains:
        return {}
    ordered = sorted(domains)
    rows = database.execute_sql(
        f'SELECT "domain", "id" FROM "store" WHERE "domain" IN '
        f'({", ".join([database.param] * len(ordered))})', ordered,
    ).fetchall()
    return {domain: store_id for domain, store_id in rows}


def event_row(delivery: Delivery, store_id: int | None, status: str, detail: str | None,
              level: str, text: str, receipt_id: int) -> dict[str, Any]:
    """The activity-log row of one delivery, for Event.insert_many."""
    return {
        "at": utcnow(), "store_id": store_id, "store_domain": delivery.shop_domain,
        "kind": "webhook", "level": level,
        "message": _message(delivery, status, detail, text),
        "data": _event_data(delivery, receipt_id),
    }


def _event_data(delivery: Delivery, receipt_id: int) -> dict[str, Any]:
    data: dict[str, Any] = {"receipt": receipt_id, "topic": delivery.topic}
    if delivery.topic in DESTRUCTIVE_TOPICS:  # who asked for it, for the audit trail
        data.update(event_id=delivery.event_id, webhook_id=delivery.webhook_id,
                    triggered_at=delivery.triggered_at, body_sha256=delivery.digest)
    return data


# -- recovery -----------------------------------------------------------------------------------

def received_deliveries(*, older_than: timedelta | None, limit: int = 5000
                        ) -> Iterator[tuple[int, Delivery]]:
    """Receipts still "received" (oldest first), as deliveries to apply again.

    A receipt whose body cannot be read back is settled as "failed" instead.
    """
    query = WebhookReceipt.select().where(WebhookReceipt.status == "received")
    if older_than is not None:
        query = query.where(WebhookReceipt.received_at < utcnow() - older_than)
    for receipt in query.order_by(WebhookReceipt.id).limit(limit):
        try:
            payload = orjson.loads(receipt.body)
            if not isinstance(payload, dict):
                raise ValueError("not a JSON object")
        except ValueError as error:
            settle(receipt.id, Outcome("failed", f"unreadable body: {error}"), None)
            continue
        yield receipt.id, Delivery(
            topic=receipt.topic, shop_domain=receipt.shop_domain, body=receipt.body.encode(),
            payload=payload, event_id=receipt.event_id, webhook_id=receipt.webhook_id,
            api_version=receipt.api_version, triggered_at=receipt.triggered_at,
        )


def recent_deletions(within: timedelta) -> Iterator[tuple[tuple[int, str, int], datetime]]:
    """((store id, entity, record id), deleted at) of `*/delete` deliveries applied lately."""
    delete_topics = [t for t, (_e, action) in ENTITY_TOPICS.items() if action == DELETE]
    query = WebhookReceipt.select().where(
        WebhookReceipt.topic.in_(delete_topics) & (WebhookReceipt.status == "applied")
        & (WebhookReceipt.received_at > utcnow() - within)
        & WebhookReceipt.store_id.is_null(False)
    )
    for receipt in query:
        try:
            record_id = as_int(orjson.loads(receipt.body).get("id"))
        except (ValueError, AttributeError):
            continue
        if record_id is None or receipt.store_id is None:
            continue
        at = parse_time(receipt.triggered_at) or receipt.received_at.replace(tzinfo=UTC)
        yield (receipt.store_id, ENTITY_TOPICS[receipt.topic][0], record_id), at


def prune_receipts(older_than: timedelta = RECEIPT_RETENTION) -> int:
    """Delete receipts past the retention window (the scheduler calls this now and then)."""
    return WebhookReceipt.delete().where(
        WebhookReceipt.received_at < utcnow() - older_than
    ).execute()
