"""A lean HTTP/1.1 load generator for the webhook benchmark: raw sockets, several processes.

The requests are built (and signed) before the clock starts; each process keeps its own
keep-alive connections and parses only the status line and Content-Length of the answers, so
the generator costs a few microseconds per request and is not what the benchmark measures
(tests/bench/test_webhook_ingest.py proves it by driving a bare endpoint past 5x the old
floor).

    saturate(host, port, requests, processes, connections)  -> Result   closed loop, flat out
    fixed_rate(host, port, requests, rate, processes)       -> Result   open loop at `rate`/s

Latency is from the moment a request was due (fixed rate) or written (saturation) to its
whole answer; `answered_at` holds each answer's wall-clock time (time.time()), so a caller can
tell how long after its 2xx a delivery was applied.

Every run is bounded: an answer that does not come within ANSWER_TIMEOUT, or a connection the
server closes or refuses, counts as status 0 (an error, never a hang), and the caller waits at
most `timeout` seconds for the processes' results before killing them and failing.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass, field
from queue import Empty

ANSWER_TIMEOUT = 30.0  # seconds one request may wait for its answer before it counts as failed
FAILED = 0  # the status recorded for a request that got no answer (timeout, reset, refused)
# An idle connection is not reused after this long: serve closes idle keep-alive connections
# after 5 s (engine.serve.guard.KEEP_ALIVE), and a request written into one it is closing
# would count as failed through no fault of the server (HTTP clients expire them the same way).
IDLE_EXPIRY = 4.0


@dataclass
class Result:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, one per answer
    answered_at: list[tuple[int, float]] = field(default_factory=list)  # (request index, wall)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0.0

    def merge(self, other: Result) -> None:
        self.seconds = max(self.seconds, other.seconds)
        self.latencies += other.latencies
        self.answered_at += other.answered_at
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n


def raw_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()
              if name.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _answer(reader: asyncio.StreamReader) -> int:
    async with asyncio.timeout(ANSWER_TIMEOUT):
        return await _read_answer(reader)


async def _read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length:
        await reader.readexactly(length)
    return status


async def _closed_loop(host: str, port: int, requests: list[tuple[int, bytes]],
                       connections: int) -> Result:
    result = Result()
    pending = list(reversed(requests))

    async def connection() -> None:
        writer: asyncio.StreamWriter | None = None
        while pending:
            index, data = pending.pop()
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(data)
                status = await _answer(reader)
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                status = FAILED  # counted, and the next request gets a new connection
                if writer is not None:
                    writer.close()
                writer = None
            result.latencies.append(time.perf_counter() - started)
            result.answered_at.append((index, time.time()))
            result.statuses[status] = result.statuses.get(status, 0) + 1
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    result.seconds = time.perf_counter() - started
    return result


async def _open_loop(host: str, port: int, requests: list[tuple[int, bytes]], rate: float,
                     start_at: float) -> Result:
    """Send request k at start_at + k/rate whatever the server does (a free connection, or a
    new one): the offered load stays fixed, so a slow server shows as latency."""
    result = Result()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while idle:
            reader, writer, since = idle.pop()
            if time.monotonic() - since < IDLE_EXPIRY and not reader.at_eof():
                return reader, writer
            writer.close()
        return await asyncio.open_connection(host, port)

    async def one(index: int, data: bytes, due: float) -> None:
        pair = None
        try:
            pair = await connect()
            reader, writer = pair
            writer.write(data)
            status = await _answer(reader)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            status = FAILED
            if pair is not None:
                pair[1].close()
            pair = None
        now = time.time()
        result.latencies.append(now - due)
        result.answered_at.append((index, now))
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if pair is not None:
            idle.append((*pair, time.monotonic()))

    tasks = []
    for k, (index, data) in enumerate(requests):
        due = start_at + k / rate
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, data, due)))
    await asyncio.gather(*tasks)
    result.seconds = time.time() - start_at
    for _reader, writer, _since in idle:
        writer.close()
    return result


def _run(job: tuple, queue: multiprocessing.Queue) -> None:
    mode, host, port, requests, value, start_at = job
    try:
        if mode == "saturate":
            result: Result | str = asyncio.run(_closed_loop(host, port, requests, value))
        else:
            result = asyncio.run(_open_loop(host, port, requests, value, start_at))
    except BaseException as error:  # the parent must hear of it, not wait for a result
        result = f"load generator process failed: {type(error).__name__}: {error}"
    queue.put(result)


def _spread(mode: str, host: str, port: int, requests: list[bytes], processes: int,
            value: float, timeout: float) -> Result:
    """Deal the requests out to `processes` processes (round robin) and merge their results;
    raises TimeoutError when they are not all in within `timeout` seconds (and kills them)."""
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue = context.Queue()
    start_at = time.time() + 0.5  # every process starts its clock together
    jobs = []
    for p in range(processes):
        share = [(i, data) for i, data in enumerate(requests) if i % processes == p]
        per_process = value / processes if mode == "rate" else value
        jobs.append(context.Process(
            target=_run, args=((mode, host, port, share, per_process, start_at), queue)))
    for job in jobs:
        job.start()
    merged = Result()
    deadline = time.monotonic() + timeout
    try:
        for _ in jobs:
            try:
                got = queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except Empty:
                raise TimeoutError(f"the load generator took more than {timeout:.0f} s") from None
            if isinstance(got, str):
                raise RuntimeError(got)
            merged.merge(got)
    finally:
        for job in jobs:
            job.join(max(0.1, min(10.0, deadline - time.monotonic())))
            if job.is_alive():
                job.kill()
                job.join(5)
    return merged


def saturate(host: str, port: int, requests: list[bytes], *, processes: int = 2,
             connections: int = 16, timeout: float = 120.0) -> Result:
    """As fast as the server answers: `connections` keep-alive connections per process."""
    return _spread("saturate", host, port, requests, processes, connections, timeout)


def fixed_rate(host: str, port: int, requests: list[bytes], rate: float, *,
               processes: int = 1, timeout: float | None = None) -> Result:
    """`rate` requests per second in all, open loop; by default the run may take its nominal
    length plus ANSWER_TIMEOUT and 10 s."""
    if timeout is None:
        timeout = len(requests) / rate + ANSWER_TIMEOUT + 10.0
    return _spread("rate", host, port, requests, processes, rate, timeout)
