"""engine.actions.wait_for_oauth: the one wait for the merchant's approval (CLI and TUI)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from engine import actions
from engine.actions import OAUTH_TIMED_OUT


def test_returns_the_store_once_the_merchant_approves(runtime: Any, make_store: Any) -> None:
    actions.use_runtime(runtime)
    store = make_store(oauth=True)
    start = actions.begin_reconnect(store.id)
    waiting = threading.Event()
    ticks: list[str | None] = []

    def approve() -> None:
        assert waiting.wait(10)
        with runtime.db.connection_context():
            actions.simulate_approval(start)

    def tick(problem: str | None) -> None:
        ticks.append(problem)
        waiting.set()

    approver = threading.Thread(target=approve)
    approver.start()
    summary = actions.wait_for_oauth(start, timeout=30, interval=0.02, on_tick=tick)
    approver.join()
    assert summary.id == store.id and summary.domain == store.domain
    assert ticks and set(ticks) == {None}  # it waited, and the database was readable


def test_a_declined_approval_raises_the_reason(runtime: Any, make_store: Any, sim: Any) -> None:
    actions.use_runtime(runtime)
    store = make_store(oauth=True)
    start = actions.begin_reconnect(store.id)
    # An unsigned decline (anyone who saw the state could send it) is answered, not settled.
    with pytest.raises(actions.ActionError, match="declined"):
        actions.complete_oauth({"error": "access_denied", "state": start.state})
    assert actions.oauth_status(start.state) is None
    sim.patch(store.domain, deny_oauth=True)  # the merchant declines: Shopify's signed redirect
    with pytest.raises(actions.ActionError, match="declined"):
        actions.simulate_approval(start)
    with pytest.raises(actions.ActionError, match="declined"):
        actions.wait_for_oauth(start, timeout=30, interval=0.02)


def test_an_unknown_state_fails_at_once(bound_offline: Any) -> None:
    start = actions.OAuthStart(url="https://x", state="no-such-state",
                               domain="acme.myshopify.com", purpose="connect")
    with pytest.raises(actions.ActionError, match="Unknown or expired"):
        actions.wait_for_oauth(start, timeout=30)


def test_the_timeout_is_a_clear_error(runtime: Any, make_store: Any) -> None:
    actions.use_runtime(runtime)
    start = actions.begin_reconnect(make_store(oauth=True).id)
    ticks: list[str | None] = []
    with pytest.raises(actions.ActionError) as raised:
        actions.wait_for_oauth(start, timeout=0, on_tick=ticks.append)
    assert str(raised.value) == OAUTH_TIMED_OUT
    assert ticks == [None]


def test_an_unreadable_database_is_reported_and_retried(
    bound_offline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peewee import OperationalError

    answers: list[Any] = [OperationalError("database is locked"), None,
                          "The approval was not completed in time; start again"]

    def oauth_status(_state: str) -> str | None:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(actions, "oauth_status", oauth_status)
    ticks: list[str | None] = []
    start = actions.OAuthStart(url="https://x", state="s", domain="acme.myshopify.com",
                               purpose="connect")
    with pytest.raises(actions.ActionError, match="not completed in time"):
        actions.wait_for_oauth(start, timeout=30, interval=0, on_tick=ticks.append)
    assert ticks == ["OperationalError: database is locked", None]


def test_on_tick_stops_the_wait(bound_offline: Any) -> None:
    class Stop(Exception):
        pass

    def stop(_problem: str | None) -> None:
        raise Stop()

    start = actions.OAuthStart(url="https://x", state="s", domain="acme.myshopify.com",
                               purpose="connect")
    from datetime import timedelta

    from engine.persistence.models import OAuthState, utcnow

    OAuthState.create(state="s", domain="acme.myshopify.com", purpose="connect",
                      expires_at=utcnow() + timedelta(hours=1))
    with pytest.raises(Stop):
        actions.wait_for_oauth(start, timeout=30, on_tick=stop)


@pytest.fixture
def bound_offline(offline_runtime: Any) -> Any:
    actions.use_runtime(offline_runtime)
    return offline_runtime
