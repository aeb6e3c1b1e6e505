"""The engine's one retry schedule: how many attempts, and how long to wait between them.

    async for attempt in retrying(Backoff(3, first=0.25)):
        try:
            return await fetch()
        except TransientError as error:
            last = error
    raise last

Each loop keeps its own decision of what is worth retrying (a 5xx, a locked database, a busy bulk
slot); this module owns the waiting: the first attempt runs at once, retry n waits
`first * factor ** (n - 1)` seconds, capped. The Shopify client's throttle handling is not a
retry loop of this kind (it paces by the leaky bucket and Retry-After) and lives in the client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    attempts: int  # in all, the first included
    first: float  # seconds before the second attempt
    factor: float = 2.0  # each later wait is this many times the previous one (1.0: constant)
    cap: float = 30.0  # no single wait is longer

    def delay(self, retry: int) -> float:
        """The wait before retry number `retry` (1 = the second attempt)."""
        return min(self.cap, self.first * self.factor ** (retry - 1))


async def retrying(
    backoff: Backoff, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
) -> AsyncIterator[int]:
    """Attempt numbers 1..attempts, waiting the backoff before each one after the first."""
    for attempt in range(1, max(1, backoff.attempts) + 1):
        if attempt > 1:
            await sleep(backoff.delay(attempt - 1))
        yield attempt


def retrying_blocking(
    backoff: Backoff, sleep: Callable[[float], object] = time.sleep
) -> Iterator[int]:
    """As `retrying`, for blocking code (a thread writing to the database)."""
    for attempt in range(1, max(1, backoff.attempts) + 1):
        if attempt > 1:
            sleep(backoff.delay(attempt - 1))
        yield attempt
