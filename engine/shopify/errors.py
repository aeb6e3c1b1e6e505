"""The one exception tree of the Shopify client. Every failure talking to Shopify is one of these.

    ShopifyError(detail)             base; `.kind` says what the caller should do, `.detail` is
    │                                a sentence an operator can read (never a token)
    ├── AuthError          "auth"       401 that a refresh could not cure: app uninstalled, access
    │   │                               revoked, token expired and not refreshable, refresh refused
    │   └── OAuthError     "auth"       the OAuth handshake itself failed: a callback whose hmac,
    │                                   timestamp or shop does not verify, a refused code exchange
    ├── ScopeError         "scope"      ACCESS_DENIED: `.scopes` names the missing scope(s)
    ├── TransientError     "transient"  5xx, network errors, timeouts, throttling past the bound:
    │                                   the same request may well work later
    └── PermanentError     "permanent"  other 4xx, GraphQL errors, an INVALID bulk query, a failed
        │                               bulk export: repeating the request will not help
        ├── ShopUnavailable             402 frozen (unpaid bill) or 423 locked shop
        ├── BulkNotFound                `bulkOperation(id:)` answered null (unknown or purged id)
        └── BulkSlotsTaken              every bulk slot of the shop is held by operations this
                                        engine did not start: waiting will not free them

Callers branch on the class (or on `.kind` when they only log or count): sync and health turn
`AuthError` into "Reconnect required", `ScopeError` into a missing-scope failure, and everything
else into a Failed entity or a failed readiness item carrying `.detail`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SCOPE = re.compile(r"\b((?:read|write|unauthenticated_read|unauthenticated_write)_[a-z_]+)\b")


class ShopifyError(Exception):
    """Base of every client failure; `str(error)` is `detail`."""

    kind: str = "permanent"

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status  # the HTTP status Shopify answered, when there was one

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r})"


class AuthError(ShopifyError):
    kind = "auth"


class OAuthError(AuthError):
    """An OAuth callback or token exchange that cannot be trusted or was refused."""


class ScopeError(ShopifyError):
    kind = "scope"

    def __init__(
        self, detail: str, scopes: Iterable[str] = (), *, status: int | None = None
    ) -> None:
        super().__init__(detail, status=status)
        self.scopes: tuple[str, ...] = tuple(dict.fromkeys(scopes))


class TransientError(ShopifyError):
    kind = "transient"


class PermanentError(ShopifyError):
    kind = "permanent"


class ShopUnavailable(PermanentError):
    """The shop is frozen (402) or locked (423): nothing works until the merchant acts."""


class BulkNotFound(PermanentError):
    """Shopify does not know the bulk operation id (never existed, or long expired)."""


class BulkSlotsTaken(PermanentError):
    """Shopify refused a new bulk export and every running operation is someone else's.

    `.operation_ids` are their gids (oldest first); `.since` the oldest one's createdAt.
    """

    def __init__(self, detail: str, operation_ids: Iterable[str], since: str | None) -> None:
        super().__init__(detail)
        self.operation_ids: tuple[str, ...] = tuple(operation_ids)
        self.since = since


def scopes_in(text: str) -> list[str]:
    """Scope handles mentioned in an ACCESS_DENIED message, e.g. `Required access: read_orders`."""
    return list(dict.fromkeys(_SCOPE.findall(text or "")))


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret replaced, for messages built from bodies we did not write."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "[redacted]")
    return text
