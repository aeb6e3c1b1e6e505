"""Early wake-up of a sync that polls its bulk operation, when `bulk_operations/finish` arrives.

Lives under jobs (below both sync and webhooks) so that the webhook path can wake a sync in
this process without importing it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_waiters: dict[tuple[int, str], tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
_waiters_lock = threading.Lock()


def wake(store_id: int, entity: str | None = None) -> bool:
    """Make a sync of `store_id` (one entity, or any) poll its bulk operation now.

    Thread-safe; returns whether a sync in this process was waiting.
    """
    woke = False
    with _waiters_lock:
        for (waiting_store, waiting_entity), (loop, event) in list(_waiters.items()):
            if waiting_store == store_id and entity in (None, waiting_entity):
                loop.call_soon_threadsafe(event.set)
                woke = True
    return woke


@contextmanager
def waiter(store_id: int, entity: str) -> Iterator[asyncio.Event]:
    event = asyncio.Event()
    key = (store_id, entity)
    with _waiters_lock:
        _waiters[key] = (asyncio.get_running_loop(), event)
    try:
        yield event
    finally:
        with _waiters_lock:
            if _waiters.get(key, (None, None))[1] is event:
                del _waiters[key]
