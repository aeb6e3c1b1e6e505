"""The HTTP face of `shopsync serve`, and `serve` itself: one process with every live part.

`create_app(runtime, …)` is the Starlette app:
- `POST /webhooks` (and `/webhooks/…`, e.g. the compliance URI): size cap (413), HMAC over the
  raw body before parsing (401), JSON object (400), a topic shopsync subscribes to (400),
  headers that agree with the signed body (401, engine.webhooks.claims), durable receipt, 200 —
  see engine.webhooks.receipts;
- `GET /oauth/callback`: completes an OAuth connect through engine.actions.complete_oauth;
- `GET /healthz`: 200 when this process's runner heartbeat is fresh and the database passes an
  integrity probe (engine.persistence.database.probe_database, cached PROBE_TTL seconds so it
  stays cheap under load), else 503 with a one-line `reason`;
- `GET /metrics`: Prometheus text (engine.serve.metrics); 503 with a one-line reason when the
  database cannot be read.

`serve(runtime, …)` runs that app under uvicorn with the job Runner (kind "serve"), the
Scheduler and the webhook worker. SIGTERM/SIGINT/SIGHUP stop it cleanly within SHUTDOWN_BUDGET:
no new requests or jobs, running handlers interrupted at their next safe point (their jobs go
back to the queue for the next runner), webhook receipts flushed; a second signal exits at once.
`main()` is the entry point for a subprocess: runtime from the environment, logs to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Generator
from datetime import timedelta
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from engine import actions
from engine.domain.jobs import JobState
from engine.domain.text import safe
from engine.jobs.runner import Runner
from engine.lifecycle.subscriptions import ALL_TOPICS, slash_topic
from engine.persistence.database import probe_database
from engine.persistence.models import Job, RunnerHeartbeat, utcnow
from engine.persistence.runtime import Runtime, open_runtime
from engine.registry import make_runner
from engine.serve.guard import KEEP_ALIVE, guarded_protocol, quiet_repeats
from engine.serve.metrics import CONTENT_TYPE, ProcessCounters, render
from engine.sync.scheduler import Scheduler
from engine.webhooks.claims import UNKNOWN_TOPIC, claims_mismatch
from engine.webhooks.confirm import install_probe
from engine.webhooks.ingest import WebhookIngest
from engine.webhooks.receipts import (
    Delivery,
    IngestUnavailable,
    WebhookHeaders,
    read_headers,
    signature_valid,
    webhook_secrets,
)

log = logging.getLogger("shopsync.serve")
KNOWN_TOPICS = frozenset(slash_topic(t) for t in ALL_TOPICS)

SHUTDOWN_BUDGET = 9.0  # seconds from the signal to the process exiting (the contract is 10)
HEARTBEAT_FRESH = 20.0  # a runner heartbeat older than this makes /healthz answer 503
PROBE_TTL = 10.0  # seconds a database integrity probe's answer is reused by /healthz


# -- the app ------------------------------------------------------------------------------------

class DatabaseProbe:
    """probe_database, run at most once per PROBE_TTL whatever the request rate."""

    def __init__(self, ttl: float = PROBE_TTL) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._at = -float("inf")
        self._problem: str | None = None

    def check(self) -> str | None:
        with self._lock:  # concurrent requests wait for the one probe under way
            if time.monotonic() - self._at >= self.ttl:
                self._problem = probe_database()
                self._at = time.monotonic()
                if self._problem:
                    log.warning("healthz: %s", self._problem)
            return self._problem


class LiveState:
    """What the request handlers share (on `app.state.live`)."""

    def __init__(self, runtime: Runtime, ingest: WebhookIngest, runner: Runner | None,
                 counters: ProcessCounters) -> None:
        self.runtime = runtime
        self.ingest = ingest
        self.runner = runner
        self.counters = counters
        self.secrets = webhook_secrets(runtime.settings)
        self.max_body = runtime.settings.webhook_max_body
        self.probe = DatabaseProbe()


def _live(request: Request) -> LiveState:
    return request.app.state.live


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _refuse(live: LiveState, status: int, reason: str, message: str,
            topic: str | None = None) -> tuple[int, str]:
    # Topics label the counter only when they are ones shopsync subscribes to (bounded).
    live.counters.incr("shopsync_webhooks_rejected_total", reason=reason,
                       topic=topic if topic in KNOWN_TOPICS else "other")
    return status, message


def _reject(live: LiveState, headers: WebhookHeaders, status: int, reason: str,
            message: str) -> tuple[int, str]:
    """Refuse a delivery; the counter is labelled by its topic, and webhook health counts it
    against the store it claims (a counter row per store, topic and hour: nothing else)."""
    live.ingest.reject(headers.shop_domain, headers.topic, reason)
    return _refuse(live, status, reason, message, headers.topic)


class _Disconnected(Exception):
    """The client went away before its request body was in."""


async def _read_body(live: LiveState, receive: Receive) -> bytes | None:
    """The raw body from the ASGI `receive` channel; None past `max_body` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > live.max_body:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def webhook_answer(live: LiveState, raw_headers: list[tuple[bytes, bytes]],
                         receive: Receive) -> tuple[int, str]:
    """(status, text) for one POST /webhooks request, in the order of the checks: size, HMAC
    over the raw body, JSON object, topic and shop headers, claims, durable receipt."""
    headers_map = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in raw_headers}
    declared = headers_map.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > live.max_body):
        return _refuse(live, 413, "too_large", "payload too large")
    body = await _read_body(live, receive)
    if body is None:
        return _refuse(live, 413, "too_large", "payload too large")
    headers = read_headers(headers_map)
    if not signature_valid(body, headers.hmac, live.secrets):
        return _reject(live, headers, 401, "signature", "invalid signature")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _reject(live, headers, 400, "malformed", "body is not valid JSON")
    if not isinstance(payload, dict):
        return _reject(live, headers, 400, "malformed", "body is not a JSON object")
    if not headers.topic or not headers.shop_domain:
        return _refuse(live, 400, "headers", "topic and shop domain headers are required")
    mismatch = claims_mismatch(headers.topic, headers.shop_domain, payload)
    if mismatch == UNKNOWN_TOPIC:
        return _refuse(live, 400, mismatch, "topic not subscribed")
    if mismatch is not None:
        return _reject(live, headers, 401, mismatch, "headers do not match the signed body")
    try:
        status = await live.ingest.submit(Delivery.from_headers(headers, body, payload))
    except IngestUnavailable:
        return _refuse(live, 503, "unavailable", "shutting down")
    except Exception:
        log.exception("recording a %s webhook failed", headers.topic)
        return _refuse(live, 503, "unavailable", "could not record the delivery")
    return 200, status


async def _send_text(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"text/plain; charset=utf-8"),
    ]})
    await send({"type": "http.response.body", "body": body})


def is_webhook_post(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    path: str = scope["path"]
    return path == "/webhooks" or path.startswith("/webhooks/")


async def receive_webhook_asgi(live: LiveState, scope: Scope, receive: Receive,
                               send: Send) -> None:
    """POST /webhooks as bare ASGI: the hot path skips Starlette's middleware, routing and
    Request/Response objects (the checks are the same: webhook_answer)."""
    try:
        status, text = await webhook_answer(live, scope["headers"], receive)
    except _Disconnected:
        return  # nobody to answer; nothing was recorded
    except Exception:
        log.exception("webhook request failed")
        status, text = 500, "Internal Server Error"
    await _send_text(send, status, text)


async def receive_webhook(request: Request) -> Response:
    """The Starlette route (reached only by a caller that bypasses ServeApp's fast path)."""
    try:
        status, text = await webhook_answer(_live(request), request.scope["headers"],
                                            request.receive)
    except _Disconnected:
        return Response(status_code=400)
    return Response(text, status_code=status, media_type="text/plain")


class ServeApp(Starlette):
    """The Starlette app, with POST /webhooks (the one route under load) answered before
    Starlette's middleware stack and router."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_webhook_post(scope):
            await receive_webhook_asgi(self.state.live, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _page(text: str) -> str:
    return f"<!doctype html><title>shopsync</title><p>{html.escape(text)}</p>"


async def oauth_callback(request: Request) -> Response:
    from engine import actions
    from engine.domain.errors import ActionError

    params = dict(request.query_params)
    try:
        summary = await asyncio.to_thread(actions.complete_oauth, params)
    except ActionError as error:
        return HTMLResponse(_page(f"shopsync could not connect the store: {error}"), 400)
    except Exception:
        log.exception("OAuth callback failed")
        return HTMLResponse(_page("shopsync could not connect the store: internal error"), 500)
    runner = _live(request).runner
    if runner is not None:
        runner.notify()  # the connect queued its first jobs
    return HTMLResponse(_page(f"Connected {summary.domain}. You can close this window."))


def _health(live: LiveState) -> tuple[str, str, str | None]:
    """(database, runner, reason): the database probe, then the runner's heartbeat."""
    problem = live.probe.check()
    if problem is not None:
        return "error", "unknown", problem
    runner = live.runner
    try:
        fresh = utcnow() - timedelta(seconds=HEARTBEAT_FRESH)
        query = RunnerHeartbeat.select().where(RunnerHeartbeat.beat_at > fresh)
        if runner is not None:
            beat = query.where(RunnerHeartbeat.owner == runner.owner).first()
            if beat is None:
                state = "stopped" if runner.stopping.is_set() else "stale"
            else:
                state = "stopping" if beat.stopping or runner.stopping.is_set() else "ok"
        else:
            alive = query.where(RunnerHeartbeat.stopping == False).exists()  # noqa: E712
            state = "ok" if alive else "missing"
    except Exception as error:
        log.warning("healthz: database unreadable: %s", type(error).__name__)
        return "error", "unknown", f"database unreadable: {_one_line(error)}"
    return "ok", state, None if state == "ok" else f"job runner {state}"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__


async def healthz(request: Request) -> Response:
    live = _live(request)
    database, runner, reason = await asyncio.to_thread(_health, live)
    webhooks = "ok" if live.ingest.alive else "stopped"
    ok = database == "ok" and runner == "ok" and webhooks == "ok"
    body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "runner": runner,
                            "database": database, "webhooks": webhooks,
                            "webhook_backlog": live.ingest.backlog}
    if not ok:
        body["reason"] = reason or "webhook worker stopped"
    return _json(body, 200 if ok else 503)


async def metrics(request: Request) -> Response:
    live = _live(request)
    problem = await asyncio.to_thread(live.probe.check)  # figures from a damaged database: no
    if problem is not None:
        return Response(problem + "\n", status_code=503, media_type="text/plain")
    try:
        text = await asyncio.to_thread(render, live.counters,
                                       per_store=live.runtime.settings.metrics_per_store)
    except Exception as error:  # a damaged or unreachable database: say so, no traceback
        reason = f"database unreadable: {_one_line(error)}"
        log.warning("metrics: %s", reason)
        return Response(reason + "\n", status_code=503, media_type="text/plain")
    return Response(text, media_type=CONTENT_TYPE)


def create_app(
    runtime: Runtime,
    *,
    ingest: WebhookIngest | None = None,
    runner: Runner | None = None,
    counters: ProcessCounters | None = None,
) -> Starlette:
    """The Starlette app; its lifespan starts and stops the webhook worker."""
    actions.use_runtime(runtime)
    worker = ingest or WebhookIngest(notify=runner.notify if runner else None,
                                     confirm=install_probe(runtime))
    live = LiveState(runtime, worker, runner, counters or ProcessCounters())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not worker.alive:
            worker.start()
        try:
            yield
        finally:
            await asyncio.to_thread(worker.stop, 2.0)

    app = ServeApp(
        routes=[
            Route("/webhooks", receive_webhook, methods=["POST"]),
            Route("/webhooks/{rest:path}", receive_webhook, methods=["POST"]),
            Route("/oauth/callback", oauth_callback, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.live = live
    return app


# -- serve --------------------------------------------------------------------------------------

class _UvicornServer(uvicorn.Server):
    """uvicorn's server without its own signal handling: `Serve` owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Serve:
    """`shopsync serve`: HTTP app + job runner + scheduler + webhook worker, in one process."""

    def __init__(self, runtime: Runtime, *, host: str | None = None, port: int | None = None
                 ) -> None:
        settings = runtime.settings
        default_host, default_port = settings.listen_host_port
        self.runtime = runtime
        self.host = host or default_host
        self.port = port if port is not None else default_port
        self.runner = make_runner(runtime, kind="serve")
        self.scheduler = Scheduler(settings, notify=self.runner.notify)
        self.app = create_app(runtime, runner=self.runner)
        self.server = _UvicornServer(uvicorn.Config(
            self.app, host=self.host, port=self.port, log_config=None, access_log=False,
            lifespan="on", timeout_graceful_shutdown=3, server_header=False,
            http=guarded_protocol(settings.http_read_timeout, settings.max_connections),
            timeout_keep_alive=int(KEEP_ALIVE), backlog=1024,
        ))
        self._stop = asyncio.Event()
        self._stop_requested_at: float | None = None

    def request_stop(self) -> None:
        """Begin a clean shutdown (safe from any thread or a signal handler)."""
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        self.server.should_exit = True
        self.runner.stopping.set()
        self.runner.wake.set()

    def _on_signal(self, signum: int) -> None:
        if self._stop_requested_at is not None:
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            self.server.force_exit = True
            return
        log.info("%s received: stopping", signal.Signals(signum).name)
        self.request_stop()
        self._stop.set()

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        # Bind first: a second `serve` on a taken port must not start working the queue.
        sock = _bind(self.host, self.port)
        loop = asyncio.get_running_loop()
        # SIGHUP too: a closed terminal or a service manager's hang-up must not kill `serve`
        # without its leases handed back (the default action ends the process on the spot).
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        if install_signal_handlers:
            for signum in handled:
                loop.add_signal_handler(signum, self._on_signal, signum)
        _warn_missing_app_credentials(self.runtime)
        self.runner.start_thread()
        scheduler = asyncio.create_task(self.scheduler.run(self._stop))
        log.info("serve listening on %s:%d, webhooks at %s/webhooks", self.host, self.port,
                 self.runtime.settings.public_url.rstrip("/"))
        try:
            await self.server.serve(sockets=[sock])
        finally:
            sock.close()
            self.request_stop()
            self._stop.set()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(scheduler, 2.0)
            await self._stop_runner()
            if install_signal_handlers:
                for signum in handled:
                    loop.remove_signal_handler(signum)
            log.info("serve stopped")

    async def _stop_runner(self) -> None:
        started = self._stop_requested_at or time.monotonic()
        remaining = max(0.5, SHUTDOWN_BUDGET - (time.monotonic() - started))
        await asyncio.to_thread(self.runner.stop, remaining)
        if not self.runner.stopped.is_set():
            # A handler did not reach a safe point in time: hand its job back to the queue so
            # the next runner resumes it now rather than after the lease expires. The process
            # exits right after, taking the handler's daemon thread with it; its job-row writes
            # are fenced by lease_owner, and record upserts are idempotent, so the resumed run
            # repairs anything half-written.
            released = await asyncio.to_thread(_release, self.runner.owner)
            log.warning("runner did not stop in time; %d jobs released", released)


def _warn_missing_app_credentials(runtime: Runtime) -> None:
    """OAuth connects, webhook signatures and token exchanges need the app's key and secret:
    say at start which is missing rather than at the first webhook's 401."""
    settings = runtime.settings
    secret = settings.api_secret.get_secret_value() if settings.api_secret else ""
    missing = [name for name, value in (("SHOPSYNC_API_KEY", settings.api_key),
                                        ("SHOPSYNC_API_SECRET", secret)) if not value]
    if missing:
        log.warning("%s not set: OAuth connects fail and every webhook is refused (401) until "
                    "it is", " and ".join(missing))


class ServeError(RuntimeError):
    """`serve` cannot start (the listen address is taken or invalid); the message says why."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # connections whose socket says TCP, and uvicorn writes an answer's head and body apart, so
    # with Nagle on every answer waited for the client's delayed ACK (~40 ms a request).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited where supported
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.set_inheritable(True)
    return sock


def _release(owner: str) -> int:
    released = Job.update(state=JobState.QUEUED, lease_owner=None, lease_expires_at=None).where(
        (Job.lease_owner == owner) & (Job.state == JobState.RUNNING)
    ).execute()
    RunnerHeartbeat.delete().where(RunnerHeartbeat.owner == owner).execute()
    return released


def serve(
    runtime: Runtime,
    *,
    host: str | None = None,
    port: int | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Run `shopsync serve` until SIGTERM/SIGINT (or the server stops); blocking.

    Raises ServeError when the listen address cannot be bound (nothing was started then).
    """
    _route_uvicorn_logs()
    _raise_descriptor_limit()
    asyncio.run(Serve(runtime, host=host, port=port).run(
        install_signal_handlers=install_signal_handlers
    ))


def _raise_descriptor_limit() -> None:
    """Use every file descriptor the hard limit allows: the connection cap stays below it."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY
                                                        else max(soft, 65536), hard))
    except (ImportError, ValueError, OSError):  # not POSIX, or not allowed: keep the default
        pass


def _route_uvicorn_logs() -> None:
    """uvicorn's own lines go wherever shopsync's logging was configured to go.

    A failure repeated per connection or per request (uvicorn's "Invalid HTTP request", an
    accept() failing in a loop, the same exception per webhook, a scheduler tick failing on a
    damaged database) is logged once per interval.
    """
    quiet_repeats("uvicorn", "uvicorn.error", "asyncio", "shopsync.serve", "shopsync.webhooks",
                  "shopsync.scheduler", "shopsync.counts")
    ours = logging.getLogger("shopsync")
    if ours.handlers:
        for name in ("uvicorn", "uvicorn.error"):
            other = logging.getLogger(name)
            other.handlers = list(ours.handlers)
            other.propagate = False
            other.setLevel(logging.INFO)


def main() -> None:
    """Subprocess entry point: `python -c "from engine.serve.app import main; main()"`."""
    from engine.config import ConfigError
    from engine.logs import configure_logging
    from engine.persistence.database import DatabaseError

    try:
        runtime = open_runtime()
    except (ConfigError, DatabaseError) as error:
        print(f"shopsync serve: {safe(error)}", file=sys.stderr)
        sys.exit(2 if isinstance(error, ConfigError) else 1)
    configure_logging(runtime.settings, to_file=False)
    actions.set_origin("serve")  # an OAuth callback's connect is recorded as done through serve
    try:
        serve(runtime)
    except ServeError as error:
        log.error("%s", error)
        sys.exit(1)
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
