"""Confirming a destructive delivery with Shopify before acting on it.

`app/uninstalled` and `shop/redact` mean the app is no longer installed, which Shopify itself can
confirm: the store's access token stops working at the uninstall. So before either is applied
the worker asks Shopify once (outside any transaction, a few seconds at most) with the store's
token: rejected → confirmed; accepted → the delivery is refused as unconfirmed (the app is
installed); no answer → `UNKNOWN`, which the apply rules weigh per topic (engine.webhooks.apply).
`customers/redact` cannot be confirmed through the Admin API (the customer may well still exist);
it is applied and recorded with the delivery's ids like the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from enum import Enum

from engine.credentials import store_tokens
from engine.persistence.models import Store
from engine.persistence.runtime import Runtime
from engine.shopify.client import ShopifyClient
from engine.shopify.documents import SHOP_INFO
from engine.shopify.errors import AuthError, ShopifyError

log = logging.getLogger("shopsync.webhooks")

PROBE_TIMEOUT = 5.0


class Install(Enum):
    """What Shopify says about the app's installation on a shop."""

    REVOKED = "revoked"  # the token is rejected: uninstalled
    ACTIVE = "active"  # the token works: still installed
    UNKNOWN = "unknown"  # no token to ask with, or no answer


Confirmer = Callable[[Store], Install]


def install_probe(runtime: Runtime) -> Confirmer:
    """A Confirmer that asks the shop's Admin API with the stored token (blocking)."""

    def confirm(store: Store) -> Install:
        if not store.token_enc:
            return Install.UNKNOWN
        try:
            return asyncio.run(asyncio.wait_for(_probe(runtime, store), PROBE_TIMEOUT + 1))
        except Exception as error:  # an outage or a timeout: not an answer
            log.warning("could not confirm the installation of %s: %s", store.domain,
                        type(error).__name__)
            return Install.UNKNOWN

    return confirm


async def _probe(runtime: Runtime, store: Store) -> Install:
    settings = runtime.settings
    tokens = await store_tokens(runtime, store)
    client = ShopifyClient(settings.shop_origin(store.domain), settings.api_version, tokens,
                           timeout=PROBE_TIMEOUT, max_retries=0, max_throttle_waits=1)
    try:
        await client.graphql(SHOP_INFO)
    except AuthError:
        return Install.REVOKED
    except ShopifyError:
        return Install.UNKNOWN
    finally:
        await client.aclose()
    return Install.ACTIVE
