"""OAuth: the §1.4 HMAC vector, tampering, freshness, shop checks; and the grant against the
simulator (code exchange with expiring tokens, refresh rotation, access scopes, revoke)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from engine.shopify.errors import AuthError, OAuthError
from engine.shopify.oauth import (
    TokenSet,
    access_scopes,
    authorize_url,
    exchange_code,
    refresh_token,
    revoke,
    sign,
    verify_callback,
)

# shopify-api.md §1.4: secret "hush" over these four params gives this digest.
VECTOR = {
    "code": "0907a61c0c8d55e99db179b68161bc00",
    "shop": "some-shop.myshopify.com",
    "state": "0.6784241404160823",
    "timestamp": "1337178173",
    "hmac": "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf",
}
NOW = 1337178173.0


def test_the_reference_vector_verifies() -> None:
    verify_callback(VECTOR, ["hush"], now=NOW)
    verify_callback(VECTOR, ["hush"], now=NOW + 90, expected_state="0.6784241404160823")
    assert sign({k: v for k, v in VECTOR.items() if k != "hmac"}, "hush") == VECTOR["hmac"]


@pytest.mark.parametrize(
    "change",
    [
        {"code": "0907a61c0c8d55e99db179b68161bc01"},
        {"shop": "other-shop.myshopify.com"},
        {"state": "0.1"},
        {"timestamp": "1337178174"},
        {"host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvc29tZS1zaG9w"},  # an added param is signed too
        {"hmac": "0" * 64},
    ],
)
def test_tampered_params_fail(change: dict[str, str]) -> None:
    with pytest.raises(OAuthError, match="hmac does not match"):
        verify_callback({**VECTOR, **change}, ["hush"], now=NOW)


def test_state_is_part_of_the_signed_message() -> None:
    without_state = {k: v for k, v in VECTOR.items() if k != "state"}
    with pytest.raises(OAuthError, match="hmac"):
        verify_callback(without_state, ["hush"], now=NOW)


def test_wrong_secret_fails_and_the_previous_secret_is_accepted() -> None:
    with pytest.raises(OAuthError, match="hmac"):
        verify_callback(VECTOR, ["not-hush"], now=NOW)
    verify_callback(VECTOR, ["new-secret", "hush"], now=NOW)  # rotation: old one still works


def test_missing_hmac() -> None:
    with pytest.raises(OAuthError, match="no hmac"):
        verify_callback({k: v for k, v in VECTOR.items() if k != "hmac"}, ["hush"], now=NOW)


@pytest.mark.parametrize(("offset", "word"), [(91, "old"), (-91, "in the future")])
def test_stale_timestamps_fail(offset: float, word: str) -> None:
    with pytest.raises(OAuthError, match=f"stale.*{word}"):
        verify_callback(VECTOR, ["hush"], now=NOW + offset)


def _signed(params: dict[str, str], secret: str = "hush") -> dict[str, str]:
    return {**params, "hmac": sign(params, secret)}


@pytest.mark.parametrize("shop", ["evil.com", "shop.myshopify.com.evil.com", "-x.myshopify.com"])
def test_a_signed_callback_for_a_bad_shop_fails(shop: str) -> None:
    params = _signed({"code": "abc", "shop": shop, "state": "s", "timestamp": str(int(NOW))})
    with pytest.raises(OAuthError, match="invalid shop"):
        verify_callback(params, ["hush"], now=NOW)


def test_state_mismatch_fails() -> None:
    with pytest.raises(OAuthError, match="state does not match"):
        verify_callback(VECTOR, ["hush"], now=NOW, expected_state="something-else")


def test_values_with_spaces_accept_either_library_encoding() -> None:
    base = {"code": "c", "shop": "a-shop.myshopify.com", "note": "a b&c", "timestamp": "1"}
    python_style = "code=c&note=a b%26c&shop=a-shop.myshopify.com&timestamp=1"
    form_style = "code=c&note=a%20b%26c&shop=a-shop.myshopify.com&timestamp=1"
    for message in (python_style, form_style):
        digest = hmac.new(b"hush", message.encode(), hashlib.sha256).hexdigest()
        verify_callback({**base, "hmac": digest}, ["hush"], now=1)


def test_authorize_url() -> None:
    url = authorize_url("http://sim/x.myshopify.com/", "key-1", ["read_orders", "read_products"],
                        "http://127.0.0.1:8787/oauth/callback", "nonce-1")
    parts = urlsplit(url)
    assert parts.path == "/x.myshopify.com/admin/oauth/authorize"
    assert parse_qs(parts.query) == {
        "client_id": ["key-1"], "scope": ["read_orders,read_products"],
        "redirect_uri": ["http://127.0.0.1:8787/oauth/callback"], "state": ["nonce-1"],
    }


def test_token_set_parses_and_hides_tokens() -> None:
    now = datetime(2026, 11, 27, 10, 0, 0)
    tokens = TokenSet.from_response(
        {"access_token": "shpat_abcdef123", "scope": "read_orders,read_products",
         "expires_in": 3600, "refresh_token": "shprt_zyx987654", "refresh_token_expires_in": 60},
        now,
    )
    assert tokens.scopes == ["read_orders", "read_products"]
    assert tokens.expires_at == now + timedelta(hours=1)
    assert tokens.refresh_expires_at == now + timedelta(seconds=60)
    for text in (repr(tokens), str(tokens)):
        assert "shpat_abcdef123" not in text and "shprt_zyx987654" not in text
    legacy = TokenSet.from_response({"access_token": "shpat_legacy99", "scope": "read_orders"})
    assert legacy.expires_at is None and legacy.refresh_token is None


# -- against the simulator ------------------------------------------------------------------------

async def test_code_exchange_refresh_rotation_scopes_and_revoke(
    settings, sim, grant, unique_domain
) -> None:
    sim.create_shop(unique_domain)
    origin = settings.shop_origin(unique_domain)
    secret = settings.api_secret.get_secret_value()
    granted = await grant(unique_domain)
    assert granted.expires_at is not None and granted.refresh_token
    assert set(granted.scopes) >= {"read_customers", "read_orders", "read_products"}
    assert sorted(await access_scopes(origin, granted.access_token)) == sorted(granted.scopes)

    rotated = await refresh_token(origin, settings.api_key, secret, granted.refresh_token)
    assert rotated.access_token != granted.access_token
    assert rotated.refresh_token and rotated.refresh_token != granted.refresh_token
    await access_scopes(origin, rotated.access_token)  # first use retires the old refresh token
    with pytest.raises(AuthError, match="refused to refresh"):
        await refresh_token(origin, settings.api_key, secret, granted.refresh_token)

    await revoke(origin, rotated.access_token)
    with pytest.raises(AuthError):
        await access_scopes(origin, rotated.access_token)
    await revoke(origin, rotated.access_token)  # revoking twice is harmless


async def test_a_used_code_is_refused(settings, sim, grant, unique_domain) -> None:
    sim.create_shop(unique_domain)
    origin = settings.shop_origin(unique_domain)
    secret = settings.api_secret.get_secret_value()
    params = await grant(unique_domain, exchange=False)
    await exchange_code(origin, settings.api_key, secret, params["code"])
    with pytest.raises(OAuthError, match="refused the authorization code"):
        await exchange_code(origin, settings.api_key, secret, params["code"])


async def test_simulator_callback_verifies(settings, sim, grant, unique_domain) -> None:
    sim.create_shop(unique_domain)
    params = await grant(unique_domain, exchange=False)
    verify_callback(params, [settings.api_secret.get_secret_value()], expected_state="st-1")
    with pytest.raises(OAuthError):
        verify_callback({**params, "shop": "other-shop.myshopify.com"},
                        [settings.api_secret.get_secret_value()])
