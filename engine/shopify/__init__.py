"""The Shopify Admin API client: errors, throttle-aware GraphQL, OAuth, bulk operations.

Public API (everything else is private to the modules):

- errors:    ShopifyError, AuthError, OAuthError, ScopeError, TransientError, PermanentError,
             ShopUnavailable, BulkNotFound (the one tree, documented in errors.py)
- client:    ShopifyClient, TokenProvider, StaticToken
- oauth:     authorize_url, verify_callback, exchange_code, refresh_token, revoke,
             access_scopes, TokenSet
- bulk:      bulk.start, bulk.poll, bulk.cancel, bulk.stream_chunks, BulkStatus
- documents: every GraphQL document the engine sends
- session:   open_client(runtime, store) — imported explicitly from engine.credentials,
             because it is the only part that touches the database.
"""

from engine.shopify import bulk, documents
from engine.shopify.bulk import BulkStatus
from engine.shopify.client import ShopifyClient, StaticToken, TokenProvider
from engine.shopify.errors import (
    AuthError,
    BulkNotFound,
    OAuthError,
    PermanentError,
    ScopeError,
    ShopifyError,
    ShopUnavailable,
    TransientError,
)
from engine.shopify.oauth import (
    TokenSet,
    access_scopes,
    authorize_url,
    exchange_code,
    refresh_token,
    revoke,
    verify_callback,
)

__all__ = [
    "AuthError",
    "BulkNotFound",
    "BulkStatus",
    "OAuthError",
    "PermanentError",
    "ScopeError",
    "ShopUnavailable",
    "ShopifyClient",
    "ShopifyError",
    "StaticToken",
    "TokenProvider",
    "TokenSet",
    "TransientError",
    "access_scopes",
    "authorize_url",
    "bulk",
    "documents",
    "exchange_code",
    "refresh_token",
    "revoke",
    "verify_callback",
]
