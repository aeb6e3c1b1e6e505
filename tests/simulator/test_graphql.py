"""The GraphQL endpoint: versions, auth and shop states, request errors, the engine's documents,
pagination and search, ACCESS_DENIED and node lookups."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from engine.shopify import documents
from tests.simulator.conftest import Admin, Receiver, ShopFactory


def test_versions(shop: Admin) -> None:
    for version in ("2026-01", "2026-04", "2026-07", "2026-10"):
        response = shop.gql(documents.PING, version=version)
        assert response.status_code == 200
        assert response.headers["x-shopify-api-version"] == version
    old = shop.gql(documents.PING, version="2024-01")
    assert old.status_code == 200 and old.headers["x-shopify-api-version"] == "2026-01"
    assert shop.gql(documents.PING, version="banana").status_code == 404
    assert shop.gql(documents.PING, version="2026-13").status_code == 404


def test_auth_and_shop_states(shop: Admin, receiver: Receiver) -> None:
    invalid = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong "
                         "password)"}
    response = shop.gql(documents.PING, token="shpat_unknown")
    assert response.status_code == 401 and response.json() == invalid
    no_header = shop.http.post(f"/{shop.domain}/admin/api/2026-07/graphql.json",
                               json={"query": documents.PING})
    assert no_header.status_code == 401
    shop.patch(frozen=True)
    response = shop.gql(documents.PING)
    assert response.status_code == 402 and response.json() == {"errors": "Unavailable Shop"}
    shop.patch(frozen=False, locked=True)
    response = shop.gql(documents.PING)
    assert response.status_code == 423 and response.json() == {
        "errors": "This store is unavailable"}
    shop.patch(locked=False)
    assert shop.gql(documents.PING).status_code == 200
    shop.subscribe("APP_UNINSTALLED", f"{receiver.url}/uninstall/{shop.domain}")
    shop.patch(installed=False)
    response = shop.gql(documents.PING)
    assert response.status_code == 401 and response.json() == invalid
    hooks = receiver.wait(f"/uninstall/{shop.domain}")
    assert hooks and hooks[0].headers["x-shopify-topic"] == "app/uninstalled"
    unknown = shop.http.post("/nowhere.myshopify.com/admin/api/2026-07/graphql.json",
                             json={"query": documents.PING})
    assert unknown.status_code == 404


def test_request_errors(shop: Admin) -> None:
    url = f"/{shop.domain}/admin/api/2026-07/graphql.json"
    headers = {"X-Shopify-Access-Token": shop.token, "Content-Type": "application/json"}
    for body in (b"{not json", b"[]", b'{"variables": {}}', b'{"query": ""}'):
        response = shop.http.post(url, content=body, headers=headers)
        assert response.status_code == 400, body
        assert response.json() == {"errors": {"query": "Required parameter missing or invalid"}}
    parse = shop.gql("{ shop { name ").json()
    assert parse["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert parse["errors"][0]["locations"]
    undefined = shop.gql("{ shop { nope } }").json()
    assert undefined["errors"][0]["message"] == "Field 'nope' doesn't exist on type 'Shop'"
    assert undefined["errors"][0]["extensions"]["code"] == "undefinedField"
    assert "data" not in undefined
    raw = shop.http.post(url, content=b"{ shop { name } }",
                         headers={**headers, "Content-Type": "application/graphql"})
    assert raw.json()["data"]["shop"]["name"]


def test_shop_fields(shop: Admin) -> None:
    shop.patch(name="Renamed", currency="EUR", country="DE", plan="Plus",
               timezone="Europe/Berlin", email="ops@renamed.example")
    data = shop.data("""{ shop { id name email contactEmail myshopifyDomain
        primaryDomain { host url } currencyCode ianaTimezone timezoneAbbreviation
        plan { publicDisplayName partnerDevelopment shopifyPlus displayName }
        billingAddress { country countryCodeV2 } shopAddress { city country countryCodeV2 }
        createdAt } }""")["shop"]
    assert data["name"] == "Renamed" and data["currencyCode"] == "EUR"
    assert data["myshopifyDomain"] == shop.domain
    assert data["plan"] == {"publicDisplayName": "Plus", "partnerDevelopment": False,
                            "shopifyPlus": True, "displayName": "Plus"}
    assert data["shopAddress"]["countryCodeV2"] == "DE"
    assert data["id"].startswith("gid://shopify/Shop/")


def test_every_engine_document_is_served(shop: Admin, receiver: Receiver) -> None:
    assert shop.data(documents.SHOP_INFO)["shop"]["name"]
    assert shop.data(documents.PING)["shop"]["name"]
    created = shop.data(documents.WEBHOOK_CREATE, {
        "topic": "ORDERS_CREATE", "subscription": {"uri": f"{receiver.url}/docs"}})
    sub = created["webhookSubscriptionCreate"]["webhookSubscription"]
    assert sub["topic"] == "ORDERS_CREATE" and sub["uri"] == f"{receiver.url}/docs"
    listed = shop.data(documents.WEBHOOK_LIST, {"after": None})["webhookSubscriptions"]
    assert [n["id"] for n in listed["nodes"]] == [sub["id"]]
    assert listed["pageInfo"]["hasNextPage"] is False
    deleted = shop.data(documents.WEBHOOK_DELETE, {"id": sub["id"]})["webhookSubscriptionDelete"]
    assert deleted == {"deletedWebhookSubscriptionId": sub["id"], "userErrors": []}
    for name, text in documents.all_documents().items():
        if not name.startswith("bulk:"):
            continue
        run = shop.data(documents.BULK_RUN, {"query": text})["bulkOperationRunQuery"]
        assert run["userErrors"] == [], (name, run)
        op = run["bulkOperation"]["id"]
        status = shop.data(documents.BULK_STATUS, {"id": op})["bulkOperation"]
        assert status["id"] == op
        cancel = shop.data(documents.BULK_CANCEL, {"id": op})["bulkOperationCancel"]
        assert cancel["bulkOperation"]["id"] == op
        deadline = time.monotonic() + 5
        while shop.data(documents.BULK_STATUS, {"id": op})["bulkOperation"]["status"] not in (
            "CANCELED", "COMPLETED", "FAILED"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.01)


QUERY = """query($first: Int, $after: String, $last: Int, $before: String, $reverse: Boolean,
           $query: String, $sort: CustomerSortKeys) {
  customers(first: $first, after: $after, last: $last, before: $before, reverse: $reverse,
            query: $query, sortKey: $sort) {
    edges { cursor node { id updatedAt } }
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


def test_pagination(make_shop: ShopFactory) -> None:
    shop = make_shop(customers=7)
    everything = shop.data(QUERY, {"first": 250})["customers"]
    ids = [n["id"] for n in everything["nodes"]]
    assert len(ids) == 7 and ids == sorted(ids)
    assert everything["pageInfo"]["hasNextPage"] is False
    seen, after = [], None
    while True:
        page = shop.data(QUERY, {"first": 3, "after": after})["customers"]
        seen += [e["node"]["id"] for e in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ids
    last = shop.data(QUERY, {"last": 2})["customers"]
    assert [n["id"] for n in last["nodes"]] == ids[-2:]
    assert last["pageInfo"]["hasPreviousPage"] is True
    before = shop.data(QUERY, {"last": 2, "before": last["pageInfo"]["startCursor"]})
    assert [n["id"] for n in before["customers"]["nodes"]] == ids[-4:-2]
    reverse = shop.data(QUERY, {"first": 3, "reverse": True})["customers"]
    assert [n["id"] for n in reverse["nodes"]] == ids[::-1][:3]
    bad = shop.gql(QUERY, {"first": 300}).json()
    assert "250" in bad["errors"][0]["message"] and "data" not in bad
    missing = shop.gql(QUERY, {}).json()
    assert missing["errors"][0]["message"] == "you must provide one of first or last"


def test_updated_at_search_and_overrides(make_shop: ShopFactory) -> None:
    shop = make_shop(customers=20)
    nodes = shop.data(QUERY, {"first": 50, "sort": "UPDATED_AT"})["customers"]["nodes"]
    assert len(nodes) == 20
    stamps = [e["node"]["updatedAt"] for e in shop.data(
        QUERY, {"first": 50, "sort": "UPDATED_AT"})["customers"]["edges"]]
    assert stamps == sorted(stamps)
    pivot = stamps[10]
    newer = shop.data(QUERY, {"first": 50, "sort": "UPDATED_AT",
                              "query": f"updated_at:>='{pivot}'"})["customers"]["edges"]
    assert [e["node"]["updatedAt"] for e in newer] == stamps[10:]
    strictly = shop.data(QUERY, {"first": 50, "query": f"updated_at:>'{pivot}'"})
    assert len(strictly["customers"]["nodes"]) == 9
    window = shop.data(QUERY, {"first": 50, "query": f"updated_at:>='{stamps[2]}' AND "
                                                     f"updated_at:<='{stamps[4]}'"})
    assert len(window["customers"]["nodes"]) == 3
    first_id = int(nodes[0]["id"].rsplit("/", 1)[1])
    shop.http.put(f"/_sim/shops/{shop.domain}/customers/{first_id}", json={"first_name": "Z"})
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = shop.data(QUERY, {"first": 50, "sort": "UPDATED_AT",
                               "query": f"updated_at:>='{now[:17]}00Z'"})["customers"]["nodes"]
    assert [n["id"] for n in recent] == [nodes[0]["id"]]
    by_update = shop.data(QUERY, {"first": 50, "sort": "UPDATED_AT"})["customers"]["nodes"]
    assert by_update[-1]["id"] == nodes[0]["id"] and len(by_update) == 20


@pytest.mark.parametrize("field,scope", [("orders", "read_orders"),
                                         ("customers", "read_customers"),
                                         ("products", "read_products"),
                                         ("collections", "read_products")])
def test_access_denied(make_shop: ShopFactory, field: str, scope: str) -> None:
    others = {"read_orders", "read_customers", "read_products"} - {scope}
    shop = make_shop(scopes=sorted(others))
    body = shop.gql(f"{{ {field}(first: 1) {{ nodes {{ id }} }} }}").json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "ACCESS_DENIED"
    assert error["path"] == [field]
    assert error["message"] == (f"Access denied for {field} field. Required access: "
                                f"`{scope}` access scope.")
    assert body["data"] is None and body["extensions"]["cost"]["actualQueryCost"] is not None


def test_write_scope_implies_read(make_shop: ShopFactory) -> None:
    shop = make_shop(scopes=["write_orders"])
    assert shop.data("{ orders(first: 1) { nodes { id } } }")["orders"]["nodes"]


def test_nested_connections_and_node_lookup(make_shop: ShopFactory) -> None:
    shop = make_shop(products=6, collections=2, orders=3)
    product = shop.data("""{ products(first: 1) { nodes { id title
        variants(first: 3) { nodes { id price product { id } } }
        collections(first: 5) { nodes { id title } } } } }""")["products"]["nodes"][0]
    assert product["variants"]["nodes"][0]["product"]["id"] == product["id"]
    collection = shop.data("""{ collections(first: 1) { nodes { id description(truncateAt: 8)
        productsCount { count } products(first: 10) { nodes { id title } } } } }""")
    first = collection["collections"]["nodes"][0]
    assert first["productsCount"]["count"] == len(first["products"]["nodes"]) == 3
    assert first["description"].endswith("...") and len(first["description"]) == 8
    node = shop.data("query($id: ID!) { node(id: $id) { __typename ... on Product { title } } }",
                     {"id": product["id"]})["node"]
    assert node == {"__typename": "Product", "title": product["title"]}
    variant_id = product["variants"]["nodes"][0]["id"]
    many = shop.data("query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
                     {"ids": [variant_id, "gid://shopify/Order/1"]})["nodes"]
    assert many == [{"id": variant_id}, None]
    order = shop.data("{ orders(first: 1) { nodes { id } } }")["orders"]["nodes"][0]
    assert shop.data("query($id: ID!) { order(id: $id) { id } }", {"id": order["id"]})["order"]


def test_current_app_installation(make_shop: ShopFactory) -> None:
    shop = make_shop(scopes=["read_orders"])
    data = shop.data("{ currentAppInstallation { accessScopes { handle } } }")
    assert data["currentAppInstallation"]["accessScopes"] == [{"handle": "read_orders"}]


def test_webhook_subscription_validation(shop: Admin, http: httpx.Client) -> None:
    create = ("mutation($s: WebhookSubscriptionInput!) { webhookSubscriptionCreate("
              "topic: ORDERS_CREATE, webhookSubscription: $s) { webhookSubscription { id uri "
              "callbackUrl } userErrors { field message } } }")
    legacy = shop.data(create, {"s": {"callbackUrl": "https://example.com/hooks"}})
    assert legacy["webhookSubscriptionCreate"]["webhookSubscription"]["uri"] == \
        "https://example.com/hooks"
    duplicate = shop.data(create, {"s": {"uri": "https://example.com/hooks"}})
    assert duplicate["webhookSubscriptionCreate"]["userErrors"][0]["message"] == \
        "Address for this topic has already been taken"
    invalid = shop.data(create, {"s": {"uri": "not a url"}})
    assert invalid["webhookSubscriptionCreate"]["userErrors"][0]["message"] == \
        "Address is invalid"
    gone = shop.data("mutation { webhookSubscriptionDelete(id: "
                     "\"gid://shopify/WebhookSubscription/1\") { deletedWebhookSubscriptionId "
                     "userErrors { message } } }")
    assert gone["webhookSubscriptionDelete"]["deletedWebhookSubscriptionId"] is None
    topics = shop.data("{ webhookSubscriptions(first: 5, topics: [APP_UNINSTALLED]) "
                       "{ nodes { id } } }")
    assert topics["webhookSubscriptions"]["nodes"] == []


def test_entity_counts_exact_limited_and_scoped(make_shop: ShopFactory) -> None:
    shop = make_shop(customers=30, orders=12)
    data = shop.gql("{ ordersCount(limit: null) { count precision } "
                    "customersCount(limit: 10) { count precision } }").json()["data"]
    assert data["ordersCount"] == {"count": 12, "precision": "EXACT"}
    assert data["customersCount"] == {"count": 10, "precision": "AT_LEAST"}
    shop.patch(scopes=["read_customers"])
    denied = shop.gql("{ ordersCount { count } }").json()
    assert denied["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
