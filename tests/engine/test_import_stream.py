"""The import's download → parse → write path (engine.sync.importer.stream_into), over real HTTP.

- `Importer.feed_many` (a downloaded chunk at a time) leaves what the per-line feed it replaced
  left: the same rows, counters and malformed counts, however the lines fall into chunks,
  including a line that does not parse in the middle of a chunk.
- Batches are written with multi-row statements of a few fixed sizes (VALUES_ROWS), largest
  first; the tables are the ones executemany of the one-row upsert leaves, at every remainder.
- `stream_into` runs in one worker thread against a plain static file server: every line lands,
  `after_batch` runs on the event loop after each batch, what it raises ends the import (at
  the next batch), a cancelled import stops its thread at the next chunk and waits for it, and the
  import's thread is its own (checks that await the default executor cannot starve).
- `bulk.stream_chunks` yields the file's non-blank lines whatever the chunk size; it refuses a
  4xx, retries a 5xx or a connection failure before the first line, and a download that breaks
  off after lines were handed out raises TransientError (a retry would repeat them).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.domain import coerce
from engine.domain.coerce import gid_number, scalar_row
from engine.persistence.models import database
from engine.persistence.runtime import Runtime
from engine.shopify import bulk
from engine.shopify.errors import PermanentError, TransientError
from engine.sync import importer as importer_module
from engine.sync.importer import Importer, stream_into
from tests.engine.livedata_support import free_port, store_row
from tests.engine.test_import_rows import JSON, LINES, TYPED_LINES, _item, _order
from tests.support import wait_until

TYPES = st.sampled_from(("Order", "LineItem", "Product", "ProductVariant", "Customer")) | st.none()
PARENTS = st.none() | st.sampled_from(("gid://shopify/Order/7", "gid://shopify/Order/8",
                                       "gid://shopify/Order/x")) | JSON


@st.composite
def export_lines(draw: st.DrawFn) -> list[bytes]:
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=14))):
        obj: dict[str, Any] = draw(LINES | TYPED_LINES)  # any JSON, or the export's types
        typename, parent = draw(TYPES), draw(PARENTS)
        if typename is not None:
            obj["__typename"] = typename
        if parent is not None:
            obj["__parentId"] = parent
        out.append(json.dumps(obj).encode())  # orjson.dumps refuses integers past 64 bits
    return out


def _cuts(lines: list[bytes], sizes: list[int]) -> Iterator[list[bytes]]:
    start = 0
    for size in sizes:
        yield lines[start:start + size]
        start += size
    yield lines[start:]


def _reference_feed(sink: Importer, line: bytes) -> bool:
    """`Importer.feed` as it was before feed_many (017ce10), line by line: the reference."""
    obj = orjson.loads(line)
    sink.lines += 1
    parent = obj.get("__parentId")
    typename = obj.get("__typename")
    if typename is None:
        gid = obj.get("id")
        typename = gid.split("/")[3] if isinstance(gid, str) and gid.count("/") >= 4 else None
    target = sink._map.get((typename, parent is not None))
    if target is None:
        sink.skipped += 1
        return False
    table, mapper = target
    parent_id = None
    if parent is not None:
        if parent != sink._parent_gid:
            sink._parent_gid, sink._parent_id = parent, gid_number(parent)
        parent_id = sink._parent_id
    mapped = mapper(obj, parent_id)  # the row mappers (the typed path must give the same)
    if mapped[0] is None:
        sink.skipped += 1
        return False
    row = scalar_row(sink._prefix + mapped + sink._suffix[table])
    if parent is None:
        sink.roots += 1
        updated = obj.get("updatedAt")
        if isinstance(updated, str) and (
            sink.max_updated_at is None or updated > sink.max_updated_at
        ):
            sink.max_updated_at = updated
    buffer = sink._buffers[table]
    buffer.append(row)
    if len(buffer) >= importer_module.BATCH:
        sink._full = True
    return sink._full


def _state(sink: Importer) -> tuple[Any, ...]:
    return (sink.lines, sink.roots, sink.skipped, sink.max_updated_at, sink.pending())


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(export_lines(), st.lists(st.integers(min_value=0, max_value=6), max_size=5),
       st.booleans(), st.sampled_from(("orders", "products", "customers")))
def test_feed_many_leaves_what_feeding_line_by_line_leaves(
    offline_runtime: Runtime, lines: list[bytes], sizes: list[int], broken: bool, entity: str
) -> None:
    if broken and lines:  # a line that does not parse, inside a chunk
        lines = [*lines[: len(lines) // 2], b'{"id": ', *lines[len(lines) // 2:]]
    one, many = Importer(1, entity, 3), Importer(1, entity, 3)
    one_error = many_error = None
    coerce.take_malformed()
    taken_one = []
    for line in lines:
        try:
            if _reference_feed(one, line):
                taken_one.append(one.take())
        except orjson.JSONDecodeError as error:
            one_error = type(error)
            break
    taken_one.append(one.take())
    malformed_one = coerce.take_malformed()
    taken_many = []
    for chunk in _cuts(lines, sizes):
        try:
            if many.feed_many(chunk):
                taken_many.append(many.take())
        except orjson.JSONDecodeError as error:
            many_error = type(error)
            break
    taken_many.append(many.take())
    assert coerce.take_malformed() == malformed_one
    assert many_error == one_error
    assert _state(many) == _state(one)

    def flat(taken: list[dict[str, list[Any]]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for batch in taken:
            for name, rows in batch.items():
                out.setdefault(name, []).extend(rows)
        return out

    assert flat(taken_many) == flat(taken_one)


def _tables(store_id: int) -> list[list[tuple[Any, ...]]]:
    out = []
    for table in ("order", "order_line_item"):
        cursor = database.execute_sql(
            f'SELECT * FROM "{table}" WHERE "store_id" = ? ORDER BY "shopify_id"', (store_id,))
        out.append([tuple(r[2:]) for r in cursor.fetchall()])
    return out


@pytest.mark.parametrize("orders", [1, 4, 5, 24, 25, 99, 100, 137, 250])
def test_every_statement_size_leaves_what_executemany_leaves(
    offline_runtime: Runtime, orders: int
) -> None:
    lines = [_order(n, "2026-01-02T00:00:00Z", f"#{n}") for n in range(1, orders + 1)]
    lines += [_item(n, n % orders + 1, n) for n in range(1, 2 * orders + 1)]
    lines.append(_order(1, "2026-01-05T00:00:00Z", "#1 again"))  # a key twice in one batch
    results = []
    for multi in (True, False):
        store = store_row(f"sizes-{orders}-{multi}.myshopify.com")
        sink = Importer(store.id, "orders", 1)
        sink._multi = multi
        sink.feed_many(lines)
        sink.flush()
        results.append((_tables(store.id), sink.rows))
    assert results[0] == results[1]
    assert results[0][1] == len(lines)


# -- over HTTP ---------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 500 rows: the exports here are a few thousand lines, and each import should
    write several batches (the checks between them are what these tests are about)."""
    monkeypatch.setattr(importer_module, "BATCH", 500)


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain static file server (python -m http.server) in its own process: its base URL and
    the folder it serves."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up() -> bool:
            try:
                return bulk.httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200
            except bulk.httpx.HTTPError:
                return False

        wait_until(up, timeout=20)
        yield f"http://127.0.0.1:{port}", tmp_path
    finally:
        server.terminate()
        server.wait(10)


def _export(orders: int) -> list[bytes]:
    lines = []
    for n in range(1, orders + 1):
        lines.append(_order(n, f"2026-01-{n % 28 + 1:02d}T00:00:00Z", f"#{n}"))
        lines += [_item(n * 10 + k, n, k + 1) for k in range(2)]
    return lines


def _served_export(folder: Path, orders: int) -> list[bytes]:
    """`_export(orders)`, written where the static server serves it as /export.jsonl."""
    lines = _export(orders)
    (folder / "export.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return lines


def test_stream_into_imports_every_line_and_checks_between_batches(
    offline_runtime: Runtime, static_server: tuple[str, Path]
) -> None:
    base, folder = static_server
    lines = _served_export(folder, 1200)
    store = store_row("stream-into.myshopify.com")
    sink = Importer(store.id, "orders", 1)
    threads: list[int] = []

    async def main() -> int:
        loop_thread = threading.get_ident()

        async def after_batch() -> None:
            threads.append(threading.get_ident())
            assert sink.rows > 0  # after the batch was written

        await stream_into(f"{base}/export.jsonl", sink, after_batch)
        return loop_thread

    loop_thread = asyncio.run(main())
    sink.flush()
    assert sink.lines == sink.rows == len(lines) and sink.roots == 1200
    assert 2 <= len(threads) <= len(lines) // importer_module.BATCH  # one per batch written
    assert set(threads) == {loop_thread}
    assert sink.max_updated_at == "2026-01-28T00:00:00Z"

    reference = store_row("stream-reference.myshopify.com")
    plain = Importer(reference.id, "orders", 1)
    for line in lines:
        if plain.feed(line):
            plain.flush()
    plain.flush()
    assert _tables(store.id) == _tables(reference.id)


def test_an_import_holds_no_thread_its_checks_need(
    offline_runtime: Runtime, static_server: tuple[str, Path]
) -> None:
    """The job's between-batch checks await asyncio.to_thread (as do the runner's heartbeats):
    an import waiting for them in a default-executor thread could hold the last such thread.
    Here the default executor has one thread, and the import still ends."""
    base, folder = static_server
    lines = _served_export(folder, 1500)
    sink = Importer(store_row("executor.myshopify.com").id, "orders", 1)
    checks: list[int] = []

    async def main() -> None:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=1))

        async def after_batch() -> None:
            checks.append(await asyncio.to_thread(lambda: sink.rows))

        await stream_into(f"{base}/export.jsonl", sink, after_batch)

    asyncio.run(main())
    sink.flush()
    assert len(checks) >= 2 and sink.rows == len(lines)


class _Stop(Exception):
    pass


def _import_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("shopsync-import")]


def test_what_after_batch_raises_ends_the_import(
    offline_runtime: Runtime, static_server: tuple[str, Path]
) -> None:
    base, folder = static_server
    lines = _served_export(folder, 1500)
    sink = Importer(store_row("stop.myshopify.com").id, "orders", 1)
    seen: list[int] = []

    async def after_batch() -> None:
        seen.append(sink.rows)
        if len(seen) == 2:
            raise _Stop

    with pytest.raises(_Stop):
        asyncio.run(stream_into(f"{base}/export.jsonl", sink, after_batch))
    # the checks run beside the next batch: the import ends at the batch after the raise
    assert len(seen) == 2 and seen[1] <= sink.rows < len(lines)
    wait_until(lambda: not _import_threads(), timeout=10)  # its thread ends too


def test_a_cancelled_import_stops_its_thread(
    offline_runtime: Runtime, static_server: tuple[str, Path]
) -> None:
    base, folder = static_server
    lines = _served_export(folder, 1500)
    sink = Importer(store_row("cancel.myshopify.com").id, "orders", 1)
    seen: list[int] = []

    async def main() -> None:
        task: asyncio.Task[None] | None = None

        async def after_batch() -> None:
            seen.append(sink.rows)
            if task is not None and len(seen) == 1:
                task.cancel()
                for _ in range(5):  # let the task see it before the thread goes on
                    await asyncio.sleep(0)

        task = asyncio.create_task(stream_into(f"{base}/export.jsonl", sink, after_batch))
        with pytest.raises(asyncio.CancelledError):
            await task
        seen.append(sink.rows)  # the thread has ended: this is the last write's count

    asyncio.run(main())
    assert 0 < seen[0] <= seen[-1] < len(lines)  # stopped early
    wait_until(lambda: not _import_threads(), timeout=10)  # its thread ends too


def test_chunks_are_the_files_nonblank_lines(static_server: tuple[str, Path]) -> None:
    base, folder = static_server
    body = b"\n".join(_export(700)) + b"\n\n  \n" + _order(9999, "x", "last")  # no final newline
    (folder / "export.jsonl").write_bytes(body)
    url = f"{base}/export.jsonl"
    expected = [line for line in body.split(b"\n") if line.strip()]
    for size in (97, 4096, 1 << 16):  # lines split across chunks at every kind of place
        chunks = list(bulk.stream_chunks(url, chunk_size=size))
        assert all(chunks)  # no empty lists handed out
        assert [line for chunk in chunks for line in chunk] == expected


def test_chunks_refuse_and_retry(static_server: tuple[str, Path]) -> None:
    base, _folder = static_server
    with pytest.raises(PermanentError, match="refused \\(404"):
        list(bulk.stream_chunks(f"{base}/missing.jsonl"))
    closed = f"http://127.0.0.1:{free_port()}/export.jsonl"
    with pytest.raises(TransientError, match="failed 2 times; last: ConnectError"):
        list(bulk.stream_chunks(closed, attempts=2))


def _raw_server(answers: list[bytes]) -> tuple[str, threading.Thread]:
    """A TCP server that answers its n-th connection with `answers[n]`, raw bytes, then closes
    it: a server that fails part-way, as no well-behaved static server will."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        with listener:
            for answer in answers:
                connection, _ = listener.accept()
                with connection:
                    connection.recv(65536)  # the request
                    connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{port}/export.jsonl", thread


def test_chunks_retry_a_5xx_and_a_break_after_lines_raises() -> None:
    lines = _export(50)
    body = b"\n".join(lines) + b"\n"
    unavailable = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                   b"Connection: close\r\n\r\n")
    # The server promises more than it sends, then closes: the download breaks off mid-file.
    cut = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body) + 1000}\r\n\r\n".encode() + body
    url, server = _raw_server([unavailable, cut])
    got: list[bytes] = []
    with pytest.raises(TransientError, match="broke off after") as broke:
        for chunk in bulk.stream_chunks(url, attempts=3, chunk_size=4096):
            got += chunk
    assert f"broke off after {len(got)} lines (RemoteProtocolError)" in str(broke.value)
    assert 0 < len(got) < len(lines) and got == lines[:len(got)]  # each once: no retry
    server.join(10)
    # A 5xx every time: retried `attempts` times, then TransientError naming the last answer.
    url, server = _raw_server([unavailable, unavailable])
    with pytest.raises(TransientError, match="failed 2 times; last: 503 Service Unavailable"):
        list(bulk.stream_chunks(url, attempts=2))
    server.join(10)
