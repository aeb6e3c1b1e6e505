"""The HTTP face of `serve`: /healthz, /metrics and /oauth/callback over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.jobs.queue import enqueue
from engine.jobs.runner import Runner
from engine.persistence import counters as metrics
from engine.persistence.models import Job, RunnerHeartbeat, Store
from engine.serve.app import Serve, ServeError, create_app, serve
from tests.engine.livedata_support import AppServer, deliver, free_port, store_row
from tests.support import HTTP, wait_until


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


@pytest.fixture
def served(runtime: Any) -> Iterator[tuple[Any, str, httpx.Client]]:
    app = create_app(runtime)
    server = AppServer(app)
    runtime.settings.public_url = server.url
    with server, httpx.Client(timeout=10) as client:
        yield app, server.url, client


def test_healthz_follows_the_runner_heartbeat(runtime: Any) -> None:
    runner = Runner(runtime, kind="serve", handlers={})
    app = create_app(runtime, runner=runner)
    with AppServer(app) as server, httpx.Client(timeout=10) as client:
        before = client.get(server.url + "/healthz")
        assert before.status_code == 503
        assert before.json()["runner"] == "stale"
        runner.start_thread()
        wait_until(lambda: client.get(server.url + "/healthz").status_code == 200)
        assert client.get(server.url + "/healthz").json() == {
            "status": "ok", "runner": "ok", "database": "ok", "webhooks": "ok",
            "webhook_backlog": 0}
        runner.stop()
        after = client.get(server.url + "/healthz")
        assert (after.status_code, after.json()["runner"]) == (503, "stopped")


def test_healthz_without_a_runner_of_its_own_needs_a_live_one(served: Any) -> None:
    _app, url, client = served
    response = client.get(url + "/healthz")
    assert (response.status_code, response.json()["runner"]) == (503, "missing")


def test_metrics_parse_and_move_with_the_work(runtime: Any, served: Any) -> None:
    _app, url, client = served
    secret = runtime.settings.api_secret.get_secret_value()
    store = store_row("metrics.myshopify.com")
    first = samples(client.get(url + "/metrics").text)
    assert first[("shopsync_stores", (("status", "connected"),))] == 1
    assert first[("shopsync_stores", (("status", "disconnected"),))] == 0

    payload = {"id": 1, "admin_graphql_api_id": "gid://shopify/Order/1", "name": "#1",
               "updated_at": "2026-11-02T10:00:00Z"}
    assert deliver(client, url, "orders/create", store.domain, payload, secret).status_code == 200
    assert deliver(client, url, "orders/create", store.domain, payload, "bad").status_code == 401
    enqueue("health", store)
    metrics.incr("shopsync_syncs_total", entity="orders", outcome="synced")
    metrics.incr("shopsync_import_rows_total", 500, entity="orders")
    metrics.incr("shopsync_throttle_waits_total", reason="throttled")
    response = client.get(url + "/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)
    applied = ("shopsync_webhooks_total", (("outcome", "applied"), ("topic", "orders/create")))
    wait_until(lambda: samples(client.get(url + "/metrics").text).get(applied) == 1)
    assert after[("shopsync_webhooks_rejected_total",
                  (("reason", "signature"), ("topic", "orders/create")))] == 1
    assert after[("shopsync_jobs", (("kind", "health"), ("state", "queued")))] == 1
    assert after[("shopsync_jobs", (("kind", "health"), ("state", "done")))] == 0
    assert after[("shopsync_syncs_total", (("entity", "orders"), ("outcome", "synced")))] == 1
    assert after[("shopsync_import_rows_total", (("entity", "orders"),))] == 500
    assert after[("shopsync_throttle_waits_total", (("reason", "throttled"),))] == 1
    metrics.incr("shopsync_import_rows_total", 250, entity="orders")
    moved = samples(client.get(url + "/metrics").text)
    assert moved[("shopsync_import_rows_total", (("entity", "orders"),))] == 750


def test_oauth_callback_connects_the_store(runtime: Any, sim: Any, served: Any,
                                           unique_domain: str) -> None:
    from engine import actions

    _app, url, client = served
    sim.create_shop(unique_domain, name="Café Ünïcode")
    start = actions.begin_connect(unique_domain)
    approval = HTTP.get(start.url, follow_redirects=False, timeout=10)
    callback = urlsplit(approval.headers["location"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == url + "/oauth/callback"
    response = client.get(url + "/oauth/callback?" + callback.query)
    assert response.status_code == 200
    assert f"Connected {unique_domain}. You can close this window." in response.text
    assert Store.get(Store.domain == unique_domain).token_enc
    # The nonce is single-use: replaying the callback is refused.
    replay = client.get(url + "/oauth/callback?" + callback.query)
    assert replay.status_code == 400
    assert "could not connect" in replay.text


def test_oauth_callback_refuses_a_forged_request(served: Any) -> None:
    _app, url, client = served
    response = client.get(url + "/oauth/callback", params={
        "code": "x", "shop": "evil.myshopify.com", "state": "nope", "timestamp": "1",
        "hmac": "00"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "could not connect the store" in response.text
    assert not Store.select().exists()


def test_serve_refuses_a_taken_port_before_touching_the_queue(runtime: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        job = enqueue("health", store_row("busy.myshopify.com"))
        with pytest.raises(ServeError, match=f"cannot listen on 127.0.0.1:{port}"):
            serve(runtime, host="127.0.0.1", port=port, install_signal_handlers=False)
    assert not RunnerHeartbeat.select().exists()
    assert Job.get_by_id(job.id).state == "queued"


def test_serve_turns_nagle_off_on_every_connection(runtime: Any) -> None:
    """uvicorn writes an answer's head and body apart: with Nagle's algorithm on, each answer
    on a kept-alive connection waited for the client's delayed ACK (~40 ms). serve binds its
    own socket, and asyncio sets TCP_NODELAY only on sockets that say they are TCP."""
    port = free_port()
    instance = Serve(runtime, host="127.0.0.1", port=port)
    thread = threading.Thread(target=asyncio.run, daemon=True,
                              args=(instance.run(install_signal_handlers=False),))
    thread.start()
    try:
        with httpx.Client(timeout=10) as client:
            wait_until(lambda: _reachable(client, f"http://127.0.0.1:{port}/healthz"))
            connections = list(instance.server.server_state.connections)
            assert connections  # the client's kept-alive connection
            for protocol in connections:
                sock = protocol.transport.get_extra_info("socket")
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        instance.request_stop()
        thread.join(15)
    assert not thread.is_alive()


def _reachable(client: httpx.Client, url: str) -> bool:
    try:
        client.get(url)
    except httpx.TransportError:
        return False
    return True


def test_metrics_per_store_status_last_success_durations_and_process(
    runtime: Any, served: Any
) -> None:
    from datetime import UTC, datetime

    from engine.persistence.models import EntitySync
    from engine.persistence.records import refresh_status
    from engine.serve.metrics import render
    from tests.engine.livedata_support import mark_synced

    _app, url, client = served
    healthy = store_row("healthy.myshopify.com")
    broken = store_row("broken.myshopify.com", needs_reauth=True, reauth_reason="uninstalled")
    refresh_status(broken.id)
    at = datetime(2026, 11, 30, 12, 0, 0)
    mark_synced(healthy, at)
    metrics.observe("shopsync_sync_duration_seconds", 3.5, entity="orders", mode="full")
    metrics.observe("shopsync_sync_duration_seconds", 700.0, entity="orders", mode="full")
    found = samples(client.get(url + "/metrics").text)

    def status(domain: str, value: str) -> float:
        return found[("shopsync_store_status", (("status", value), ("store", domain)))]

    assert status("healthy.myshopify.com", "connected") == 1
    assert status("healthy.myshopify.com", "error") == 0
    assert status("broken.myshopify.com", "reconnect_required") == 1
    assert status("broken.myshopify.com", "connected") == 0
    last = ("shopsync_entity_last_success_timestamp_seconds",
            (("entity", "orders"), ("store", "healthy.myshopify.com")))
    assert found[last] == at.replace(tzinfo=UTC).timestamp()
    assert not any(name == last[0] and ("store", "broken.myshopify.com") in labels
                   for name, labels in found)  # never synced: no series
    bucket = "shopsync_sync_duration_seconds_bucket"
    series = (("entity", "orders"), ("mode", "full"))
    assert found[(bucket, (*series[:1], ("le", "5.0"), *series[1:]))] == 1
    assert found[(bucket, (*series[:1], ("le", "1800.0"), *series[1:]))] == 2
    assert found[(bucket, (*series[:1], ("le", "+Inf"), *series[1:]))] == 2
    assert found[("shopsync_sync_duration_seconds_count", series)] == 2
    assert found[("shopsync_sync_duration_seconds_sum", series)] == 703.5
    assert found[("process_resident_memory_bytes", ())] > 0
    assert found[("process_start_time_seconds", ())] > 0
    assert EntitySync.select().count() > 0
    without = samples(render(per_store=False).decode())
    assert not any(name.startswith(("shopsync_store_status", "shopsync_entity_last"))
                   for name, _labels in without)
    assert ("shopsync_stores", (("status", "connected"),)) in without
