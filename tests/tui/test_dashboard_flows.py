"""Dashboard keys that open other screens, reconnect, the embedded runner and --no-mouse."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pydantic import SecretStr

from engine.persistence.models import RunnerHeartbeat, Store
from tests.support import wait_until
from tests.tui.screen_helpers import go_to, settle, toasts
from tui.screens.activity import ActivityScreen
from tui.screens.connect import ConnectScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.details import DetailsScreen
from tui.screens.settings import SettingsScreen
from tui.screens.store import StoreScreen
from tui.screens.troubleshoot import TroubleshootScreen
from tui.widgets.fleet_header import FleetHeader


class TestOpeningScreens:
    @pytest.mark.parametrize(
        ("keys", "store", "expected"),
        [
            (("enter",), "Berlin Bikes", StoreScreen),
            (("i",), "Berlin Bikes", DetailsScreen),
            (("e",), "Tea Time", SettingsScreen),
            (("m", "down", "down", "enter"), "Tea Time", DetailsScreen),
            (("n",), None, ConnectScreen),
            (("t",), None, TroubleshootScreen),
            (("L",), None, ActivityScreen),
        ],
    )
    async def test_key_opens_the_screen(self, make_app, fleet, keys: tuple[str, ...],
                                        store: str | None, expected: type) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            if store:
                await go_to(pilot, store)
            for key in keys:
                await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, expected)
            if store and hasattr(app.screen, "store_id"):
                assert app.screen.store_id == next(
                    s.id for s in app.dashboard.all_stores if s.name == store)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, DashboardScreen)

    async def test_a_deleting_store_does_not_open(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Old Outlet")
            await pilot.press("enter", "m", "i")
            await pilot.pause()
            assert isinstance(app.screen, DashboardScreen)


class TestReconnect:
    async def test_a_paused_store_resumes_at_once(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Paused Pottery")
            await pilot.press("x")
            paused = fleet["paused"].id
            assert await wait_until(pilot, lambda: not Store.get_by_id(paused).paused)
            assert await wait_until(pilot, lambda: any("Reconnected" in t for t in toasts(app)))

    async def test_a_token_store_that_needs_a_new_grant_asks_for_a_new_token(
        self, make_app, fleet
    ) -> None:
        from textual.widgets import Input

        from tests.tui.screen_helpers import screen_text
        from tui.screens.connect import TOKEN_RECONNECT, ConnectScreen

        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Café Crème Zürich")
            await pilot.press("x")
            assert await wait_until(pilot, lambda: isinstance(app.screen, ConnectScreen))
            screen = app.screen
            await settle(pilot)
            assert screen.token_for == "cafe-creme.myshopify.com"
            assert screen.store_id == fleet["uninstalled"].id
            assert app.focused is screen.query_one("#token", Input)
            text = screen_text(app)
            assert "Reconnect cafe-creme.myshopify.com" in text and TOKEN_RECONNECT[:40] in text
            assert "Approve on Shopify" not in text  # the engine keeps a token store on tokens
            assert not any("reconnect with a new token" in t for t in toasts(app))

    async def test_an_oauth_store_gets_the_connect_drawer_in_reconnect_mode(
        self, make_app, fleet, offline_runtime
    ) -> None:
        offline_runtime.settings.api_key = "demo-key"
        offline_runtime.settings.api_secret = SecretStr("demo-secret")
        Store.update(auth_method="oauth").where(Store.id == fleet["uninstalled"].id).execute()
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Café Crème Zürich")
            await pilot.press("x")
            assert await wait_until(pilot, lambda: isinstance(app.screen, ConnectScreen))
            assert app.screen.store_id == fleet["uninstalled"].id
            assert app.screen.reconnect.domain == "cafe-creme.myshopify.com"


class TestRunnerAndMouse:
    async def test_an_embedded_runner_starts_when_no_serve_runner_is_alive(
        self, make_app, fleet
    ) -> None:
        app = make_app(embedded_runner="auto")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert app.runner is not None
            assert "embedded runner" in app.screen.query_one(FleetHeader).render().plain
            assert await wait_until(pilot, lambda: RunnerHeartbeat.select().where(
                RunnerHeartbeat.kind == "embedded").exists())
        assert not RunnerHeartbeat.select().where(RunnerHeartbeat.kind == "embedded").exists()

    async def test_no_embedded_runner_when_serve_is_running(self, make_app, fleet) -> None:
        RunnerHeartbeat.create(owner="serve:test", kind="serve", pid=1, host="test")
        app = make_app(embedded_runner="auto")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert app.runner is None
            assert "serve runner" in app.screen.query_one(FleetHeader).render().plain

    def test_no_mouse_is_the_default_for_run(self, make_app, monkeypatch) -> None:
        from textual.app import App

        seen: dict[str, Any] = {}
        monkeypatch.setattr(App, "run", lambda self, *a, **kw: seen.update(kw))
        make_app(mouse=False).run()
        assert seen["mouse"] is False
        make_app(mouse=False).run(mouse=True)
        assert seen["mouse"] is True

    async def test_a_serve_runner_that_goes_away_is_taken_over(self, make_app, fleet) -> None:
        beat = RunnerHeartbeat.create(owner="serve:gone", kind="serve", pid=1, host="test")
        app = make_app(embedded_runner="auto")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert app.runner is None
            beat.delete_instance()
            app._check_runner()  # what the 10 s interval does
            await settle(pilot)
            assert app.runner is not None and not app.runner.stopped.is_set()
            assert "embedded runner" in app.screen.query_one(FleetHeader).render().plain
            app._check_runner()  # ours is alive: no second one
            await settle(pilot)
            runners = [t for t in threading.enumerate() if t.name == "shopsync-runner"]
            assert len(runners) == 1
