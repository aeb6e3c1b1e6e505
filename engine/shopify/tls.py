"""One TLS context for every HTTP client the engine opens to Shopify.

httpx builds a fresh `ssl.SSLContext` (loading the whole CA bundle) for every client it creates
when it is not given one: 20-90 ms of CPU each on a 2-core box. The engine opens a client per
job (the Admin API client, the bulk result download, OAuth exchanges), so a fleet's full sync
spent more CPU loading certificates than syncing. The context is built once, with httpx's own
defaults (certifi's bundle, SSL_CERT_FILE / SSL_CERT_DIR honoured), and shared: a client-side
SSLContext is safe to use from several threads and event loops.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """The shared context: what httpx would build for `verify=True`, built once."""
    return httpx.create_ssl_context()
