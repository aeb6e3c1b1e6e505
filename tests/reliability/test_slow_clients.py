"""`serve` under slow or many clients: read deadlines, a connection cap, a log that stays small.

One client trickling a request a byte at a time used to hold its connection forever; enough of
them exhausted the file descriptors, /healthz stopped answering and the log filled with one
traceback per event. The real `serve` runs as a subprocess here.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.support import HTTP


@contextmanager
def slow_clients(url: str, count: int, stop: threading.Event) -> Iterator[list[socket.socket]]:
    """`count` connections that each send a request's first bytes, then one byte a second."""
    host, port = url.removeprefix("http://").split(":")
    sockets: list[socket.socket] = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.sendall(b"POST /webhooks HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sockets.append(sock)

    def trickle() -> None:
        while not stop.wait(1.0):
            for sock in sockets:
                try:
                    sock.send(b"a")
                except OSError:
                    pass

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        yield sockets
    finally:
        stop.set()
        thread.join(5)
        for sock in sockets:
            sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1024) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def healthz_seconds(url: str) -> float:
    started = time.monotonic()
    response = HTTP.get(url + "/healthz", timeout=5)
    assert response.status_code == 200, response.text
    return time.monotonic() - started


@pytest.mark.timeout(180)
def test_200_slow_clients_are_cut_off_and_healthz_keeps_answering(launch: Any) -> None:
    server = launch(SHOPSYNC_HTTP_READ_TIMEOUT="3")
    log_before = len(server.log())
    stop = threading.Event()
    with slow_clients(server.url, 200, stop) as sockets:
        time.sleep(1.5)
        assert healthz_seconds(server.url) < 1.0
        deadline = time.monotonic() + 10
        while sum(closed_by_server(s) for s in sockets) < len(sockets):
            assert time.monotonic() < deadline, "slow connections still open past the deadline"
            time.sleep(0.2)
        assert healthz_seconds(server.url) < 1.0
    grown = server.log()[log_before:]
    assert len(grown) < 2000, grown
    assert re.search(r"\d+ connections? closed: request not received within 3 s", grown)
    assert "Traceback" not in grown
    assert server.terminate()[0] == 0


@pytest.mark.timeout(180)
def test_connections_past_the_cap_are_closed_at_once(launch: Any) -> None:
    server = launch(SHOPSYNC_HTTP_READ_TIMEOUT="60", SHOPSYNC_MAX_CONNECTIONS="50")
    stop = threading.Event()
    with slow_clients(server.url, 80, stop) as sockets:
        time.sleep(0.5)
        still_open = [s for s in sockets if not closed_by_server(s)]
        # The cap counts every open connection (a health probe's may still be closing).
        assert 45 <= len(still_open) <= 50
        with pytest.raises(httpx.TransportError):  # no room for one more
            HTTP.get(server.url + "/healthz", timeout=5)
    # Room again as soon as the hogs are gone: no restart, no waiting out their deadline.
    deadline = time.monotonic() + 10
    while True:
        try:
            assert healthz_seconds(server.url) < 1.0
            break
        except (httpx.HTTPError, AssertionError):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert "more than 50 open connections" in server.log()
    assert server.terminate()[0] == 0
