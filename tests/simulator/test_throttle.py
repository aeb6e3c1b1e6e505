"""Cost and throttling: requested vs actual cost and the refund, a draining bucket, THROTTLED
(200 and 429 modes), MAX_COST_EXCEEDED, and the restore rate."""

from __future__ import annotations

from typing import Any

from engine.simulator.cost import query_cost
from engine.simulator.schema import schema
from tests.simulator.conftest import ShopFactory

PAGE = "{ customers(first: 10) { nodes { id defaultAddress { city } } } }"


def cost_of(body: dict[str, Any]) -> dict[str, Any]:
    return body["extensions"]["cost"]  # type: ignore[no-any-return]


def test_cost_model() -> None:
    from graphql import parse

    document = parse(PAGE)
    operation: Any = document.definitions[0]
    # connection: 2 + first × (node 1 + defaultAddress 1); a null object still costs its 1
    assert query_cost(schema(), document, operation, {}) == 22
    data = {"customers": {"nodes": [{"id": "x", "defaultAddress": None}] * 3}}
    assert query_cost(schema(), document, operation, {}, data, actual=True) == 2 + 3 * 2
    mutation = parse("mutation { bulkOperationCancel(id: \"x\") { userErrors { message } } }")
    assert query_cost(schema(), mutation, mutation.definitions[0], {}) == 10  # type: ignore[arg-type]


def test_refund_to_actual_cost(make_shop: ShopFactory) -> None:
    shop = make_shop(customers=3)
    body = shop.gql(PAGE).json()
    cost = cost_of(body)
    assert cost["requestedQueryCost"] == 22
    assert 2 + 3 <= cost["actualQueryCost"] <= 2 + 3 * 2
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == 2000.0 and status["restoreRate"] == 100.0
    assert 2000 - cost["actualQueryCost"] <= status["currentlyAvailable"] <= 2000


def test_bucket_drains_and_throttles(make_shop: ShopFactory) -> None:
    shop = make_shop(customers=50, throttle={"maximum": 100, "restore_rate": 1})
    query = "{ customers(first: 40) { nodes { id } } }"  # requested 2 + 40 = 42, actual 42
    first = cost_of(shop.gql(query).json())
    assert first["throttleStatus"]["maximumAvailable"] == 100.0
    assert first["actualQueryCost"] == 42
    assert 100 - 42 <= first["throttleStatus"]["currentlyAvailable"] <= 100 - 42 + 1
    second = cost_of(shop.gql(query).json())
    assert second["throttleStatus"]["currentlyAvailable"] <= 17
    throttled = shop.gql(query)
    body = throttled.json()
    assert throttled.status_code == 200
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert body["errors"][0]["message"] == "Throttled"
    assert "data" not in body
    assert cost_of(body)["actualQueryCost"] is None
    assert cost_of(body)["requestedQueryCost"] == 42


def test_throttle_switch_and_429_mode(make_shop: ShopFactory) -> None:
    shop = make_shop(customers=150)
    info = shop.patch(throttle=True)
    assert info["settings"]["throttle"] is True
    query = "{ customers(first: 120) { nodes { id } } }"  # ~122 points: two drain the bucket
    status = cost_of(shop.gql(query).json())["throttleStatus"]
    assert status["maximumAvailable"] == 200.0 and status["restoreRate"] == 20.0
    shop.patch(throttle_mode="429")
    response = shop.gql(query)
    assert response.status_code == 429
    assert float(response.headers["retry-after"]) >= 1.0
    assert response.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    shop.patch(throttle=False, throttle_mode="200")
    assert cost_of(shop.gql(query).json())["throttleStatus"]["maximumAvailable"] == 2000.0


def test_bucket_restores_over_time(make_shop: ShopFactory) -> None:
    shop = make_shop(customers=30, throttle={"maximum": 60, "restore_rate": 50})
    query = "{ customers(first: 25) { nodes { id } } }"
    shop.gql(query)
    low = cost_of(shop.gql(query).json())["throttleStatus"]["currentlyAvailable"]
    shop.http.post("/_sim/clock", json={"advance": 0.3})  # 50/s restores 15 points
    later = cost_of(shop.gql("{ shop { name } }").json())["throttleStatus"]["currentlyAvailable"]
    assert later >= low + 10


def test_max_cost_exceeded(make_shop: ShopFactory) -> None:
    shop = make_shop()
    query = "{ orders(first: 250) { nodes { id lineItems(first: 250) { nodes { id } } } } }"
    body = shop.gql(query).json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["maxCost"] == 1000 and error["extensions"]["cost"] > 1000
    assert cost_of(body)["actualQueryCost"] is None
    assert cost_of(body)["throttleStatus"]["currentlyAvailable"] == 2000
