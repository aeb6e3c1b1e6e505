"""Running the simulator: in a background thread (tests, the demo) or in the foreground (CLI).

`SimulatorThread` binds its socket before the thread starts, so `.url` is known at once and
startup is just uvicorn's (well under 0.5 s); `stop()` shuts uvicorn down and joins the thread.
`run()` prints the one `SHOPSYNC_SHOPIFY_URL=… SHOPSYNC_API_KEY=… SHOPSYNC_API_SECRET=…` line
and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from engine.simulator import DEMO_API_KEY, DEMO_API_SECRET
from engine.simulator.app import create_app

START_TIMEOUT = 10.0


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP,
    # and without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                          timeout_graceful_shutdown=2, ws="none")


class AppThread:
    """Any ASGI app served by uvicorn in a daemon thread on a (random) local port."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> AppThread:
        if self._thread is not None:
            return self
        self._socket = _bind(self.host, self._requested_port)
        self.port = self._socket.getsockname()[1]
        self._server = uvicorn.Server(_config(self.app))
        sockets = [self._socket]
        server = self._server
        self._thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=sockets)),
                                        name=f"simulator:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the simulator did not start")
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
        self._thread = self._server = self._socket = None

    def __enter__(self) -> AppThread:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class SimulatorThread(AppThread):
    """The simulator in a background thread: `.url`, `.shopify_url` (".../{shop}"), `.app`."""

    def __init__(self, seed: int = 0, demo: bool = False, api_key: str = DEMO_API_KEY,
                 api_secret: str = DEMO_API_SECRET, host: str = "127.0.0.1", port: int = 0,
                 time_scale: float = 1.0) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        super().__init__(create_app(seed=seed, demo=demo, api_key=api_key,
                                    api_secret=api_secret, time_scale=time_scale), host, port)

    @property
    def shopify_url(self) -> str:
        return self.url + "/{shop}"

    def __enter__(self) -> SimulatorThread:
        self.start()
        return self


def run(host: str = "127.0.0.1", port: int = 8788, seed: int = 0, demo: bool = False,
        api_key: str = DEMO_API_KEY, api_secret: str = DEMO_API_SECRET) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; first prints the environment line."""
    sock = _bind(host, port)
    actual = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    origin = f"http://{shown}:{actual}"
    app = create_app(seed=seed, demo=demo, api_key=api_key, api_secret=api_secret,
                     public_url=None)
    print(f"SHOPSYNC_SHOPIFY_URL={origin}/{{shop}} SHOPSYNC_API_KEY={api_key} "
          f"SHOPSYNC_API_SECRET={api_secret}", flush=True)
    server = uvicorn.Server(_config(app))
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal with the
    # previous handler in place: make that handler end the process with status 0.
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.run(sockets=[sock])
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        with contextlib.suppress(OSError):
            sock.close()
    sys.stdout.flush()


class _Stopped(Exception):
    pass


def _stop(_signum: int, _frame: object) -> None:
    raise _Stopped
