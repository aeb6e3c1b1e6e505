"""The "delete" job: revoke the grant at Shopify, delete records in batches, remove the store.

Deleting is resumable: a runner that dies mid-way leaves `deleting=True` and the job queued,
and the next runner carries on from whatever rows are left.
"""

from __future__ import annotations

import asyncio
import logging

from engine.jobs.runner import JobContext
from engine.persistence.database import write_transaction
from engine.persistence.models import RECORD_MODELS, EntitySync, Job, Store
from engine.persistence.records import record_event
from engine.shopify import oauth
from engine.shopify.errors import AuthError, ShopifyError

log = logging.getLogger("shopsync.lifecycle")

BATCH = 5000


async def _revoke(ctx: JobContext, store: Store) -> str:
    token = ctx.runtime.vault.decrypt(store.token_enc) if store.token_enc else None
    if token is None:
        return "no grant to revoke"
    try:
        await oauth.revoke(ctx.runtime.settings.shop_origin(store.domain), token)
    except AuthError:
        return "grant was already revoked"
    except ShopifyError as error:
        # The operator asked for the data to go; a Shopify outage must not keep it.
        return f"could not revoke the grant ({error.detail}); revoke it in the Shopify admin"
    return "grant revoked"


def _delete_batch(store_id: int) -> int:
    removed = 0
    with write_transaction():
        for model in RECORD_MODELS:
            ids = [row.id for row in model.select(model.id)
                   .where(model.store == store_id).limit(BATCH)]
            if ids:
                removed += model.delete().where(model.id.in_(ids)).execute()
                break
    return removed


def _count(store_id: int) -> int:
    return sum(m.select().where(m.store == store_id).count() for m in RECORD_MODELS)


async def run_delete(ctx: JobContext) -> dict:
    store = await asyncio.to_thread(Store.get_or_none, Store.id == ctx.job.store_id)
    if store is None:
        return {"removed": 0, "revoke": "store already gone"}
    revoke = ctx.job.params.get("revoke")
    if revoke is None:
        revoke = await _revoke(ctx, store)
        params = dict(ctx.job.params, revoke=revoke)
        await asyncio.to_thread(
            Job.update(params=params).where(Job.id == ctx.job.id).execute
        )
        ctx.job.params = params
    total = await asyncio.to_thread(_count, store.id)
    removed = 0
    await ctx.progress(0, total, force=True)
    while True:
        ctx.check_stop()
        batch = await asyncio.to_thread(_delete_batch, store.id)
        if not batch:
            break
        removed += batch
        await ctx.progress(removed, total)

    def finish() -> None:
        with write_transaction():
            EntitySync.delete().where(EntitySync.store == store.id).execute()
            Store.delete().where(Store.id == store.id).execute()
            record_event(None, "action", f"Store deleted: {removed:,} records removed; {revoke}",
                         domain=store.domain)

    await asyncio.to_thread(finish)
    return {"removed": removed, "revoke": revoke}
