"""Webhook subscriptions: the "webhooks" job that registers and re-asserts them, and diagnosis.

The job lists the app's subscriptions at the shop (WEBHOOK_LIST), creates every needed topic
missing at `SHOPSYNC_PUBLIC_URL/webhooks` (webhooks_create: all of them in one request), and
stores what is in place on the store (`webhook_topics`, `webhooks_registered_at` when something
was created). Shopify deletes a subscription after repeated failed deliveries, and an
uninstall deletes them all, so the scheduler runs this job every `webhook_assert_interval`
(shopify-api.md §5.4).

`webhook_problem(store)` says what is wrong with a store's live data, for the Troubleshoot
screen and `shopsync show`: subscriptions missing, or silence while Connected.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from engine.config import Settings
from engine.credentials import open_client
from engine.domain.policy import store_blocked
from engine.domain.status import ENTITY_CATEGORY, Entity
from engine.domain.webhook_health import SUBSCRIPTIONS_CHECKED
from engine.jobs.runner import JobContext, JobFailed
from engine.persistence.facts import store_facts
from engine.persistence.models import Store, utcnow
from engine.persistence.reads import categories_of
from engine.persistence.records import record_event
from engine.persistence.webhook_health import last_subscription_check
from engine.shopify.documents import WEBHOOK_LIST, webhooks_create
from engine.shopify.errors import ShopifyError

log = logging.getLogger("shopsync.livedata")

ENTITY_WEBHOOK_TOPICS: dict[Entity, tuple[str, ...]] = {
    Entity.CUSTOMERS: ("CUSTOMERS_CREATE", "CUSTOMERS_UPDATE", "CUSTOMERS_DELETE"),
    Entity.ORDERS: ("ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_DELETE"),
    Entity.PRODUCTS: ("PRODUCTS_CREATE", "PRODUCTS_UPDATE", "PRODUCTS_DELETE"),
    Entity.COLLECTIONS: ("COLLECTIONS_CREATE", "COLLECTIONS_UPDATE", "COLLECTIONS_DELETE"),
}
APP_TOPICS: tuple[str, ...] = ("APP_UNINSTALLED", "APP_SCOPES_UPDATE", "BULK_OPERATIONS_FINISH")
ALL_TOPICS: tuple[str, ...] = (
    *(t for topics in ENTITY_WEBHOOK_TOPICS.values() for t in topics), *APP_TOPICS,
)

# A Connected store that has sent nothing for this long is worth a look (Troubleshoot).
SILENT_AFTER = timedelta(hours=24)
MAX_PAGES = 20


def webhook_uri(settings: Settings) -> str:
    """Where Shopify sends deliveries: the public URL of `serve` + /webhooks."""
    return settings.public_url.rstrip("/") + "/webhooks"


def needed_topics(store: Store) -> list[str]:
    """The subscriptions a store needs: its enabled entities' topics, plus the app's own."""
    categories = categories_of(store)
    topics = [
        topic for entity, entity_topics in ENTITY_WEBHOOK_TOPICS.items()
        if categories[ENTITY_CATEGORY[entity]] for topic in entity_topics
    ]
    return [*topics, *APP_TOPICS]


def slash_topic(enum_value: str) -> str:
    """ORDERS_UPDATED → orders/updated; BULK_OPERATIONS_FINISH → bulk_operations/finish."""
    if enum_value == "BULK_OPERATIONS_FINISH":
        return "bulk_operations/finish"
    head, _, tail = enum_value.lower().partition("_")
    return f"{head}/{tail}"


def registered_topics(store: Store) -> set[str]:
    return {t for t in (store.webhook_topics or "").split(",") if t}


def webhook_problem(store: Store, *, now: datetime | None = None) -> str | None:
    """What is wrong with the store's webhooks, in the operator's words; None when nothing.

    Only meaningful while the store can receive them: a Disconnected or Reconnect-required
    store has a bigger problem that its status already names.
    """
    if store_blocked(store_facts(store)) is not None:
        return None
    now = now or utcnow()
    if store.webhooks_registered_at is None and not store.webhook_topics:
        return "Webhooks not registered: changes arrive only with scheduled syncs"
    missing = [t for t in needed_topics(store) if t not in registered_topics(store)]
    if missing:
        shown = ", ".join(slash_topic(t) for t in missing[:4])
        more = f" (+{len(missing) - 4} more)" if len(missing) > 4 else ""
        return f"Webhook subscriptions missing: {shown}{more}"
    since = store.last_webhook_at or store.webhooks_registered_at
    if since is not None and now - since > SILENT_AFTER:
        hours = int((now - since).total_seconds() // 3600)
        return f"No webhooks received for {hours} h while Connected"
    return None


# Shopify's answer when the topic already has a subscription at this address.
ALREADY_TAKEN = "already been taken"


async def _list_subscriptions(client: Any) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after: str | None = None
    for _page in range(MAX_PAGES):
        data = await client.graphql(WEBHOOK_LIST, {"after": after})
        connection = data["webhookSubscriptions"]
        nodes.extend(connection["nodes"])
        info = connection["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    return nodes


async def _create(client: Any, topics: list[str], uri: str) -> dict[str, str | None]:
    """Create the subscriptions, all in one request (engine.shopify.documents.webhooks_create);
    returns each topic's Shopify user error, or None where it was created."""
    variables: dict[str, Any] = {f"t{i}": topic for i, topic in enumerate(topics)}
    variables["subscription"] = {"uri": uri, "format": "JSON"}
    data = await client.graphql(webhooks_create(len(topics)), variables)
    outcome: dict[str, str | None] = {}
    for i, topic in enumerate(topics):
        errors = (data.get(f"w{i}") or {}).get("userErrors") or []
        outcome[topic] = "; ".join(str(e.get("message")) for e in errors) if errors else None
    return outcome


def _save(store_id: int, present: list[str], created: bool) -> None:
    values: dict[str, Any] = {"webhook_topics": ",".join(present)}
    if created:
        values["webhooks_registered_at"] = utcnow()
    Store.update(**values).where(Store.id == store_id).execute()


def _record_check(store: Store, uri: str, existing: list[dict[str, Any]],
                  created: list[str]) -> None:
    """Remember what Shopify holds (topic → URLs) for webhook health, when it changed: a topic
    registered at another URL means another installation receives this store's deliveries."""
    seen: dict[str, list[str]] = {}
    for node in existing:
        seen.setdefault(str(node.get("topic")), []).append(str(node.get("uri")))
    for topic in created:
        seen.setdefault(topic, []).append(uri)
    subscriptions = {t: sorted(set(u)) for t, u in sorted(seen.items())}
    picture: dict[str, Any] = {"uri": uri, "subscriptions": subscriptions}
    if last_subscription_check(store.id) == picture:
        return
    elsewhere = sorted({u for uris in subscriptions.values() for u in uris if u != uri})
    ours = sum(1 for uris in subscriptions.values() if uri in uris)
    message = f"{SUBSCRIPTIONS_CHECKED}: {ours} topics at {uri}"
    if elsewhere:
        message += f"; also registered at {', '.join(elsewhere)}"
    record_event(store, "webhook", message, level="warning" if elsewhere else "info",
                 data=picture)


async def assert_webhooks(ctx: JobContext) -> dict:
    """Register every needed topic missing at our URI; record what is in place."""
    store = await asyncio.to_thread(Store.get_or_none, Store.id == ctx.job.store_id)
    if store is None:
        return {"skipped": "store deleted"}
    blocked = await asyncio.to_thread(lambda: store_blocked(store_facts(store)))
    if blocked is not None:
        return {"skipped": blocked}
    uri = webhook_uri(ctx.runtime.settings)
    wanted = needed_topics(store)
    created: list[str] = []
    failures: list[str] = []
    try:
        async with open_client(ctx.runtime, store) as client:
            existing = await _list_subscriptions(client)
            present = {n["topic"] for n in existing if n.get("uri") == uri}
            missing = [topic for topic in wanted if topic not in present]
            if missing:
                ctx.check_stop()
                for topic, error in (await _create(client, missing, uri)).items():
                    if error is None:
                        created.append(topic)
                        present.add(topic)
                    elif ALREADY_TAKEN in error:  # registered meanwhile (another runner)
                        present.add(topic)
                    else:
                        failures.append(f"{slash_topic(topic)}: {error}")
    except ShopifyError as error:
        raise JobFailed(f"Webhook registration failed: {error.detail}") from None
    in_place = [t for t in ALL_TOPICS if t in present]
    await asyncio.to_thread(_save, store.id, in_place, bool(created) or
                            store.webhooks_registered_at is None)
    await asyncio.to_thread(_record_check, store, uri, existing, created)
    if created:
        message = (f"Webhooks registered: {len(created)} subscriptions at {uri}"
                   if len(created) == len(wanted) else
                   f"Webhooks re-asserted: {', '.join(slash_topic(t) for t in created)}"
                   " re-created")
        await asyncio.to_thread(record_event, store, "webhook", message)
    if failures:
        detail = "; ".join(failures[:3]) + (f" (+{len(failures) - 3} more)"
                                            if len(failures) > 3 else "")
        await asyncio.to_thread(record_event, store, "webhook",
                                f"Webhook registration incomplete: {detail}", level="warning")
        raise JobFailed(f"Webhook registration incomplete: {detail}")
    return {"created": [slash_topic(t) for t in created], "present": len(in_place), "uri": uri}
