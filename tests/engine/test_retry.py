"""engine.retry: the one backoff schedule the engine's retry loops share."""

from __future__ import annotations

import pytest

from engine.retry import Backoff, retrying, retrying_blocking


def test_the_schedule_doubles_from_first_up_to_the_cap() -> None:
    backoff = Backoff(6, first=0.25, cap=2.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert [Backoff(4, first=3.0, factor=1.0).delay(n) for n in (1, 2, 3)] == [3.0, 3.0, 3.0]


async def test_attempts_run_at_once_then_wait_before_each_retry() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    seen = [attempt async for attempt in retrying(Backoff(3, first=0.4), sleep)]
    assert seen == [1, 2, 3] and waits == [0.4, 0.8]


async def test_stopping_early_waits_no_more() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async for attempt in retrying(Backoff(5, first=1.0), sleep):
        if attempt == 2:
            break
    assert waits == [1.0]


def test_blocking_variant_and_at_least_one_attempt() -> None:
    waits: list[float] = []
    assert list(retrying_blocking(Backoff(0, first=1.0), waits.append)) == [1]
    assert list(retrying_blocking(Backoff(3, first=0.1, factor=3.0), waits.append)) == [1, 2, 3]
    assert waits == pytest.approx([0.1, 0.3])
