"""OAuth against the simulator: authorize + signed callback, token exchange, refresh rotation,
access scopes, revocation and reinstall."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import parse_qsl, urlsplit

import httpx

from engine.simulator.oauth import sign_query
from tests.simulator.conftest import API_KEY, API_SECRET, Admin, Receiver, ShopFactory

CALLBACK = "https://app.example.com/auth/callback"


def verify_callback(query: str, secret: str = API_SECRET) -> bool:
    """A client-side verifier written from shopify-api.md §1.4 (independent of the signer)."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    received = params.pop("hmac", "")
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(digest, received)


def authorize(http: httpx.Client, domain: str, **params: str) -> httpx.Response:
    query = {"client_id": API_KEY, "scope": "read_orders,read_customers,read_products",
             "redirect_uri": CALLBACK, "state": "nonce-123", **params}
    return http.get(f"/{domain}/admin/oauth/authorize", params=query)


def code_from(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    params = dict(parse_qsl(urlsplit(response.headers["location"]).query))
    return params["code"]


def exchange(http: httpx.Client, domain: str, code: str, **extra: object) -> httpx.Response:
    return http.post(f"/{domain}/admin/oauth/access_token",
                     json={"client_id": API_KEY, "client_secret": API_SECRET, "code": code,
                           **extra})


def test_hmac_vector_from_the_spec() -> None:
    params = {"code": "0907a61c0c8d55e99db179b68161bc00", "shop": "some-shop.myshopify.com",
              "state": "0.6784241404160823", "timestamp": "1337178173"}
    expected = "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf"
    assert sign_query("hush", params) == expected
    assert sign_query("hush", {**params, "hmac": "ignored"}) == expected
    without_state = {k: v for k, v in params.items() if k != "state"}
    assert sign_query("hush", without_state).startswith("4712bf92")


def test_authorize_redirects_with_signed_callback(http: httpx.Client, shop: Admin) -> None:
    response = authorize(http, shop.domain)
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    params = dict(parse_qsl(location.query))
    assert set(params) == {"code", "hmac", "host", "shop", "state", "timestamp"}
    assert params["shop"] == shop.domain and params["state"] == "nonce-123"
    assert abs(int(params["timestamp"]) - time.time()) < 5
    host = params["host"]
    decoded = base64.b64decode(host + "=" * (-len(host) % 4)).decode()
    assert decoded == f"admin.shopify.com/store/{shop.domain.split('.')[0]}"
    assert verify_callback(location.query)
    tampered = location.query.replace(f"shop={shop.domain}", "shop=evil.myshopify.com")
    assert not verify_callback(tampered)
    assert not verify_callback(location.query, secret="another-secret")


def test_authorize_errors(http: httpx.Client, shop: Admin) -> None:
    assert authorize(http, shop.domain, client_id="someone-else").status_code == 400
    assert authorize(http, shop.domain, redirect_uri="").status_code == 400
    assert authorize(http, shop.domain, scope="read_orders,<script>").status_code == 400
    assert authorize(http, "nope.myshopify.com").status_code == 404


def test_denied_authorization_redirects_with_error(http: httpx.Client, shop: Admin) -> None:
    shop.patch(deny_oauth=True)
    response = authorize(http, shop.domain)
    params = dict(parse_qsl(urlsplit(response.headers["location"]).query))
    assert response.status_code == 302
    assert params["error"] == "access_denied" and "code" not in params
    assert params["state"] == "nonce-123"


def test_code_exchange_single_use_and_client_checks(http: httpx.Client, shop: Admin) -> None:
    code = code_from(authorize(http, shop.domain))
    bad = http.post(f"/{shop.domain}/admin/oauth/access_token",
                    json={"client_id": API_KEY, "client_secret": "wrong", "code": code})
    assert bad.status_code in (400, 401)
    first = exchange(http, shop.domain, code)
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"access_token", "scope"}
    assert set(body["scope"].split(",")) == {"read_orders", "read_customers", "read_products"}
    again = exchange(http, shop.domain, code)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_request"
    unknown = exchange(http, shop.domain, "0" * 32)
    assert unknown.status_code == 400


def test_form_encoded_exchange_and_scope_limit(http: httpx.Client,
                                               make_shop: ShopFactory) -> None:
    shop = make_shop(scopes=["read_orders", "read_products"])
    code = code_from(authorize(http, shop.domain))
    response = http.post(f"/{shop.domain}/admin/oauth/access_token",
                         data={"client_id": API_KEY, "client_secret": API_SECRET, "code": code})
    assert response.status_code == 200
    assert set(response.json()["scope"].split(",")) == {"read_orders", "read_products"}


def test_expiring_token_and_refresh_rotation(http: httpx.Client, shop: Admin) -> None:
    body = exchange(http, shop.domain, code_from(authorize(http, shop.domain)),
                    expiring="1").json()
    assert body["expires_in"] == 3600 and body["refresh_token_expires_in"] == 7776000
    old_refresh = body["refresh_token"]

    def refresh(token: str) -> httpx.Response:
        return http.post(f"/{shop.domain}/admin/oauth/access_token",
                         json={"client_id": API_KEY, "client_secret": API_SECRET,
                               "grant_type": "refresh_token", "refresh_token": token})

    rotated = refresh(old_refresh)
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh_token"] != old_refresh and new["access_token"] != body["access_token"]
    # The old refresh token stays usable until the new access token is first used...
    retry = refresh(old_refresh)
    assert retry.status_code == 200
    newest = retry.json()
    assert shop.gql("{ shop { name } }", token=newest["access_token"]).status_code == 200
    # ...after which it is dead.
    dead = refresh(old_refresh)
    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"
    assert refresh("shprt_unknown").json()["error"] == "invalid_grant"
    assert refresh(newest["refresh_token"]).status_code == 200


def test_token_ttl_expiry_and_token_expired_switch(http: httpx.Client, shop: Admin) -> None:
    shop.patch(token_ttl=1)
    body = exchange(http, shop.domain, code_from(authorize(http, shop.domain)),
                    expiring=1).json()
    assert body["expires_in"] == 1
    assert shop.gql("{ shop { name } }", token=body["access_token"]).status_code == 200
    assert http.post("/_sim/clock", json={"advance": 1.05}).status_code == 200
    assert shop.gql("{ shop { name } }", token=body["access_token"]).status_code == 401
    shop.patch(token_expired=True)
    assert shop.gql("{ shop { name } }").status_code == 401
    refreshed = http.post(f"/{shop.domain}/admin/oauth/access_token",
                          json={"client_id": API_KEY, "client_secret": API_SECRET,
                                "grant_type": "refresh_token",
                                "refresh_token": body["refresh_token"]})
    assert shop.gql("{ shop { name } }", token=refreshed.json()["access_token"]).status_code \
        == 200


def test_access_scopes(http: httpx.Client, make_shop: ShopFactory) -> None:
    shop = make_shop(scopes=["read_orders", "write_products", "read_customers"])
    url = f"/{shop.domain}/admin/oauth/access_scopes.json"
    response = http.get(url, headers={"X-Shopify-Access-Token": shop.token})
    assert response.status_code == 200
    handles = {s["handle"] for s in response.json()["access_scopes"]}
    assert handles == {"read_orders", "write_products", "read_customers"}
    shop.patch(scopes=["read_orders"])
    response = http.get(url, headers={"X-Shopify-Access-Token": shop.token})
    assert [s["handle"] for s in response.json()["access_scopes"]] == ["read_orders"]
    assert http.get(url, headers={"X-Shopify-Access-Token": "nope"}).status_code == 401


def test_revoke_then_reinstall(http: httpx.Client, shop: Admin, receiver: Receiver) -> None:
    shop.subscribe("APP_UNINSTALLED", f"{receiver.url}/revoke/{shop.domain}")
    response = http.delete(f"/{shop.domain}/admin/api_permissions/current.json",
                           headers={"X-Shopify-Access-Token": shop.token})
    assert response.status_code == 200 and response.json() == {}
    info = shop.info()
    assert info["revoked"] is True and info["installed"] is False
    assert shop.gql("{ shop { name } }").status_code == 401
    assert receiver.wait(f"/revoke/{shop.domain}")[0].headers["x-shopify-topic"] == \
        "app/uninstalled"
    token = exchange(http, shop.domain, code_from(authorize(http, shop.domain))).json()
    assert shop.info()["installed"] is True and shop.info()["revoked"] is False
    assert shop.gql("{ shop { name } }", token=token["access_token"]).status_code == 200
    assert shop.gql("{ shop { name } }").status_code == 401
