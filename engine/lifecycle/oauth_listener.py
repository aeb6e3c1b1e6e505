"""A short-lived OAuth callback receiver for when no `serve` process is listening.

The CLI's and the TUI's OAuth connects need someone at SHOPSYNC_PUBLIC_URL/oauth/callback.
`serve` answers there when it runs; otherwise `ensure_listener(runtime)` starts this tiny
stdlib server on SHOPSYNC_LISTEN in a daemon thread. It answers only GET /oauth/callback.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

from engine.domain.errors import ActionError
from engine.persistence.runtime import Runtime

log = logging.getLogger("shopsync.oauth")

_server: ThreadingHTTPServer | None = None
_lock = threading.Lock()


def _handler_class(complete: Callable[[Mapping[str, str]], object]) -> type:
    class CallbackHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path != "/oauth/callback":
                self._answer(404, "Not found")
                return
            params = dict(parse_qsl(url.query))
            try:
                summary = complete(params)
            except ActionError as error:
                self._answer(400, f"shopsync could not connect the store: {error}")
                return
            except Exception:  # never a traceback over the operator's dashboard
                log.exception("OAuth callback failed")
                self._answer(500, "shopsync could not complete the connection; see its log")
                return
            domain = getattr(summary, "domain", params.get("shop", "the store"))
            self._answer(200, f"Connected {domain}. You can close this window.")

        def _answer(self, status: int, text: str) -> None:
            body = f"<!doctype html><title>shopsync</title><p>{html.escape(text)}</p>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # The query string carries the code and hmac: never log it.
            log.debug("oauth callback %s", self.command)

    return CallbackHandler


def ensure_listener(runtime: Runtime, complete: Callable[[Mapping[str, str]], object]) -> bool:
    """Start the listener unless something already listens there; True if we started it.

    `complete` settles a verified callback (engine.actions.complete_oauth, passed in from above).
    """
    global _server
    with _lock:
        if _server is not None:
            return False
        host, port = runtime.settings.listen_host_port
        try:
            server = ThreadingHTTPServer((host, port), _handler_class(complete))
        except OSError:  # `serve` (or an earlier listener) already has the port
            return False
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="shopsync-oauth", daemon=True).start()
        _server = server
        return True


def stop_listener() -> None:
    global _server
    with _lock:
        if _server is not None:
            _server.shutdown()
            _server.server_close()
            _server = None
