"""`serve` under slow or many clients: read deadlines, a connection cap, logs that stay small.

uvicorn closes an idle keep-alive connection (`timeout_keep_alive`) but gives a request that
trickles in (one byte a second: slowloris) all the time in the world, and accepts connections
until the process runs out of file descriptors. `GuardedH11Protocol` adds what is missing:

- a read deadline: a request's headers and body must arrive within `http_read_timeout` seconds
  of its first byte (or of the connection opening), else the connection is closed;
- a connection cap: past `max_connections` open connections a new one is closed at once, so a
  flood cannot take the descriptors `/healthz`, the database and Shopify need;
- idle keep-alive connections close after KEEP_ALIVE seconds (uvicorn's own timer).

What uvicorn cannot do (a per-client connection limit, TLS, request-rate limits) belongs in a
reverse proxy in front of `serve` (README, "Operating serve").

Each kind of refusal is counted and logged once per LOG_INTERVAL ("12 connections closed:
request not received within 10 s"), never once per event; `OncePerInterval` does the same for
any repeated log line (e.g. accept() failing with "Too many open files" in a tight loop).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("shopsync.serve")

KEEP_ALIVE = 5.0
LOG_INTERVAL = 60.0


class RefusalLog:
    """Counts of refused connections by reason, logged at most once per interval."""

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._last = float("-inf")
        self.totals: dict[str, int] = {}

    def note(self, reason: str) -> None:
        with self._lock:
            self._counts[reason] = self._counts.get(reason, 0) + 1
            self.totals[reason] = self.totals.get(reason, 0) + 1
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last = now
            counts, self._counts = self._counts, {}
        for what, n in sorted(counts.items()):
            log.warning("%d connection%s closed: %s (logged at most once per %.0f s)",
                        n, "" if n == 1 else "s", what, self.interval)


REFUSALS = RefusalLog()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request read deadline and a connection cap."""

    read_timeout: float = 10.0
    max_connections: int = 500

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_deadline: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(  # type: ignore[override]  # uvicorn narrows BaseTransport too
        self, transport: asyncio.Transport
    ) -> None:
        if len(self.connections) >= self.max_connections:
            self._refused = True
            self.transport = transport
            transport.abort()
            REFUSALS.note(f"more than {self.max_connections} open connections")
            return
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._refused:
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._read_deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # the whole request is in (or the connection is closing)

    def _arm(self) -> None:
        self._disarm()
        self._read_deadline = self.loop.call_later(self.read_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _too_slow(self) -> None:
        self._read_deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):  # headers or body still due
            REFUSALS.note(f"request not received within {self.read_timeout:g} s")
            self.transport.abort()


def guarded_protocol(read_timeout: float, max_connections: int) -> type[GuardedH11Protocol]:
    """A GuardedH11Protocol class with these limits (uvicorn instantiates it per connection)."""
    return type("ShopsyncH11Protocol", (GuardedH11Protocol,), {
        "read_timeout": read_timeout, "max_connections": max_connections,
    })


class OncePerInterval(logging.Filter):
    """Lets a given message (logger + template) through once per interval; counts the rest."""

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        super().__init__()
        self.interval = interval
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            last, suppressed = self._seen.get(key, (float("-inf"), 0))
            if now - last < self.interval:
                self._seen[key] = (last, suppressed + 1)
                return False
            self._seen[key] = (now, 0)
            if len(self._seen) > 1000:  # bounded: forget the oldest
                for old in list(self._seen)[:100]:
                    del self._seen[old]
        if suppressed:
            record.msg = f"{record.msg} (and {suppressed} more like it in the last interval)"
        return True


def quiet_repeats(*logger_names: str, interval: float = LOG_INTERVAL) -> None:
    """Install OncePerInterval on these loggers (once)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OncePerInterval) for f in logger.filters):
            logger.addFilter(OncePerInterval(interval))
