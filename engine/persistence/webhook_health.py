"""Per-topic webhook health of one store, read from the delivery receipts of the last 24 hours
and the latest subscription check (engine.domain.webhook_health has the model).

Accepted deliveries and duplicates are receipts; rejections (a bad signature, a malformed body
or headers that contradict the signed body, counted against the store the delivery claimed)
are WebhookRejection counter rows, by the hour: a refused delivery writes no receipt. The lag
of a delivery is its receive time minus its X-Shopify-Triggered-At.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from statistics import median

from peewee import fn

from engine.domain.coerce import naive_utc
from engine.domain.webhook_health import SUBSCRIPTIONS_CHECKED, TopicHealth
from engine.persistence.models import Event, Store, WebhookReceipt, WebhookRejection, utcnow

WINDOW = timedelta(hours=24)
NOT_DELIVERIES = ("duplicate", "rejected")


def slash(topic: str) -> str:
    """ORDERS_CREATE → orders/create (the header's form)."""
    if topic == "BULK_OPERATIONS_FINISH":
        return "bulk_operations/finish"
    head, _, tail = topic.lower().partition("_")
    return f"{head}/{tail}"


def last_subscription_check(store_id: int) -> dict | None:
    """What the latest subscription check saw: {"uri": ours, "subscriptions": {topic: [uris]}}."""
    event = (Event.select(Event.data).where(
        (Event.store_id == store_id) & (Event.kind == "webhook")
        & Event.message.startswith(SUBSCRIPTIONS_CHECKED)
    ).order_by(Event.id.desc()).first())
    data = event.data if event is not None else None
    return data if isinstance(data, dict) and isinstance(data.get("subscriptions"), dict) \
        else None


def _time(value: object) -> datetime | None:
    """MAX() over a timestamp arrives as text on SQLite."""
    return value if isinstance(value, datetime) else naive_utc(value)


def webhook_health(store: Store, topics: list[str], now: datetime | None = None
                   ) -> tuple[TopicHealth, ...]:
    """`topics` (slash form, in display order) plus any other topic that delivered lately."""
    moment = now or utcnow()
    since = moment - WINDOW
    deliveries: dict[str, int] = defaultdict(int)
    duplicates: dict[str, int] = defaultdict(int)
    rejected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    lags: dict[str, list[float]] = defaultdict(list)
    rows = WebhookReceipt.select(
        WebhookReceipt.topic, WebhookReceipt.status, WebhookReceipt.detail,
        WebhookReceipt.triggered_at, WebhookReceipt.received_at,
    ).where((WebhookReceipt.store_id == store.id) & (WebhookReceipt.received_at >= since))
    for row in rows:
        if row.status == "duplicate":
            duplicates[row.topic] += 1
            continue
        if row.status == "rejected":  # left by an older version; refusals are counted below
            continue
        deliveries[row.topic] += 1
        triggered = naive_utc(row.triggered_at)
        if triggered is not None:
            lags[row.topic].append((row.received_at - triggered).total_seconds())
    # Counted by the hour: the hour `since` falls in is included whole.
    first_hour = since.replace(minute=0, second=0, microsecond=0)
    counted = (WebhookRejection.select(WebhookRejection.topic, WebhookRejection.reason,
                                       fn.SUM(WebhookRejection.count))
               .where((WebhookRejection.store == store.id)
                      & (WebhookRejection.hour >= first_hour))
               .group_by(WebhookRejection.topic, WebhookRejection.reason).tuples())
    rows_counted: list[tuple[str, str, int | None]] = list(counted)  # type: ignore[arg-type]  # tuples()
    for topic, reason, n in rows_counted:
        rejected[str(topic)][str(reason)] += int(n or 0)
    newest = (WebhookReceipt.select(WebhookReceipt.topic, fn.MAX(WebhookReceipt.received_at))
              .where((WebhookReceipt.store_id == store.id)
                     & WebhookReceipt.status.not_in(NOT_DELIVERIES))
              .group_by(WebhookReceipt.topic).tuples())
    rows_newest: list[tuple[str, object]] = list(newest)  # type: ignore[arg-type]  # tuples()
    last = {topic: _time(at) for topic, at in rows_newest}
    check = last_subscription_check(store.id)
    ours = str(check.get("uri")) if check else None
    registered = {slash(t) for t in (store.webhook_topics or "").split(",") if t}
    seen = (check or {}).get("subscriptions") or {}
    at_shopify = {slash(str(t)): [str(u) for u in uris] for t, uris in seen.items()
                  if isinstance(uris, list)}
    extra = sorted(set(deliveries) | set(last) | set(rejected) - set(topics))
    result = []
    for topic in [*topics, *(t for t in extra if t not in topics)]:
        uris = at_shopify.get(topic, [])
        subscribed = topic in registered if (check or store.webhook_topics) else None
        samples = lags.get(topic) or []
        result.append(TopicHealth(
            topic=topic, subscribed=subscribed, uri=ours if subscribed else None,
            other_uris=tuple(u for u in uris if u != ours),
            last_delivery_at=last.get(topic), deliveries=deliveries.get(topic, 0),
            duplicates=duplicates.get(topic, 0), rejected=dict(rejected.get(topic, {})),
            lag_median_seconds=median(samples) if samples else None,
            lag_worst_seconds=max(samples) if samples else None,
        ))
    return tuple(result)
