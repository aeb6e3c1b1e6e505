"""Every GraphQL document shopsync sends to the Admin API, in one place.

Each one is validated against the real Admin schema (../shared/reference/admin-schema) by
tests/engine/test_documents.py, deprecated fields included, so a quarterly API bump is one diff.
The simulator serves exactly these shapes; keep the two in step.

Bulk queries are built by `bulk_query(entity, since=None, ids_only=False)`: the entity's connection
with `sortKey: UPDATED_AT`, optionally filtered by `updated_at:>='…'` for incremental syncs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

SHOP_INFO = """
query ShopInfo {
  shop {
    id name email contactEmail myshopifyDomain
    primaryDomain { host url }
    currencyCode ianaTimezone
    plan { publicDisplayName partnerDevelopment shopifyPlus }
    shopAddress { country countryCodeV2 }
    createdAt
  }
}
"""

# A plain `shop { name }` needs only a valid token: the cheapest "API responding" probe.
PING = "query Ping { shop { name } }"

BULK_RUN = """
mutation BulkRun($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: false) {
    bulkOperation { id status createdAt }
    userErrors { field message code }
  }
}
"""

BULK_STATUS = """
query BulkStatus($id: ID!) {
  bulkOperation(id: $id) {
    id type status errorCode objectCount rootObjectCount fileSize url partialDataUrl createdAt completedAt
  }
}
"""

# The shop's operations, newest first (the API's default order); status filtering is done by the
# caller, since one query cannot ask for "created or running or canceling".
BULK_LIST = """
query BulkList($first: Int!) {
  bulkOperations(first: $first, sortKey: CREATED_AT) {
    nodes {
      id type status errorCode objectCount rootObjectCount fileSize url partialDataUrl query
      createdAt completedAt
    }
  }
}
"""

BULK_CANCEL = """
mutation BulkCancel($id: ID!) {
  bulkOperationCancel(id: $id) {
    bulkOperation { id status }
    userErrors { field message }
  }
}
"""

WEBHOOK_CREATE = """
mutation WebhookCreate($topic: WebhookSubscriptionTopic!, $subscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $subscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""

def webhooks_create(count: int) -> str:
    """`count` webhookSubscriptionCreate mutations in one request (aliases w0, w1, …; topic
    variables $t0, $t1, …; one $subscription for all): registering a store's topics costs one
    round trip, not one per topic. Shopify runs a document's mutations one after another,
    each with its own userErrors."""
    if count < 1:
        raise ValueError("no subscription to create")
    topics = ", ".join(f"$t{i}: WebhookSubscriptionTopic!" for i in range(count))
    fields = " ".join(
        f"w{i}: webhookSubscriptionCreate(topic: $t{i}, webhookSubscription: $subscription) "
        "{ webhookSubscription { id topic uri } userErrors { field message } }"
        for i in range(count))
    return (f"mutation WebhooksCreate({topics}, $subscription: WebhookSubscriptionInput!) "
            f"{{ {fields} }}")


WEBHOOK_LIST = """
query WebhookList($after: String) {
  webhookSubscriptions(first: 25, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id topic uri }
  }
}
"""

WEBHOOK_DELETE = """
mutation WebhookDelete($id: ID!) {
  webhookSubscriptionDelete(id: $id) {
    deletedWebhookSubscriptionId
    userErrors { field message }
  }
}
"""

# The node selections of each entity's bulk export. Child connections (line items, variants,
# collection members) come back as their own JSONL lines carrying `__parentId`.
_NODES: dict[str, str] = {
    "customers": """
      __typename id firstName lastName displayName state tags numberOfOrders
      amountSpent { amount currencyCode }
      createdAt updatedAt
      defaultEmailAddress { emailAddress marketingState marketingOptInLevel marketingUpdatedAt }
      defaultPhoneNumber { phoneNumber marketingState marketingOptInLevel marketingUpdatedAt }
      defaultAddress { address1 address2 city province provinceCode country countryCodeV2 zip }
    """,
    "orders": """
      __typename id name email createdAt updatedAt processedAt cancelledAt closedAt
      displayFinancialStatus displayFulfillmentStatus currencyCode
      totalPriceSet { shopMoney { amount currencyCode } }
      customer { id }
      lineItems {
        edges { node {
          __typename id sku quantity title variant { id }
          originalUnitPriceSet { shopMoney { amount currencyCode } }
        } }
      }
    """,
    "products": """
      __typename id title handle status vendor productType tags createdAt updatedAt
      variants { edges { node { __typename id title sku price updatedAt } } }
    """,
    "collections": """
      __typename id handle title sortOrder updatedAt
      products { edges { node { __typename id } } }
    """,
}

ENTITIES: tuple[str, ...] = ("customers", "orders", "products", "collections")


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def bulk_query(entity: str, since: datetime | None = None, ids_only: bool = False) -> str:
    """The inner query of a bulk export of `entity` (one of ENTITIES).

    `since` (UTC) limits it to records updated at or after that moment; `ids_only` selects just
    the ids, for deletion reconciliation.
    """
    if entity not in _NODES:
        raise ValueError(f"unknown entity {entity!r}")
    arguments = "sortKey: UPDATED_AT"
    if since is not None:
        arguments = f"query: \"updated_at:>='{_timestamp(since)}'\", {arguments}"
    nodes = "__typename id" if ids_only else _NODES[entity]
    return f"{{ {entity}({arguments}) {{ edges {{ node {{ {nodes} }} }} }} }}"


def count_query(entity: str, since: datetime | None = None) -> str:
    """The number of root records an export of `entity` will hold (exact: no limit)."""
    if entity not in _NODES:
        raise ValueError(f"unknown entity {entity!r}")
    search = f"query: \"updated_at:>='{_timestamp(since)}'\", " if since is not None else ""
    return f"query EntityCount {{ {entity}Count({search}limit: null) {{ count precision }} }}"


def counts_query(entities: Sequence[str]) -> str:
    """Several entities' record counts in one request (each field as count_query asks it):
    a count check costs one round trip, not one per entity."""
    unknown = [entity for entity in entities if entity not in _NODES]
    if unknown or not entities:
        raise ValueError(f"unknown entities {unknown!r}" if unknown else "no entity to count")
    fields = " ".join(f"{entity}Count(limit: null) {{ count precision }}" for entity in entities)
    return f"query EntityCounts {{ {fields} }}"


def all_documents() -> dict[str, str]:
    """Every document the engine can send, by name, for validation."""
    documents = {
        "SHOP_INFO": SHOP_INFO,
        "PING": PING,
        "BULK_RUN": BULK_RUN,
        "BULK_STATUS": BULK_STATUS,
        "BULK_CANCEL": BULK_CANCEL,
        "BULK_LIST": BULK_LIST,
        "WEBHOOK_CREATE": WEBHOOK_CREATE,
        "WEBHOOKS_CREATE": webhooks_create(15),
        "WEBHOOK_LIST": WEBHOOK_LIST,
        "WEBHOOK_DELETE": WEBHOOK_DELETE,
    }
    documents["counts:all"] = counts_query(ENTITIES)
    for entity in ENTITIES:
        documents[f"bulk:{entity}"] = bulk_query(entity)
        documents[f"bulk:{entity}:since"] = bulk_query(entity, since=datetime(2026, 1, 1))
        documents[f"bulk:{entity}:ids"] = bulk_query(entity, ids_only=True)
        documents[f"count:{entity}"] = count_query(entity)
        documents[f"count:{entity}:since"] = count_query(entity, since=datetime(2026, 1, 1))
    return documents
