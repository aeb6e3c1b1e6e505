"""Bulk query operations (shopify-api.md §4): start, poll, cancel, and stream the JSONL result.

`start` submits an inner query and returns the operation id, waiting out OPERATION_IN_PROGRESS /
LIMIT_REACHED a bounded number of times; `poll` returns a `BulkStatus` with the string counts
already turned into ints; `stream_lines` yields the result file line by line without holding it.
The download URL is a signed storage URL: it gets no Shopify token, only a plain GET.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from engine.shopify.client import ShopifyClient
from engine.shopify.documents import BULK_CANCEL, BULK_RUN, BULK_STATUS
from engine.shopify.errors import BulkNotFound, PermanentError, ScopeError, TransientError

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELED", "EXPIRED"})
BUSY_CODES = frozenset({"OPERATION_IN_PROGRESS", "LIMIT_REACHED"})


@dataclass(frozen=True, slots=True)
class BulkStatus:
    id: str
    status: str  # CREATED | RUNNING | COMPLETED | FAILED | CANCELING | CANCELED | EXPIRED
    error_code: str | None = None  # ACCESS_DENIED | INTERNAL_SERVER_ERROR | TIMEOUT
    object_count: int = 0
    root_object_count: int = 0
    file_size: int | None = None
    url: str | None = None
    partial_data_url: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_node(cls, node: dict[str, Any]) -> BulkStatus:
        return cls(
            id=str(node.get("id")),
            status=str(node.get("status") or "UNKNOWN"),
            error_code=node.get("errorCode"),
            object_count=_count(node.get("objectCount")) or 0,
            root_object_count=_count(node.get("rootObjectCount")) or 0,
            file_size=_count(node.get("fileSize")),
            url=node.get("url") or None,
            partial_data_url=node.get("partialDataUrl") or None,
        )


def _count(value: Any) -> int | None:
    # UnsignedInt64 is serialized as a JSON string ("2"); accept numbers too.
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def start(
    client: ShopifyClient,
    inner_query: str,
    *,
    attempts: int = 10,
    wait: float = 3.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> str:
    """Start a bulk export of `inner_query`; returns the BulkOperation gid."""
    for attempt in range(1, attempts + 1):
        data = await client.graphql(BULK_RUN, {"query": inner_query})
        payload = data.get("bulkOperationRunQuery") or {}
        errors = [e for e in payload.get("userErrors") or [] if isinstance(e, dict)]
        operation = payload.get("bulkOperation") or {}
        if not errors and operation.get("id"):
            return str(operation["id"])
        text = "; ".join(str(e.get("message")) for e in errors) or "no operation returned"
        codes = {e.get("code") for e in errors}
        busy = bool(codes & BUSY_CODES) or "already in progress" in text.lower()
        if not busy:
            if "ACCESS_DENIED" in codes or "access denied" in text.lower():
                raise ScopeError(f"Shopify denied the bulk query: {text}")
            raise PermanentError(f"Shopify refused the bulk query: {text}")
        if attempt == attempts:
            raise TransientError(
                f"Shopify refused a new bulk export {attempts} times: {text}"
            )
        await sleep(wait)
    raise AssertionError("unreachable")


async def poll(client: ShopifyClient, operation_id: str) -> BulkStatus:
    data = await client.graphql(BULK_STATUS, {"id": operation_id})
    node = data.get("bulkOperation")
    if not isinstance(node, dict):
        raise BulkNotFound(f"Shopify does not know bulk operation {operation_id}")
    return BulkStatus.from_node(node)


async def cancel(client: ShopifyClient, operation_id: str) -> str | None:
    """Ask Shopify to cancel; returns the status it reports (None if it refused, e.g. finished)."""
    data = await client.graphql(BULK_CANCEL, {"id": operation_id})
    payload = data.get("bulkOperationCancel") or {}
    operation = payload.get("bulkOperation")
    return str(operation.get("status")) if isinstance(operation, dict) else None


async def stream_lines(
    url: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    attempts: int = 3,
    timeout: float = 60.0,
    chunk_size: int = 1 << 16,
) -> AsyncIterator[bytes]:
    """Yield each non-empty line of the JSONL file at `url` (without the newline).

    A failure before the first line is retried from scratch (up to `attempts`); once lines have
    been handed out a retry would repeat them, so a later failure raises TransientError and the
    caller decides (the importer's upserts are idempotent, so it may simply start over).
    """
    yielded = 0
    last = "no attempt made"
    async with httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=True
    ) as http:
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                await asyncio.sleep(0.25 * 2 ** (attempt - 2))
            try:
                async with http.stream("GET", url) as response:
                    status = response.status_code
                    if status >= 500:
                        last = f"{status} {response.reason_phrase}"
                        continue
                    if status >= 400:
                        raise PermanentError(
                            f"The bulk result download was refused ({status} "
                            f"{response.reason_phrase}); the URL may have expired"
                        )
                    pending = b""
                    async for chunk in response.aiter_bytes(chunk_size):
                        lines = (pending + chunk).split(b"\n")
                        pending = lines.pop()
                        for line in lines:
                            if line.strip():
                                yielded += 1
                                yield line
                    if pending.strip():
                        yielded += 1
                        yield pending
                    return
            except (httpx.TimeoutException, httpx.TransportError) as error:
                last = f"{type(error).__name__}"
                if yielded:
                    raise TransientError(
                        f"The bulk result download broke off after {yielded} lines ({last})"
                    ) from None
    raise TransientError(f"The bulk result download failed {attempts} times; last: {last}")
