"""Validation and application of shop settings (POST/PATCH /_sim/shops bodies).

`validate_settings` checks every field before anything changes (unknown field or bad value →
FieldError, answered 422 naming the field); `apply_settings` then applies them with their side
effects: uninstall/reinstall, scope changes (app/scopes_update), forced token expiry, bucket
size, currency, and shop/update for the shop's own attributes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from engine.simulator.common import ENTITIES
from engine.simulator.events import reinstall, scopes_changed, uninstall
from engine.simulator.resolvers import COUNTRIES
from engine.simulator.rest import FieldError
from engine.simulator.state import Shop, World
from engine.simulator.webhooks import emit, shop_payload

CURRENCIES = ("AUD", "CAD", "CHF", "DKK", "EUR", "GBP", "JPY", "NOK", "NZD", "SEK", "USD")
BULK_ERRORS = ("ACCESS_DENIED", "INTERNAL_SERVER_ERROR", "TIMEOUT")
SCOPE = re.compile(r"(read|write)_[a-z_]+")
SHOP_FIELDS = ("name", "email", "plan", "currency", "country", "timezone", "primary_domain")


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise FieldError(name, f"{name} must be true or false")
    return value


def _number(name: str, value: Any, lo: float, hi: float, *, integer: bool = False) -> Any:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not lo <= value <= hi:
        kind = "an integer" if integer else "a number"
        raise FieldError(name, f"{name} must be {kind} between {lo:g} and {hi:g}")
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 500:
        raise FieldError(name, f"{name} must be a non-empty string (at most 500 characters)")
    return value


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    text = str(value).upper() if isinstance(value, str | int) else None
    if text not in allowed:
        raise FieldError(name, f"{name} must be one of {', '.join(allowed)}")
    return text


def _scopes(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(s, str) and SCOPE.fullmatch(s) for s in value
    ):
        raise FieldError(name, f"{name} must be a list of scope handles like read_orders")
    return sorted(set(value))


def _fail_bulk(name: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FieldError(name, f"{name} must be an object like {{\"orders\": \"TIMEOUT\"}}")
    out = {}
    for entity, code in value.items():
        if entity not in ENTITIES:
            raise FieldError(f"{name}.{entity}", f"unknown entity '{entity}'")
        if code is not None:
            out[entity] = _choice(f"{name}.{entity}", code, BULK_ERRORS)
    return out


def _entities(name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(v in ENTITIES for v in value):
        raise FieldError(name, f"{name} must be a list of entities like [\"orders\"]")
    return sorted(set(value))


def _throttle(name: str, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dict):
        for key in value:
            if key not in ("maximum", "restore_rate"):
                raise FieldError(f"{name}.{key}", f"unknown field '{name}.{key}'")
        return {"maximum": _number(f"{name}.maximum", value.get("maximum", 50), 1, 1e6),
                "restore_rate": _number(f"{name}.restore_rate", value.get("restore_rate", 10),
                                        0.001, 1e6)}
    raise FieldError(name, f"{name} must be true, false, null or {{maximum, restore_rate}}")


def _uri(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise FieldError(name, f"{name} must be an http(s) URL or null")
    return value


def _timezone(name: str, value: Any) -> str:
    try:
        ZoneInfo(_text(name, value))
    except (ValueError, KeyError, OSError):
        raise FieldError(name, f"{name} must be an IANA timezone name") from None
    return value


VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "name": _text,
    "email": _text,
    "plan": _text,
    "primary_domain": _text,
    "currency": lambda n, v: _choice(n, v, CURRENCIES),
    "country": lambda n, v: _choice(n, v, tuple(COUNTRIES)),
    "timezone": _timezone,
    "installed": _bool,
    "scopes": _scopes,
    "token_expired": _bool,
    "frozen": _bool,
    "locked": _bool,
    "fail_bulk": _fail_bulk,
    "empty_bulk": _entities,
    "error_rate": lambda n, v: float(_number(n, v, 0, 1)),
    "throttle": _throttle,
    "throttle_mode": lambda n, v: _choice(n, v, ("200", "429")),
    "latency_ms": lambda n, v: _number(n, v, 0, 60_000, integer=True),
    "bulk_rate": lambda n, v: float(_number(n, v, 0.001, 1e12)),
    "bulk_delay_ms": lambda n, v: _number(n, v, 0, 3_600_000, integer=True),
    "download_delay_ms": lambda n, v: _number(n, v, 0, 60_000, integer=True),
    "bulk_concurrency": lambda n, v: None if v is None else _number(n, v, 1, 100, integer=True),
    "deny_oauth": _bool,
    "token_ttl": lambda n, v: _number(n, v, 1, 10_000_000, integer=True),
    "webhooks_enabled": _bool,
    "webhook_duplicates": _bool,
    "webhook_out_of_order": _bool,
    "webhook_after_uninstall": _bool,
    "webhook_retries": lambda n, v: _number(n, v, 0, 20, integer=True),
    "webhook_retry_base_ms": lambda n, v: _number(n, v, 0, 600_000, integer=True),
    "compliance_uri": _uri,
}


def validate_settings(body: dict[str, Any]) -> dict[str, Any]:
    """Coerced values for every field of `body`; FieldError on the first problem."""
    out = {}
    for name, value in body.items():
        validator = VALIDATORS.get(name)
        if validator is None:
            raise FieldError(name, f"unknown field '{name}'")
        out[name] = validator(name, value)
    return out


def apply_settings(world: World, shop: Shop, values: dict[str, Any], *,
                   quiet: bool = False) -> None:
    """Apply validated values; `quiet` (at creation) sends no webhooks."""
    settings = shop.settings
    previous_scopes = list(settings.scopes)
    shop_changed = False
    for name, value in values.items():
        if name in ("installed", "token_expired"):
            continue
        if name in SHOP_FIELDS and getattr(settings, name) != value:
            shop_changed = True
        setattr(settings, name, value)
    if "throttle" in values:
        shop.apply_throttle()
    if "currency" in values:
        shop.records.data.currency = settings.currency
        shop.records.data.forget()
    if "token_expired" in values:
        settings.token_expired = values["token_expired"]
        for token in world.tokens.values():
            if token.shop == shop.domain and not token.revoked:
                token.forced_expired = values["token_expired"]
    if "installed" in values:
        if values["installed"] is False:
            uninstall(world, shop)
        elif values["installed"] is True and not settings.installed:
            reinstall(shop)
    if quiet:
        return
    if "scopes" in values:
        scopes_changed(world, shop, previous_scopes)
    if shop_changed:
        emit(world, shop, "shop/update", shop_payload(shop))
