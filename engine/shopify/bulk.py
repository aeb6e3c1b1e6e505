"""Bulk query operations (shopify-api.md §4): start, poll, cancel, and stream the JSONL result.

`start` submits an inner query and returns the operation id, waiting out OPERATION_IN_PROGRESS /
LIMIT_REACHED a bounded number of times (an `on_busy` hook may end the wait early, e.g. when
every slot is someone else's); `poll` returns a `BulkStatus` with the string counts already
turned into ints; `recent` lists the shop's operations, newest first; `stream_chunks` yields
the result file's lines without holding it, a list per chunk (blocking: run it in a thread).
The download URL is a signed storage URL: it gets no Shopify token, only a plain GET.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from engine.retry import Backoff, retrying, retrying_blocking
from engine.shopify.client import ShopifyClient
from engine.shopify.documents import BULK_CANCEL, BULK_LIST, BULK_RUN, BULK_STATUS
from engine.shopify.errors import BulkNotFound, PermanentError, ScopeError, TransientError
from engine.shopify.tls import ssl_context

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELED", "EXPIRED"})
ACTIVE = frozenset({"CREATED", "RUNNING", "CANCELING"})  # these hold one of the shop's slots
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
    type: str = "QUERY"  # QUERY | MUTATION
    created_at: str | None = None  # Shopify's DateTime text, as sent
    completed_at: str | None = None
    query: str | None = None  # the inner query (only when the document asked for it)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

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
            type=str(node.get("type") or "QUERY"),
            created_at=node.get("createdAt") or None,
            completed_at=node.get("completedAt") or None,
            query=node.get("query") or None,
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
    on_busy: Callable[[str], Awaitable[None]] | None = None,
) -> str:
    """Start a bulk export of `inner_query`; returns the BulkOperation gid.

    `on_busy(message)` runs after each "limit reached / already in progress" answer, before the
    wait; it may raise to give up at once (the sync raises BulkSlotsTaken when no running
    operation is ours, since waiting cannot free someone else's slot).
    """
    async for attempt in retrying(Backoff(attempts, first=wait, factor=1.0, cap=wait), sleep):
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
        if on_busy is not None:
            await on_busy(text)
        if attempt == attempts:
            raise TransientError(
                f"Shopify refused a new bulk export {attempts} times: {text}"
            )
    raise AssertionError("unreachable")


async def poll(client: ShopifyClient, operation_id: str) -> BulkStatus:
    data = await client.graphql(BULK_STATUS, {"id": operation_id})
    node = data.get("bulkOperation")
    if not isinstance(node, dict):
        raise BulkNotFound(f"Shopify does not know bulk operation {operation_id}")
    return BulkStatus.from_node(node)


async def recent(client: ShopifyClient, first: int = 50) -> list[BulkStatus]:
    """The shop's most recent bulk operations (this app's, as Shopify scopes them), newest first."""
    data = await client.graphql(BULK_LIST, {"first": first})
    connection = data.get("bulkOperations") or {}
    nodes = [n for n in connection.get("nodes") or [] if isinstance(n, dict) and n.get("id")]
    statuses = [BulkStatus.from_node(node) for node in nodes]
    # Newest first, whatever order the server chose (ISO-8601 UTC text sorts by time).
    return sorted(statuses, key=lambda s: (s.created_at or "", s.id), reverse=True)


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    status: str | None  # what Shopify reports now (None: it does not know the id)
    refusal: str | None  # its userErrors, e.g. "cannot be canceled when it is completed"


async def cancel_operation(client: ShopifyClient, operation_id: str) -> CancelOutcome:
    """Ask Shopify to cancel; its answer, refusals included."""
    data = await client.graphql(BULK_CANCEL, {"id": operation_id})
    payload = data.get("bulkOperationCancel") or {}
    operation = payload.get("bulkOperation")
    errors = [e for e in payload.get("userErrors") or [] if isinstance(e, dict)]
    refusal = "; ".join(str(e.get("message")) for e in errors) or None
    status = str(operation.get("status")) if isinstance(operation, dict) else None
    return CancelOutcome(status, refusal)


async def cancel(client: ShopifyClient, operation_id: str) -> str | None:
    """Ask Shopify to cancel; returns the status it reports (None if it refused, e.g. finished)."""
    outcome = await cancel_operation(client, operation_id)
    return None if outcome.refusal and outcome.status is None else outcome.status


class _Lines:
    """Splits a byte stream into its non-empty lines, a list per chunk."""

    def __init__(self) -> None:
        self.pending = b""

    def split(self, chunk: bytes) -> list[bytes]:
        lines = (self.pending + chunk).split(b"\n") if self.pending else chunk.split(b"\n")
        self.pending = lines.pop()
        # bytes.isspace() is true for exactly what bytes.strip() removes
        return [line for line in lines if line and not line.isspace()]

    def rest(self) -> list[bytes]:
        return [self.pending] if self.pending and not self.pending.isspace() else []


def _refused(response: httpx.Response) -> PermanentError:
    return PermanentError(
        f"The bulk result download was refused ({response.status_code} "
        f"{response.reason_phrase}); the URL may have expired"
    )


def _broke_off(yielded: int, last: str) -> TransientError:
    return TransientError(f"The bulk result download broke off after {yielded} lines ({last})")


def _failed(attempts: int, last: str) -> TransientError:
    return TransientError(f"The bulk result download failed {attempts} times; last: {last}")


def stream_chunks(
    url: str,
    *,
    transport: httpx.BaseTransport | None = None,
    attempts: int = 3,
    timeout: float = 60.0,
    chunk_size: int = 1 << 16,
) -> Generator[list[bytes], None, None]:
    """Yield the non-empty lines of the JSONL file at `url` (without their newlines), a list per
    chunk received. Blocking: the importer downloads, parses and writes in one worker thread
    (engine.sync.importer.stream_into), a chunk at a time.

    A failure before the first line is retried from scratch (up to `attempts`); once lines have
    been handed out a retry would repeat them, so a later failure raises TransientError and the
    caller decides (the importer's upserts are idempotent, so it may simply start over).
    """
    yielded = 0
    last = "no attempt made"
    with httpx.Client(
        transport=transport, verify=ssl_context(), timeout=timeout, follow_redirects=True
    ) as http:
        for _attempt in retrying_blocking(Backoff(attempts, first=0.25)):
            try:
                with http.stream("GET", url) as response:
                    status = response.status_code
                    if status >= 500:
                        last = f"{status} {response.reason_phrase}"
                        continue
                    if status >= 400:
                        raise _refused(response)
                    splitter = _Lines()
                    for chunk in response.iter_bytes(chunk_size):
                        lines = splitter.split(chunk)
                        if lines:
                            yielded += len(lines)
                            yield lines
                    lines = splitter.rest()
                    if lines:
                        yielded += 1
                        yield lines
                    return
            except (httpx.TimeoutException, httpx.TransportError) as error:
                last = f"{type(error).__name__}"
                if yielded:
                    raise _broke_off(yielded, last) from None
    raise _failed(attempts, last)
