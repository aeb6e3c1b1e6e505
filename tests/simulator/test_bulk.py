"""Bulk operations: every state, faults, the concurrency limit, INVALID queries, and the JSONL
result (fields = selection, children after parents but not always adjacent)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from engine.shopify import documents
from engine.simulator import bulk as sim_bulk
from tests.simulator.conftest import Admin, Receiver, ShopFactory
from tests.support import wait_until


def run(shop: Admin, query: str) -> dict[str, Any]:
    return shop.data(documents.BULK_RUN, {"query": query})[  # type: ignore[no-any-return]
        "bulkOperationRunQuery"]


def status(shop: Admin, op_id: str) -> dict[str, Any]:
    return shop.data(documents.BULK_STATUS, {"id": op_id})["bulkOperation"]  # type: ignore[no-any-return]


def wait(shop: Admin, op_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The operation's status once it is finished (fails the test if it never finishes)."""
    return wait_until(lambda: (current := status(shop, op_id))["status"] in (
        "COMPLETED", "FAILED", "CANCELED") and current, timeout=timeout)


def export(shop: Admin, query: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    started = run(shop, query)
    assert started["userErrors"] == [], started
    assert started["bulkOperation"]["status"] == "CREATED"
    final = wait(shop, started["bulkOperation"]["id"])
    if not final["url"]:
        return final, []
    response = httpx.get(final["url"], trust_env=False)
    assert response.status_code == 200
    assert int(final["fileSize"]) == len(response.content)
    return final, [orjson.loads(line) for line in response.content.splitlines()]


ORDERS = """{ orders(sortKey: UPDATED_AT) { edges { node {
  __typename id name createdAt updatedAt processedAt cancelledAt closedAt
  displayFinancialStatus displayFulfillmentStatus currencyCode
  totalPriceSet { shopMoney { amount currencyCode } }
  customer { id }
  lineItems { edges { node {
    __typename id sku quantity title variant { id }
    originalUnitPriceSet { shopMoney { amount currencyCode } } } } } } } } }"""


def test_orders_export_shape(make_shop: ShopFactory) -> None:
    shop = make_shop(orders=300, customers=20, products=15)
    final, lines = export(shop, ORDERS)
    assert final["status"] == "COMPLETED" and final["errorCode"] is None
    assert final["completedAt"] and final["partialDataUrl"] is None
    for key in ("objectCount", "rootObjectCount", "fileSize"):
        assert isinstance(final[key], str)
    orders = [line for line in lines if "__parentId" not in line]
    items = [line for line in lines if "__parentId" in line]
    assert int(final["rootObjectCount"]) == len(orders) == 300
    assert int(final["objectCount"]) == len(lines)
    assert set(orders[0]) == {
        "__typename", "id", "name", "createdAt", "updatedAt", "processedAt", "cancelledAt",
        "closedAt", "displayFinancialStatus", "displayFulfillmentStatus", "currencyCode",
        "totalPriceSet", "customer"}
    assert set(orders[0]["totalPriceSet"]) == {"shopMoney"}
    assert set(orders[0]["customer"]) == {"id"}
    assert set(items[0]) == {"__typename", "id", "sku", "quantity", "title", "variant",
                             "originalUnitPriceSet", "__parentId"}
    assert set(items[0]["originalUnitPriceSet"]["shopMoney"]) == {"amount", "currencyCode"}
    position = {}
    adjacent = True
    last_parent = None
    for index, line in enumerate(lines):
        if "__parentId" not in line:
            position[line["id"]] = index
            last_parent = line["id"]
        else:
            assert line["__parentId"] in position  # the parent came first
            if line["__parentId"] != last_parent:
                adjacent = False
    assert not adjacent, "children should not always follow their parent directly"
    stamps = [o["updatedAt"] for o in orders]
    assert stamps == sorted(stamps)


def test_ids_only_aliases_and_since(make_shop: ShopFactory) -> None:
    shop = make_shop(customers=50)
    _final, lines = export(shop, documents.bulk_query("customers", ids_only=True))
    assert len(lines) == 50 and all(set(line) == {"__typename", "id"} for line in lines)
    _final, aliased = export(shop, "{ customers { edges { node { key: id first: firstName "
                                   "defaultEmailAddress { emailAddress } } } } }")
    assert set(aliased[0]) == {"key", "first", "defaultEmailAddress"}
    numeric = int(lines[3]["id"].rsplit("/", 1)[1])
    shop.http.put(f"/_sim/shops/{shop.domain}/customers/{numeric}", json={"last_name": "New"})
    since = datetime.now(UTC).replace(microsecond=0).replace(second=0)
    final, recent = export(shop, documents.bulk_query("customers", since=since))
    assert [line["id"] for line in recent] == [lines[3]["id"]]
    assert recent[0]["lastName"] == "New"
    assert final["rootObjectCount"] == "1"


def test_products_and_collections_children(make_shop: ShopFactory) -> None:
    shop = make_shop(products=12, collections=3)
    _final, lines = export(shop, documents.bulk_query("products"))
    variants = [line for line in lines if line.get("__typename") == "ProductVariant"]
    assert variants and all(v["__parentId"].startswith("gid://shopify/Product/")
                            for v in variants)
    _final, lines = export(shop, documents.bulk_query("collections"))
    members = [line for line in lines if "__parentId" in line]
    assert len(members) == 12 and all(set(m) == {"__typename", "id", "__parentId"}
                                      for m in members)
    doomed = int(members[0]["id"].rsplit("/", 1)[1])
    assert shop.http.delete(f"/_sim/shops/{shop.domain}/products/{doomed}").status_code == 200
    _final, lines = export(shop, documents.bulk_query("collections"))
    assert len([line for line in lines if "__parentId" in line]) == 11


def test_empty_result(make_shop: ShopFactory) -> None:
    shop = make_shop(customers=0)
    final, lines = export(shop, documents.bulk_query("customers"))
    assert final["status"] == "COMPLETED" and final["url"] is None
    assert final["objectCount"] == "0" and lines == []


def test_fail_bulk_with_partial_data(make_shop: ShopFactory) -> None:
    for code in ("INTERNAL_SERVER_ERROR", "TIMEOUT"):
        shop = make_shop(orders=40, fail_bulk={"orders": code})
        started = run(shop, documents.bulk_query("orders"))
        final = wait(shop, started["bulkOperation"]["id"])
        assert final["status"] == "FAILED" and final["errorCode"] == code
        assert final["url"] is None and final["partialDataUrl"]
        partial = httpx.get(final["partialDataUrl"], trust_env=False)
        roots = [orjson.loads(x) for x in partial.content.splitlines()]
        parents = [r for r in roots if "__parentId" not in r]
        assert len(parents) == 20 == int(final["rootObjectCount"])
        assert int(final["objectCount"]) == len(roots)
        ok = run(shop, documents.bulk_query("customers"))
        assert wait(shop, ok["bulkOperation"]["id"])["status"] == "COMPLETED"


def test_access_denied_bulk(make_shop: ShopFactory) -> None:
    shop = make_shop(scopes=["read_customers"])
    started = run(shop, documents.bulk_query("orders"))
    assert started["userErrors"] == [] and started["bulkOperation"]["status"] == "CREATED"
    final = wait(shop, started["bulkOperation"]["id"])
    assert final["status"] == "FAILED" and final["errorCode"] == "ACCESS_DENIED"
    assert final["partialDataUrl"] is None and final["objectCount"] == "0"
    shop2 = make_shop(fail_bulk={"products": "ACCESS_DENIED"})
    final = wait(shop2, run(shop2, documents.bulk_query("products"))["bulkOperation"]["id"])
    assert final["errorCode"] == "ACCESS_DENIED"


def test_running_cancel_and_concurrency(make_shop: ShopFactory) -> None:
    shop = make_shop(customers=100, bulk_delay_ms=60_000)
    query = documents.bulk_query("customers")
    ids = []
    for _ in range(5):
        started = run(shop, query)
        assert started["userErrors"] == []
        ids.append(started["bulkOperation"]["id"])
    assert status(shop, ids[0])["status"] == "RUNNING"
    assert status(shop, ids[0])["objectCount"] == "0"
    limited = run(shop, query)
    assert limited["bulkOperation"] is None
    assert limited["userErrors"][0]["code"] == "LIMIT_REACHED"
    assert limited["userErrors"][0]["message"] == ("Bulk operations limit reached. Please try "
                                                   "again later.")
    current = shop.data("{ currentBulkOperation { id status } }")["currentBulkOperation"]
    assert current["id"] == ids[-1]
    running = shop.data('{ bulkOperations(first: 10, query: "status:running") '
                        "{ nodes { id } } }")["bulkOperations"]["nodes"]
    assert [n["id"] for n in running] == ids[::-1]  # newest first, as Shopify lists them
    canceled = shop.data(documents.BULK_CANCEL, {"id": ids[0]})["bulkOperationCancel"]
    assert canceled["bulkOperation"]["status"] == "CANCELING" and canceled["userErrors"] == []
    assert wait(shop, ids[0])["status"] == "CANCELED"
    again = shop.data(documents.BULK_CANCEL, {"id": ids[0]})["bulkOperationCancel"]
    assert again["userErrors"][0]["message"] == ("A bulk operation cannot be canceled when it "
                                                 "is canceled")
    assert run(shop, query)["userErrors"] == []


def test_single_operation_limit(make_shop: ShopFactory) -> None:
    shop = make_shop(customers=10, bulk_delay_ms=60_000, bulk_concurrency=1)
    first = run(shop, documents.bulk_query("customers"))["bulkOperation"]["id"]
    second = run(shop, documents.bulk_query("orders"))
    assert second["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"
    assert second["userErrors"][0]["message"] == (
        f"A bulk query operation for this app and shop is already in progress: {first}")


def test_invalid_inner_queries(shop: Admin) -> None:
    cases = {
        "{ customers { edges { node { id } } ": "Invalid bulk query",
        "{ customers { edges { node { nope } } } }": "Invalid bulk query",
        '{ node(id: "gid://shopify/Order/1") { id } }': "node",
        "{ shop { name } }": "at least one connection",
        "{ products { edges { node { id collections { edges { node { id products { edges { "
        "node { id } } } } } } } } } }": "nesting depth",
        "{ products { edges { node { id v1: variants { edges { node { id } } } "
        "v2: variants { edges { node { id } } } v3: variants { edges { node { id } } } "
        "v4: variants { edges { node { id } } } v5: variants { edges { node { id } } } } } } }":
            "more than 5 connections",
    }
    for query, fragment in cases.items():
        result = run(shop, query)
        assert result["bulkOperation"] is None, query
        error = result["userErrors"][0]
        assert error["code"] == "INVALID" and fragment in error["message"], (query, error)


def test_progress_rate_and_finish_webhook(make_shop: ShopFactory, receiver: Receiver) -> None:
    shop = make_shop(customers=400, bulk_rate=10)  # 40 simulated seconds for the lot
    shop.subscribe("BULK_OPERATIONS_FINISH", f"{receiver.url}/bulk/{shop.domain}")
    started = run(shop, documents.bulk_query("customers"))
    op_id = started["bulkOperation"]["id"]
    shop.http.post("/_sim/clock", json={"advance": 20})  # halfway, without sleeping
    # The simulator counts the export in a thread; until that pass is done (a few ms, longer
    # on a loaded box) it shows no progress, as Shopify shows none before it starts.
    middle = wait_until(lambda: (s := status(shop, op_id))["rootObjectCount"] != "0" and s)
    assert middle["status"] == "RUNNING"
    assert 200 <= int(middle["rootObjectCount"]) < 400
    shop.http.post("/_sim/clock", json={"advance": 20})
    final = wait(shop, op_id)
    assert final["status"] == "COMPLETED" and final["rootObjectCount"] == "400"
    hook = receiver.wait(f"/bulk/{shop.domain}")[0]
    assert hook.headers["x-shopify-topic"] == "bulk_operations/finish"
    payload = orjson.loads(hook.body)
    assert payload["admin_graphql_api_id"] == op_id
    assert payload["status"] == "completed" and payload["error_code"] is None
    assert payload["type"] == "query"


def test_download_needs_the_secret(make_shop: ShopFactory, http: httpx.Client) -> None:
    shop = make_shop(customers=3)
    final, _lines = export(shop, documents.bulk_query("customers"))
    number = final["id"].rsplit("/", 1)[1]
    assert http.get(f"/_sim/bulk/{number}-guess.jsonl").status_code == 404
    assert http.get("/_sim/bulk/nothing.jsonl").status_code == 404


def test_error_rate_applies_to_downloads(make_shop: ShopFactory) -> None:
    shop = make_shop(customers=5)
    final, _lines = export(shop, documents.bulk_query("customers"))
    shop.patch(error_rate=1.0)
    failed = httpx.get(final["url"], trust_env=False)
    assert failed.status_code in (500, 503) and "errors" in failed.json()
    assert shop.gql(documents.PING).status_code in (500, 503)
    shop.patch(error_rate=0.0)
    assert httpx.get(final["url"], trust_env=False).status_code == 200


def test_a_written_result_file_is_the_generated_one(make_shop: ShopFactory,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Small results are written while the operation runs and served from that file; larger
    ones are generated as they stream. Both give the same bytes for the same records."""
    shop = make_shop(orders=120, customers=10, products=8)
    query = documents.bulk_query("orders")
    written, _lines = export(shop, query)
    served = httpx.get(written["url"], trust_env=False).content
    # Partial and ranged reads of the written file: two downloads at once see the whole file.
    with httpx.stream("GET", written["url"], trust_env=False) as first:
        second = httpx.get(written["url"], trust_env=False).content
        assert first.read() == second == served
    monkeypatch.setattr(sim_bulk, "EXACT_SIZE_ROOTS", 0)  # every result "large": generated,
    monkeypatch.setattr(sim_bulk, "SAMPLE_ROOTS", 120)  # its size from a sample of all of it
    generated, _lines = export(shop, query)
    assert generated["url"] != written["url"]
    assert httpx.get(generated["url"], trust_env=False).content == served
    assert generated["fileSize"] == written["fileSize"] == str(len(served))
    assert served.count(b"\n") == int(written["objectCount"]) > 120
