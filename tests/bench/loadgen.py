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
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass, field


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
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while pending:
                index, data = pending.pop()
                started = time.perf_counter()
                writer.write(data)
                status = await _answer(reader)
                result.latencies.append(time.perf_counter() - started)
                result.answered_at.append((index, time.time()))
                result.statuses[status] = result.statuses.get(status, 0) + 1
        finally:
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
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def one(index: int, data: bytes, due: float) -> None:
        pair = idle.pop() if idle else await asyncio.open_connection(host, port)
        reader, writer = pair
        writer.write(data)
        status = await _answer(reader)
        now = time.time()
        result.latencies.append(now - due)
        result.answered_at.append((index, now))
        result.statuses[status] = result.statuses.get(status, 0) + 1
        idle.append(pair)

    tasks = []
    for k, (index, data) in enumerate(requests):
        due = start_at + k / rate
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, data, due)))
    await asyncio.gather(*tasks)
    result.seconds = time.time() - start_at
    for _reader, writer in idle:
        writer.close()
    return result


def _run(job: tuple, queue: multiprocessing.Queue) -> None:
    mode, host, port, requests, value, start_at = job
    if mode == "saturate":
        result = asyncio.run(_closed_loop(host, port, requests, value))
    else:
        result = asyncio.run(_open_loop(host, port, requests, value, start_at))
    queue.put(result)


def _spread(mode: str, host: str, port: int, requests: list[bytes], processes: int,
            value: float) -> Result:
    """Deal the requests out to `processes` processes (round robin) and merge their results."""
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
    for _ in jobs:
        merged.merge(queue.get(timeout=600))
    for job in jobs:
        job.join(10)
    return merged


def saturate(host: str, port: int, requests: list[bytes], *, processes: int = 2,
             connections: int = 16) -> Result:
    """As fast as the server answers: `connections` keep-alive connections per process."""
    return _spread("saturate", host, port, requests, processes, connections)


def fixed_rate(host: str, port: int, requests: list[bytes], rate: float, *,
               processes: int = 1) -> Result:
    """`rate` requests per second in all, open loop."""
    return _spread("rate", host, port, requests, processes, rate)
