"""What the test packages share (not a test module): the one `wait_until`.

    value = wait_until(condition, timeout=5)               # threads, processes, servers
    value = await wait_until(pilot, condition, timeout=5)  # a Textual app under Pilot
    value = await wait_until(EVENT_LOOP, condition)        # any other asyncio code

Both poll `condition()` until it returns something truthy and return that value; when the
timeout passes first they fail the test loudly (AssertionError naming the condition), so a
wait can never be silently ignored. With a pilot the app keeps running between polls.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, TypeVar, overload

import httpx

T = TypeVar("T")

# The test process's own requests (health polls while a server starts, the simulator's control
# API): httpx.get() and the like build a client per call, and with it an SSL context loaded from
# the CA bundle, ~55 ms of CPU each: 20 polls a second while a serve starts, taken from the
# server being waited for. One client instead. No keep-alive: each request still opens its own
# connection, as httpx.get() did (a server killed meanwhile leaves no pooled connection behind).
HTTP = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))

DEFAULT_TIMEOUT = 10.0
INTERVAL = 0.02
EVENT_LOOP = SimpleNamespace(pause=asyncio.sleep)
"""Stands in for a pilot outside Textual: the async wait then just sleeps between polls."""


def _describe(condition: Callable[[], Any]) -> str:
    try:
        return inspect.getsource(condition).strip()
    except (OSError, TypeError):
        return repr(condition)


def _timed_out(condition: Callable[[], Any], timeout: float) -> AssertionError:
    return AssertionError(f"not true within {timeout} s: {_describe(condition)}")


@overload
def wait_until(condition: Callable[[], T], timeout: float = ..., /, *,
               interval: float = ...) -> T: ...


@overload
def wait_until(pilot: Any, condition: Callable[[], T], timeout: float = ..., /, *,
               interval: float = ...) -> Awaitable[T]: ...


def wait_until(*args: Any, interval: float = INTERVAL, **kw: Any) -> Any:
    """`wait_until(condition[, timeout])` blocks; `wait_until(pilot, condition[, timeout])` is
    awaited (see the module docstring); `timeout` may also be given by name."""
    if callable(args[0]):
        condition, *rest = args
        timeout = kw.pop("timeout", rest[0] if rest else DEFAULT_TIMEOUT)
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise _timed_out(condition, timeout)
            time.sleep(interval)
    pilot, condition, *rest = args
    timeout = kw.pop("timeout", rest[0] if rest else DEFAULT_TIMEOUT)
    return _wait_with_pilot(pilot, condition, timeout, interval)


async def _wait_with_pilot(pilot: Any, condition: Callable[[], T], timeout: float,
                           interval: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(condition, timeout)
        await pilot.pause(interval)
