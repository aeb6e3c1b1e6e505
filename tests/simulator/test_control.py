"""The /_sim/ control API, including bad input, plus the error_rate and latency faults, the demo
fleet and the activity generator."""

from __future__ import annotations

import time

import httpx
import pytest
from starlette.routing import Route

from engine.simulator.app import create_app, world_of
from engine.simulator.demo import step
from tests.simulator.conftest import Admin, ShopFactory
from tests.support import EVENT_LOOP, wait_until


def test_create_and_read_shops(http: httpx.Client) -> None:
    response = http.post("/_sim/shops", json={"domain": "Control-One", "name": "Control One",
                                              "orders": 12, "customers": 3, "seed": 5})
    assert response.status_code == 201
    body = response.json()
    assert body["domain"] == "control-one.myshopify.com" and body["access_token"]
    info = http.get("/_sim/shops/control-one.myshopify.com").json()
    assert info["name"] == "Control One" and info["installed"] is True
    assert info["revoked"] is False and info["seed"] == 5
    assert info["counts"] == {"customers": 3, "orders": 12, "products": 10, "collections": 2}
    assert info["subscriptions"] == [] and "error_rate" in info["settings"]
    listed = http.get("/_sim/shops").json()["shops"]
    assert "control-one.myshopify.com" in [s["domain"] for s in listed]
    assert http.post("/_sim/shops", json={"domain": "control-one"}).status_code == 409


@pytest.mark.parametrize("body,status,field", [
    ({"domain": "bad domain!"}, 422, "domain"),
    ({}, 422, "domain"),
    ({"domain": "ok-shop-x", "orders": -1}, 422, "orders"),
    ({"domain": "ok-shop-y", "colour": "red"}, 422, "colour"),
    ({"domain": "ok-shop-z", "scopes": "read_orders"}, 422, "scopes"),
])
def test_create_shop_validation(http: httpx.Client, body: dict[str, object], status: int,
                                field: str) -> None:
    response = http.post("/_sim/shops", json=body)
    assert response.status_code == status
    assert response.json()["field"] == field and field in response.json()["error"]


def test_bad_requests(http: httpx.Client, shop: Admin) -> None:
    bad_json = http.post("/_sim/shops", content=b"{nope", headers={"content-type": "x"})
    assert bad_json.status_code == 400 and "error" in bad_json.json()
    huge = http.post("/_sim/shops", content=b"x" * (1024 * 1024 + 1))
    assert huge.status_code == 413 and "error" in huge.json()
    assert http.get("/_sim/shops/missing.myshopify.com").status_code == 404
    assert http.patch("/_sim/shops/missing.myshopify.com", json={}).status_code == 404
    wrong = http.put("/_sim/shops")
    assert wrong.status_code == 405 and wrong.json() == {"error": "method not allowed"}
    assert http.get("/_sim/nothing/here").status_code == 404
    unknown = http.patch(f"/_sim/shops/{shop.domain}", json={"frozne": True})
    assert unknown.status_code == 422 and unknown.json()["field"] == "frozne"
    value = http.patch(f"/_sim/shops/{shop.domain}", json={"error_rate": 2})
    assert value.status_code == 422 and value.json()["field"] == "error_rate"
    nested = http.patch(f"/_sim/shops/{shop.domain}", json={"fail_bulk": {"orders": "BOOM"}})
    assert nested.status_code == 422 and nested.json()["field"] == "fail_bulk.orders"
    assert http.patch(f"/_sim/shops/{shop.domain}", json=[1]).status_code == 400
    record = http.put(f"/_sim/shops/{shop.domain}/customers/1", json={"first_name": "x"})
    assert record.status_code == 404
    assert http.get(f"/_sim/shops/{shop.domain}/widgets/ids").status_code == 404


def test_record_crud(make_shop: ShopFactory) -> None:
    shop = make_shop(customers=4, orders=3, products=2, collections=1)
    base = f"/_sim/shops/{shop.domain}"
    ids = shop.http.get(f"{base}/customers/ids").json()["ids"]
    assert len(ids) == 4 and ids == sorted(ids)
    one = shop.http.get(f"{base}/customers/{ids[0]}").json()
    assert one["id"] == ids[0] and one["admin_graphql_api_id"].endswith(f"/{ids[0]}")
    updated = shop.http.put(f"{base}/customers/{ids[0]}",
                            json={"first_name": "Grace", "tags": "a, b",
                                  "email_marketing_consent": {"state": "subscribed"}})
    assert updated.status_code == 200
    assert updated.json()["first_name"] == "Grace" and updated.json()["tags"] == "a, b"
    assert updated.json()["email_marketing_consent"]["state"] == "subscribed"
    bad = shop.http.put(f"{base}/customers/{ids[0]}", json={"frist_name": "x"})
    assert bad.status_code == 422 and bad.json()["field"] == "frist_name"
    bad_value = shop.http.put(f"{base}/customers/{ids[0]}", json={"state": "sleepy"})
    assert bad_value.status_code == 422
    created = shop.http.post(f"{base}/orders", json={"note": "rush"})
    assert created.status_code == 201 and created.json()["note"] == "rush"
    assert created.json()["line_items"]
    assert shop.http.delete(f"{base}/customers/{ids[1]}").json() == {"id": ids[1],
                                                                     "deleted": True}
    assert shop.http.delete(f"{base}/customers/{ids[1]}").status_code == 404
    assert shop.http.get(f"{base}/customers/{ids[1]}").status_code == 404
    assert shop.http.get(f"{base}/customers/ids").json()["ids"] == [ids[0], ids[2], ids[3]]
    orders = shop.http.get(f"{base}/orders/ids").json()["ids"]
    assert len(orders) == 4 and orders[-1] == created.json()["id"]
    assert shop.info()["counts"] == {"customers": 3, "orders": 4, "products": 2,
                                     "collections": 1}
    product = shop.http.get(f"{base}/products/ids").json()["ids"][0]
    titled = shop.http.put(f"{base}/products/{product}", json={"title": "Renamed"})
    assert titled.json()["title"] == "Renamed"
    data = shop.data("{ orders(first: 10) { nodes { legacyResourceId note } } }")
    assert data["orders"]["nodes"][-1] == {"legacyResourceId": str(created.json()["id"]),
                                           "note": "rush"}


async def test_error_rate_is_reproducible(make_shop: ShopFactory) -> None:
    def pattern(domain: str) -> list[int]:
        shop = make_shop(domain=domain, error_rate=0.5)
        return [shop.gql("{ shop { name } }").status_code for _ in range(30)]

    first = pattern("errors-a")
    assert set(first) <= {200, 500, 503} and 200 in first and len(set(first)) > 1
    assert first.count(200) < 25
    # A shop of the same name in another simulator with the same seed sees the same sequence.
    app = create_app(seed=7)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://sim") as client:
        created = await client.post("/_sim/shops", json={"domain": "errors-a",
                                                         "error_rate": 0.5})
        token = created.json()["access_token"]
        again = []
        for _ in range(30):
            response = await client.post(
                "/errors-a.myshopify.com/admin/api/2026-07/graphql.json",
                json={"query": "{ shop { name } }"}, headers={"X-Shopify-Access-Token": token})
            again.append(response.status_code)
    assert again == first


def test_latency(shop: Admin) -> None:
    shop.patch(latency_ms=150)
    started = time.monotonic()
    assert shop.gql("{ shop { name } }").status_code == 200
    assert time.monotonic() - started >= 0.15
    shop.patch(latency_ms=0)


async def test_demo_fleet_and_activity() -> None:
    app = create_app(seed=1, demo=True)
    world = world_of(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://sim") as client:
        fleet = (await client.get("/_sim/demo")).json()
        assert 7 <= len(fleet) <= 10
        names = [s["name"] for s in fleet]
        assert any(len(n) >= 50 for n in names)
        assert any(not n.isascii() for n in names)
        assert "[bold red]x[/] Markup Test Shop" in names
        assert any(s["after_connect"] == {"installed": False} for s in fleet)
        assert any(s["paused"] for s in fleet)
        assert any("scopes" in s["after_connect"] for s in fleet)
        assert any(s["after_connect"].get("throttle") for s in fleet)
        for spec in fleet:
            response = await client.post(
                f"/{spec['domain']}/admin/api/2026-07/graphql.json",
                json={"query": "{ shop { name } }"},
                headers={"X-Shopify-Access-Token": spec["access_token"]})
            assert response.json()["data"]["shop"]["name"] == spec["name"]
        counts = {s: world.shops[s].records.count("orders") for s in world.shops}
        assert max(counts.values()) >= 50_000
        assert sorted(counts.values())[-2] <= 2000
        bad = await client.post("/_sim/activity", json={"enabled": "yes"})
        assert bad.status_code == 422
    before = sum(s.records.count("orders") for s in world.shops.values())
    done = [step(world) for _ in range(40)]
    assert any(d and d.endswith("orders/create") for d in done)
    assert sum(s.records.count("orders") for s in world.shops.values()) > before


async def test_activity_endpoint_runs_in_background() -> None:
    app = create_app(seed=3, demo=True)
    world = world_of(app)
    before = sum(s.records.count("orders") for s in world.shops.values())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://sim") as client:
        started = await client.post("/_sim/activity", json={"enabled": True, "interval_ms": 50})
        assert started.json() == {"enabled": True, "interval_ms": 50}
        await wait_until(EVENT_LOOP, lambda: sum(
            s.records.count("orders") for s in world.shops.values()) > before)
        await client.post("/_sim/activity", json={"enabled": False})
    await world.shutdown()


async def test_unexpected_errors_are_json() -> None:
    app = create_app()

    async def boom(_request: object) -> None:
        raise RuntimeError("kaput")

    app.router.routes.insert(0, Route("/_sim/boom", boom))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://sim") as client:
        response = await client.get("/_sim/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "internal simulator error"


def test_the_clock_moves_forward_on_request(http: httpx.Client) -> None:
    first = http.post("/_sim/clock", json={"advance": 0}).json()["now"]
    later = http.post("/_sim/clock", json={"advance": 3600}).json()["now"]
    assert later >= first + 3600
    for body in ({"advance": -1}, {"advance": True}, {"advance": "1"}, {"by": 1}):
        response = http.post("/_sim/clock", json=body)
        assert response.status_code == 422, body
    assert http.post("/_sim/clock", content=b"[1]").status_code == 400
