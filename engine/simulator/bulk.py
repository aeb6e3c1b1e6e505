"""Bulk query operations: the CREATED → RUNNING → COMPLETED/FAILED/CANCELING → CANCELED machine.

An operation exports a frozen snapshot of the shop's records. A background task counts the
result (root and total objects, file size), then the operation "runs" on the clock at
`bulk_rate` root objects per second after `bulk_delay_ms`; status is advanced on every read
and by the task, which also sends `bulk_operations/finish`. Faults: `fail_bulk` makes an
entity's operations FAIL halfway (with partialDataUrl for INTERNAL_SERVER_ERROR/TIMEOUT), and a
missing read scope makes them FAIL with ACCESS_DENIED; `empty_bulk` makes them COMPLETE with no
rows (objectCount 0, no file) while the shop's counts stay; `download_delay_ms` slows the
result file's download. Results are downloaded from `/_sim/bulk/{n}-{secret}.jsonl`: a result
of up to EXACT_SIZE_ROOTS roots is written to a temporary file while the operation runs (as
Shopify writes it to storage) and served from it; a larger one, and partial data, is generated
as it streams.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from graphql import GraphQLSchema
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from engine.simulator.common import READ_SCOPE, error, gid, iso, parse_gid
from engine.simulator.gate import faults
from engine.simulator.projection import (
    CHUNK,
    Counts,
    Plan,
    PlanError,
    compile_bulk,
    count_objects,
    stream_jsonl,
)
from engine.simulator.state import Shop, World, has_scope
from engine.simulator.store import Records
from engine.simulator.webhooks import emit

ACTIVE = ("CREATED", "RUNNING", "CANCELING")
TERMINAL = ("COMPLETED", "FAILED", "CANCELED", "EXPIRED")
ID_OFFSET = 4_142_422_163_000
EXACT_SIZE_ROOTS = 20_000
SAMPLE_ROOTS = 2_000
CANCEL_DELAY = 0.1
TICK = 0.02
KEEP_OPERATIONS = 100


@dataclass
class BulkOperation:
    number: int
    shop: str
    query: str
    plan: Plan | None
    snapshot: Records | None
    created_at: float
    created_wall: float
    rate: float
    delay: float
    fail_code: str | None
    base_url: str
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    status: str = "CREATED"
    error_code: str | None = None
    completed_wall: float | None = None
    counts: Counts = field(default_factory=Counts)
    partial: Counts | None = None
    file_size: int | None = None
    ready: bool = False
    canceling_at: float | None = None
    shown: tuple[int, int] = (0, 0)
    halt: bool = False
    empty: bool = False  # fault `empty_bulk`: completes with no rows while the counts stay
    # The result file, written while the operation runs (as Shopify writes it to storage before
    # it hands out the URL): an unnamed temporary file, for results of up to EXACT_SIZE_ROOTS
    # roots (larger ones are generated as they stream, so memory and disk stay flat).
    result: IO[bytes] | None = None

    def discard(self) -> None:
        if self.result is not None:
            self.result.close()
            self.result = None

    @property
    def gid(self) -> str:
        return gid("BulkOperation", self.number)

    def _progress(self, now: float) -> tuple[int, int]:
        roots = max(0.0, now - self.created_at - self.delay) * self.rate
        counts = self.counts
        shown_roots = min(int(roots), counts.roots)
        ratio = counts.objects / counts.roots if counts.roots else 1.0
        return shown_roots, min(int(shown_roots * ratio), counts.objects)

    def advance(self, now: float, wall: float) -> bool:
        """Move the state on to `now`; True when this call finished the operation."""
        if self.status in TERMINAL:
            return False
        if self.status == "CANCELING":
            if self.canceling_at is not None and now - self.canceling_at >= CANCEL_DELAY:
                self.status = "CANCELED"
                self.completed_wall = wall
                return True
            return False
        if self.fail_code == "ACCESS_DENIED":
            self.status, self.error_code, self.completed_wall = "FAILED", "ACCESS_DENIED", wall
            self.shown = (0, 0)
            return True
        self.status = "RUNNING"
        self.shown = self._progress(now)
        if not self.ready:
            return False
        if self.partial is not None and self.shown[0] >= self.partial.roots:
            self.status, self.error_code, self.completed_wall = "FAILED", self.fail_code, wall
            self.shown = (self.partial.roots, self.partial.objects)
            return True
        if self.shown[0] >= self.counts.roots:
            self.status, self.completed_wall = "COMPLETED", wall
            self.shown = (self.counts.roots, self.counts.objects)
            return True
        return False

    def view(self) -> dict[str, Any]:
        url = partial = None
        if self.status == "COMPLETED" and self.counts.objects:
            url = f"{self.base_url}/_sim/bulk/{self.number}-{self.secret}.jsonl"
        if self.status == "FAILED" and self.partial is not None and self.partial.objects:
            partial = f"{self.base_url}/_sim/bulk/{self.number}-{self.secret}-partial.jsonl"
        size = None
        if self.status == "COMPLETED" and self.counts.objects:
            size = str(self.file_size or 0)
        return {
            "__typename": "BulkOperation",
            "id": self.gid,
            "status": self.status,
            "errorCode": self.error_code,
            "objectCount": str(self.shown[1]),
            "rootObjectCount": str(self.shown[0]),
            "fileSize": size,
            "url": url,
            "partialDataUrl": partial,
            "query": self.query,
            "type": "QUERY",
            "createdAt": iso(self.created_wall),
            "completedAt": iso(self.completed_wall) if self.completed_wall else None,
        }


def refresh(world: World, shop: Shop, op: BulkOperation) -> None:
    if op.advance(world.clock.now(), world.clock.wall()):
        _finished(world, shop, op)


def _finished(world: World, shop: Shop, op: BulkOperation) -> None:
    emit(world, shop, "bulk_operations/finish", {
        "admin_graphql_api_id": op.gid,
        "completed_at": iso(op.completed_wall or world.clock.wall()),
        "created_at": iso(op.created_wall),
        "error_code": op.error_code.lower() if op.error_code else None,
        "status": op.status.lower(),
        "type": "query",
    })


def concurrency_limit(shop: Shop, version: str) -> int:
    if shop.settings.bulk_concurrency:
        return shop.settings.bulk_concurrency
    return 5 if version >= "2026-01" else 1


def run_query(world: World, shop: Shop, schema: GraphQLSchema, *, query: str, version: str,
              scopes: frozenset[str], base_url: str) -> dict[str, Any]:
    """bulkOperationRunQuery's payload."""
    try:
        plan = compile_bulk(schema, query)
    except PlanError as exc:
        return {"bulkOperation": None,
                "userErrors": [{"field": ["query"], "message": str(exc), "code": "INVALID"}]}
    for op in shop.bulk_ops.values():
        refresh(world, shop, op)
    active = [op for op in shop.bulk_ops.values() if op.status in ACTIVE]
    limit = concurrency_limit(shop, version)
    if len(active) >= limit:
        if limit == 1:
            message = ("A bulk query operation for this app and shop is already in progress: "
                       f"{active[-1].gid}")
            code = "OPERATION_IN_PROGRESS"
        else:
            message = "Bulk operations limit reached. Please try again later."
            code = "LIMIT_REACHED"
        return {"bulkOperation": None,
                "userErrors": [{"field": None, "message": message, "code": code}]}
    fail = shop.settings.fail_bulk.get(plan.entity)
    if not has_scope(scopes, READ_SCOPE[plan.entity]):
        fail = "ACCESS_DENIED"
    op = BulkOperation(
        number=ID_OFFSET + world.next_number(), shop=shop.domain, query=query, plan=plan,
        snapshot=shop.records.snapshot(), created_at=world.clock.now(),
        created_wall=world.clock.wall(), rate=max(shop.settings.bulk_rate, 0.001),
        delay=shop.settings.bulk_delay_ms / 1000, fail_code=fail, base_url=base_url,
        empty=plan.entity in shop.settings.empty_bulk,
    )
    shop.bulk_ops[op.number] = op
    world.bulk_index[op.number] = op
    _forget_old(world, shop)
    world.spawn(_run(world, shop, op))
    return {"bulkOperation": op.view(), "userErrors": []}


def _forget_old(world: World, shop: Shop) -> None:
    """Keep the newest KEEP_OPERATIONS per shop (their snapshots hold copies of overrides)."""
    finished = [n for n, o in shop.bulk_ops.items() if o.status in TERMINAL]
    for number in sorted(finished)[: max(0, len(shop.bulk_ops) - KEEP_OPERATIONS)]:
        old = shop.bulk_ops.pop(number, None)
        world.bulk_index.pop(number, None)
        if old is not None:
            old.discard()


async def _run(world: World, shop: Shop, op: BulkOperation) -> None:
    assert op.plan is not None and op.snapshot is not None
    plan, snapshot = op.plan, op.snapshot

    def stop() -> bool:
        return op.halt or world.closing or op.status in ("CANCELING", "CANCELED")

    if op.fail_code != "ACCESS_DENIED":
        await asyncio.to_thread(count_objects, snapshot, plan, op.counts,
                                0 if op.empty else None, stop)
        if op.fail_code:
            partial = Counts()
            await asyncio.to_thread(count_objects, snapshot, plan, partial,
                                    max(1, op.counts.roots // 2) if op.counts.roots else 0, stop)
            op.partial = partial
        elif op.counts.objects:
            op.file_size, op.result = await asyncio.to_thread(
                _render, snapshot, plan, op.counts.roots, stop)
        op.ready = True
    while op.status not in TERMINAL and not world.closing:
        refresh(world, shop, op)
        await asyncio.sleep(TICK)


def _render(records: Records, plan: Plan, roots: int, stop: Any) -> tuple[int, IO[bytes] | None]:
    """The file size and, for small results, the file itself; above EXACT_SIZE_ROOTS the size is
    extrapolated from a sample and the file is generated as it downloads."""
    limit = None if roots <= EXACT_SIZE_ROOTS else SAMPLE_ROOTS
    file = tempfile.TemporaryFile() if limit is None else None  # noqa: SIM115 - kept open
    size = 0
    for chunk in stream_jsonl(records, plan, limit):
        size += len(chunk)
        if file is not None:
            file.write(chunk)
        if stop():
            if file is not None:  # never served: a stopped operation does not complete
                file.close()
            return size, None
    if file is not None:
        file.flush()
    return (size, file) if limit is None else (int(size * roots / SAMPLE_ROOTS), None)


def cancel(world: World, shop: Shop, global_id: str) -> dict[str, Any]:
    parsed = parse_gid(global_id)
    op = shop.bulk_ops.get(parsed[1]) if parsed and parsed[0] == "BulkOperation" else None
    if op is None:
        return {"bulkOperation": None,
                "userErrors": [{"field": ["id"], "message": "Bulk operation does not exist"}]}
    refresh(world, shop, op)
    if op.status in TERMINAL or op.status == "CANCELING":
        return {"bulkOperation": op.view(), "userErrors": [{
            "field": None,
            "message": f"A bulk operation cannot be canceled when it is {op.status.lower()}"}]}
    op.status = "CANCELING"
    op.canceling_at = world.clock.now()
    return {"bulkOperation": op.view(), "userErrors": []}


def find(world: World, shop: Shop, global_id: str) -> BulkOperation | None:
    parsed = parse_gid(global_id)
    op = shop.bulk_ops.get(parsed[1]) if parsed and parsed[0] == "BulkOperation" else None
    if op is not None:
        refresh(world, shop, op)
    return op


def listing(world: World, shop: Shop, query: str | None) -> list[BulkOperation]:
    """The shop's operations, oldest first, filtered by `status:` / `operation_type:` terms."""
    ops = sorted(shop.bulk_ops.values(), key=lambda o: o.number)
    for op in ops:
        refresh(world, shop, op)
    for term in (query or "").replace(" AND ", " ").split():
        name, _, value = term.partition(":")
        value = value.strip("'\"").lower()
        if name == "status":
            ops = [o for o in ops if o.status.lower() == value]
        elif name == "operation_type":
            ops = [o for o in ops if value == "query"]
    return ops


async def download(request: Request) -> Response:
    """GET /_sim/bulk/{n}-{secret}[-partial].jsonl: the result file, generated as it streams."""
    world: World = request.app.state.world
    name: str = request.path_params["name"]
    partial = name.endswith("-partial.jsonl")
    stem = name[: -len("-partial.jsonl")] if partial else name.removesuffix(".jsonl")
    number, _, secret = stem.partition("-")
    op = world.bulk_index.get(int(number)) if number.isdigit() else None
    if op is None or not hmac.compare_digest(op.secret, secret):
        return error(404, "no such bulk operation result")
    shop = world.shops.get(op.shop)
    if shop is None:
        return error(404, "no such bulk operation result")
    refused = await faults(world, shop)
    if refused is not None:
        return refused
    refresh(world, shop, op)
    assert op.plan is not None and op.snapshot is not None
    if partial:
        if op.status != "FAILED" or op.partial is None:
            return error(404, "no partial data for this operation")
        limit: int | None = op.partial.roots
    else:
        if op.status != "COMPLETED" or not op.counts.objects:
            return error(404, "this operation has no result file")
        limit = None
    pause = shop.settings.download_delay_ms / 1000
    if not partial and op.result is not None:
        chunks: Iterator[bytes] = _read(op.result.fileno(), op.file_size or 0)
    else:
        chunks = stream_jsonl(op.snapshot, op.plan, limit)
    return StreamingResponse(_paced(chunks, pause) if pause else _inline(chunks),
                             media_type="application/jsonl")


def _read(fd: int, size: int) -> Iterator[bytes]:
    """The written result file in CHUNK pieces (positional reads: downloads may overlap)."""
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(CHUNK, size - offset), offset)
        if not chunk:
            return
        offset += len(chunk)
        yield chunk


async def _inline(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """`chunks` produced on the event loop, one ~64 KiB chunk (a millisecond or two) per step.

    Starlette would run a plain iterator's steps in its thread pool: the generating thread and
    the loop writing to the socket then pass the GIL back and forth, each waiting out the
    switch interval, and the file was served at a fifth of the speed it is generated. The
    send between chunks still waits for the socket to drain, so a slow reader is not buffered
    for, and other requests get the loop between chunks.
    """
    for chunk in chunks:
        yield chunk


async def _paced(chunks: Iterator[bytes], pause: float) -> AsyncIterator[bytes]:
    """`chunks` with a pause after each one (`download_delay_ms`)."""
    async for chunk in iterate_in_threadpool(chunks):
        yield chunk
        await asyncio.sleep(pause)
