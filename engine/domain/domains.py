"""Shop-domain normalisation and validation, with the exact UI messages of product.md §10.

`normalize_domain` accepts what operators paste (`mystore`, `MyStore.myshopify.com`,
`https://mystore.myshopify.com/admin`, `admin.shopify.com/store/mystore`) and returns
`mystore.myshopify.com`, or raises `DomainError` whose message is the exact UI string.
"""

from __future__ import annotations

import re

SUFFIX = ".myshopify.com"

REQUIRED = "Store domain is required"
INVALID_FORMAT = "Invalid store domain format"
TOO_SHORT = "Store name must be at least 4 characters"
TOO_LONG = "Store name cannot exceed 60 characters"
HYPHEN = "Store name cannot start or end with a hyphen"
ALREADY_CONNECTED = "Already connected"

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
_ADMIN_STORE = re.compile(r"admin\.shopify\.com/store/([^/?#]*)")


class DomainError(ValueError):
    """The input is not a usable shop domain; str(error) is the UI message."""


def store_name_part(text: str) -> str:
    """The store-name part of whatever the operator typed (without the suffix)."""
    value = text.strip().lower()
    value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value)  # scheme
    admin = _ADMIN_STORE.match(value)
    if admin:
        return admin.group(1)
    value = re.split(r"[/?#]", value, maxsplit=1)[0]  # path, query, fragment
    value = value.rstrip(".")
    if value.endswith(SUFFIX):
        value = value[: -len(SUFFIX)]
    return value


def normalize_domain(text: str | None) -> str:
    if text is None or not text.strip():
        raise DomainError(REQUIRED)
    name = store_name_part(text)
    if not name:
        raise DomainError(REQUIRED if not text.strip().strip("/") else INVALID_FORMAT)
    if "." in name or any(ch.isspace() for ch in name):
        raise DomainError(INVALID_FORMAT)
    if len(name) < 4:
        raise DomainError(TOO_SHORT)
    if len(name) > 60:
        raise DomainError(TOO_LONG)
    if name.startswith("-") or name.endswith("-"):
        raise DomainError(HYPHEN)
    if not _NAME.match(name):
        raise DomainError(INVALID_FORMAT)
    return name + SUFFIX


def validation_message(text: str | None) -> str | None:
    """The inline message for a Connect field, or None when the input is valid."""
    try:
        normalize_domain(text)
    except DomainError as error:
        return str(error)
    return None
