"""The Connect drawer: inline validation before anything is sent, token and OAuth connects."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from textual.widgets import Button, Input

from engine.domain.domains import (
    ALREADY_CONNECTED,
    HYPHEN,
    INVALID_FORMAT,
    REQUIRED,
    TOO_LONG,
    TOO_SHORT,
)
from engine.persistence.models import OAuthState, Store
from tests.support import wait_until
from tests.tui.screen_helpers import (
    no_blink,
    pending_reconnect,
    screen_text,
    settle,
    sim_shop,
    type_into,
)
from tui.screens.connect import TOKEN_REQUIRED, ConnectScreen
from tui.screens.settings import SettingsScreen
from tui.widgets.oauth_wait import WAITING

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


async def open_connect(pilot: Any) -> ConnectScreen:
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)
    assert isinstance(pilot.app.screen, ConnectScreen)
    return pilot.app.screen


def nothing_sent() -> bool:
    return OAuthState.select().count() == 0


class TestValidation:
    @pytest.mark.parametrize(
        ("typed", "message"),
        [
            ("bad domain", INVALID_FORMAT),
            ("shop.example.com", INVALID_FORMAT),
            ("abc", TOO_SHORT),
            ("x" * 61, TOO_LONG),
            ("-abcd", HYPHEN),
            ("abcd-", HYPHEN),
        ],
    )
    async def test_message_shown_as_the_operator_types(self, make_app, offline_runtime,
                                                       typed: str, message: str) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_connect(pilot)
            await type_into(pilot, screen.query_one("#domain", Input), typed)
            await settle(pilot)
            assert message in screen_text(app)
            await pilot.press("enter")  # submitting does not send anything either
            await settle(pilot)
            assert message in screen_text(app) and nothing_sent()
            assert isinstance(app.screen, ConnectScreen)

    async def test_required_on_submit_and_after_clearing(self, make_app,
                                                         offline_runtime) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await open_connect(pilot)
            assert REQUIRED not in screen_text(app)  # not before the operator did anything
            await pilot.press("enter")
            await settle(pilot)
            assert REQUIRED in screen_text(app) and nothing_sent()
            await pilot.press("a", "backspace")
            await settle(pilot)
            assert REQUIRED in screen_text(app)

    async def test_valid_domain_shows_the_normalised_form(self, make_app,
                                                          offline_runtime) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await open_connect(pilot)
            await pilot.press(*"My-Store")
            await settle(pilot)
            assert "→ my-store.myshopify.com" in screen_text(app)

    async def test_already_connected_is_refused(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_connect(pilot)
            await type_into(pilot, screen.query_one("#domain", Input), "acme-outdoor.myshopify.com")
            await settle(pilot)
            assert ALREADY_CONNECTED in screen_text(app)
            screen.query_one("#token", Input).value = "shpat_secret"
            screen.query_one("#with-token", Button).press()
            await settle(pilot)
            assert ALREADY_CONNECTED in screen_text(app) and nothing_sent()
            assert Store.select().where(Store.domain == "acme-outdoor.myshopify.com").count() == 1

    async def test_token_is_required_for_the_token_path(self, make_app,
                                                        offline_runtime) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_connect(pilot)
            await pilot.press(*"good-shop")
            screen.query_one("#with-token", Button).press()
            await settle(pilot)
            assert TOKEN_REQUIRED in screen_text(app)
            assert Store.select().count() == 0

    async def test_escape_cancels(self, make_app, offline_runtime) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await open_connect(pilot)
            await pilot.press("escape")
            await settle(pilot)
            assert not isinstance(app.screen, ConnectScreen)


class TestConnectAgainstTheSimulator:
    async def test_access_token_connects_and_opens_settings(self, simulator, runtime,
                                                            unique_domain) -> None:
        from tui.app import ShopsyncApp

        domain, token = await asyncio.to_thread(sim_shop, simulator, unique_domain)
        app = ShopsyncApp(runtime, poll=False, embedded_runner=False, theme="textual-dark")
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_connect(pilot)
            await type_into(pilot, screen.query_one("#domain", Input), domain.split(".")[0])
            await type_into(pilot, screen.query_one("#token", Input), token)
            assert token not in screen_text(app)  # a password field: never echoed
            await pilot.press("enter")
            assert await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), 20)
            assert app.screen.initial_sync and app.screen.store_id == Store.get(
                Store.domain == domain).id
            assert token not in screen_text(app)

    async def test_wrong_token_is_refused_inline(self, simulator, runtime,
                                                 unique_domain) -> None:
        from tui.app import ShopsyncApp

        domain, _token = await asyncio.to_thread(sim_shop, simulator, unique_domain)
        app = ShopsyncApp(runtime, poll=False, embedded_runner=False, theme="textual-dark")
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_connect(pilot)
            await type_into(pilot, screen.query_one("#domain", Input), domain)
            await type_into(pilot, screen.query_one("#token", Input), "shpat_wrong")
            await pilot.press("enter")
            assert await wait_until(
                pilot, lambda: not screen.query_one("#with-token", Button).disabled, 20)
            message = str(screen.query_one("#token-message").render())
            assert message and "shpat_wrong" not in screen_text(app)
            assert screen.query_one("#token", Input).value == ""
            assert Store.select().count() == 0

    async def test_enter_again_while_waiting_starts_no_second_approval(
        self, simulator, runtime, unique_domain
    ) -> None:
        from engine.persistence.models import OAuthState
        from tui.app import ShopsyncApp

        domain, _token = await asyncio.to_thread(sim_shop, simulator, unique_domain)
        app = ShopsyncApp(runtime, poll=False, embedded_runner=False, theme="textual-dark")
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_connect(pilot)
            await type_into(pilot, screen.query_one("#domain", Input), domain)
            await pilot.press("enter")
            assert await wait_until(pilot, lambda: screen.start is not None, 10)
            screen.query_one("#domain", Input).focus()
            await pilot.press("enter")  # ignored at once: one approval in flight is enough
            assert not [w for w in app.workers if w.group == "connect-oauth" and not w.is_finished]
            assert OAuthState.select().where(OAuthState.domain == domain).count() == 1

    async def test_oauth_with_approve_in_simulator(self, simulator, runtime,
                                                   unique_domain) -> None:
        from tui.app import ShopsyncApp

        domain, _token = await asyncio.to_thread(sim_shop, simulator, unique_domain)
        app = ShopsyncApp(runtime, poll=False, embedded_runner=False, theme="textual-dark")
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_connect(pilot)
            await type_into(pilot, screen.query_one("#domain", Input), domain)
            await pilot.press("enter")
            assert await wait_until(pilot, lambda: screen.start is not None, 10)
            shown = str(screen.query_one("#url").render())
            assert shown == screen.start.url and "/admin/oauth/authorize" in shown
            approve = screen.query_one("#approve", Button)
            assert not approve.has_class("-hidden")
            # Over SSH: the URL is one line, an OSC 8 link, and Copy URL sends it by OSC 52.
            visual = screen.query_one("#url").visual
            assert any(span.style.link == screen.start.url for span in visual.spans
                       if hasattr(span.style, "link"))
            screen.query_one("#copy-url", Button).press()
            await pilot.pause()
            assert app.clipboard == screen.start.url
            assert app.focused is approve  # enter in the domain field led to the next step
            await pilot.press("enter")
            assert await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), 20)
            store = Store.get(Store.domain == domain)
            assert store.auth_method == "oauth" and app.screen.store_id == store.id

    async def test_reconnect_a_store_that_needs_a_fresh_grant(self, simulator, runtime,
                                                              unique_domain) -> None:
        from engine import actions
        from engine.persistence.records import refresh_status
        from tui.app import ShopsyncApp
        from tui.screens.store import StoreScreen

        domain, _token = await asyncio.to_thread(sim_shop, simulator, unique_domain)
        actions.use_runtime(runtime)
        start = actions.begin_connect(domain)
        summary = await asyncio.to_thread(actions.simulate_approval, start)
        Store.update(needs_reauth=True, reauth_reason="App uninstalled in Shopify").where(
            Store.id == summary.id).execute()
        refresh_status(summary.id)
        app = ShopsyncApp(runtime, poll=False, embedded_runner=False, theme="textual-dark")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.push_screen(StoreScreen(summary.id))
            await settle(pilot)
            await pilot.press("x")
            assert await wait_until(pilot, lambda: isinstance(app.screen, ConnectScreen), 10)
            screen = app.screen
            assert f"Reconnect {domain}" in screen_text(app)
            assert await wait_until(pilot, lambda: screen.start is not None, 10)
            screen.query_one("#approve", Button).press()
            assert await wait_until(pilot, lambda: isinstance(app.screen, StoreScreen), 20)
            assert not Store.get_by_id(summary.id).needs_reauth


    async def test_reconnect_a_token_store_with_a_new_token(self, simulator, runtime,
                                                          unique_domain) -> None:
        from engine import actions
        from engine.persistence.records import refresh_status
        from tui.app import ShopsyncApp
        from tui.screens.store import StoreScreen

        domain, token = await asyncio.to_thread(sim_shop, simulator, unique_domain)
        actions.use_runtime(runtime)
        summary = await asyncio.to_thread(actions.connect_token, domain, token)
        Store.update(needs_reauth=True, reauth_reason="Token revoked").where(
            Store.id == summary.id).execute()
        refresh_status(summary.id)
        app = ShopsyncApp(runtime, poll=False, embedded_runner=False, theme="textual-dark")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.push_screen(StoreScreen(summary.id))
            await settle(pilot)
            await pilot.press("x")
            assert await wait_until(pilot, lambda: isinstance(app.screen, ConnectScreen), 10)
            screen = app.screen
            await settle(pilot)
            await type_into(pilot, screen.query_one("#token", Input), token)
            await pilot.press("enter")
            assert await wait_until(pilot, lambda: isinstance(app.screen, StoreScreen), 20)
            assert not Store.get_by_id(summary.id).needs_reauth
            assert token not in screen_text(app)


@pytest.mark.parametrize("size", SIZES)
class TestConnectSnapshots:
    def test_invalid_domain_message(self, snap_compare, make_app, offline_runtime,
                                    size) -> None:
        async def run_before(pilot: Any) -> None:
            await settle(pilot)
            await pilot.press("n")
            await settle(pilot)
            await pilot.press(*"ab-")
            await settle(pilot)
            no_blink(pilot.app)

        assert snap_compare(make_app(), terminal_size=size, run_before=run_before)

    def test_waiting_for_approval(self, snap_compare, make_app, fleet, size) -> None:
        async def run_before(pilot: Any) -> None:
            await settle(pilot)
            pending_reconnect(pilot.app)
            # The wait worker polls until the drawer closes: wait for what it shows instead.
            await wait_until(pilot, lambda: WAITING in screen_text(pilot.app))
            no_blink(pilot.app)
            await pilot.pause()

        assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
