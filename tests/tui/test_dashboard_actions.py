"""Dashboard keys and the card menu: dimming, confirmations, engine calls, toasts, quit, theme."""

from __future__ import annotations

import pytest

from engine.domain.status import CHECKING, DISCONNECT_CONFIRM, HEALTH_COMPLETED, SYNC_RERUN_STARTED
from engine.persistence.models import Job, Store
from tests.support import wait_until
from tests.tui.screen_helpers import enabled_keys, go_to, settle, toasts
from tui.screens.card_menu import CardMenu
from tui.screens.dashboard import DashboardScreen
from tui.widgets.card_grid import CardGrid
from tui.widgets.key_bar import KeyBar


class TestKeyDimming:
    @pytest.mark.parametrize(
        ("store", "enabled", "disabled"),
        [
            ("Acme Outdoor", {"c", "s", "d", "D", "i", "e", "m", "enter"}, {"r", "x"}),
            ("Berlin Bikes", {"r", "s", "d"}, {"x"}),
            ("Paused Pottery", {"x", "c"}, {"d", "r", "s"}),
            ("Café Crème Zürich", {"x", "d"}, {"r", "s"}),
            ("Old Outlet", set(), {"c", "r", "s", "d", "x", "D", "i", "e", "m", "enter"}),
        ],
    )
    async def test_keys_that_cannot_run_are_dimmed(
        self, make_app, fleet, store: str, enabled: set[str], disabled: set[str]
    ) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, store)
            keys = enabled_keys(app)
            assert {k for k in enabled if not keys[k]} == set()
            assert {k for k in disabled if keys[k]} == set()
            bar = {item.key: item.enabled for item in app.screen.query_one(KeyBar).items()}
            for key in disabled & set(bar):
                assert bar[key] is False

    @pytest.mark.parametrize(
        ("store", "key", "reason"),
        [
            ("Acme Outdoor", "r", "Acme Outdoor has no Failed entity to retry"),
            ("Acme Outdoor", "x", "Acme Outdoor does not need a reconnect (it is Connected)"),
            ("Paused Pottery", "s", "Paused Pottery is disconnected; reconnect it first"),
            ("Paused Pottery", "d", "Paused Pottery is already disconnected"),
            ("Café Crème Zürich", "s",
             "Café Crème Zürich needs a reconnect: App uninstalled in Shopify"),
        ],
    )
    async def test_a_dimmed_key_says_why_and_runs_nothing(
        self, make_app, fleet, store: str, key: str, reason: str
    ) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, store)
            jobs = Job.select().count()
            assert enabled_keys(app)[key] is False
            await pilot.press(key)
            assert await wait_until(pilot, lambda: reason in toasts(app))
            assert list(app._notifications)[-1].severity == "warning"
            assert len(app.screen_stack) == 1 and Job.select().count() == jobs


class TestCardMenu:
    async def test_menu_lists_the_seven_actions_in_order(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Berlin Bikes")
            await pilot.press("m")
            await pilot.pause()
            menu = app.screen
            assert isinstance(menu, CardMenu)
            options = menu.query_one("OptionList").options
            assert [str(o.prompt) for o in options] == [
                "Check health", "Sync settings", "View details", "Retry failed", "Re-sync",
                "Disconnect", "Delete"]
            assert not any(o.disabled for o in options)
            await pilot.press("escape")
            assert isinstance(app.screen, DashboardScreen)

    async def test_paused_store_offers_reconnect_and_disables_what_cannot_run(
        self, make_app, fleet
    ) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Paused Pottery")
            await pilot.press("m")
            await pilot.pause()
            menu = app.screen.query_one("OptionList")
            options = {str(o.prompt): o.disabled for o in menu.options}
            assert options == {"Check health": False, "Sync settings": False,
                               "View details": False, "Retry failed": True, "Re-sync": True,
                               "Reconnect": False, "Delete": False}

    async def test_check_health_reads_checking_while_a_check_is_queued(
        self, make_app, fleet
    ) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Quick Check")
            await pilot.press("m")
            await pilot.pause()
            first = app.screen.query_one("OptionList").options[0]
            assert str(first.prompt) == CHECKING and first.disabled

    async def test_choosing_check_health_queues_a_job_and_toasts_the_result(
        self, make_app, fleet
    ) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Acme Outdoor")
            await pilot.press("m", "enter")  # Check health is highlighted first
            healthy = fleet["healthy"].id
            assert await wait_until(pilot, lambda: Job.select().where(
                (Job.store_id == healthy) & (Job.kind == "health")).exists())
            grid = app.screen.query_one(CardGrid)
            assert await wait_until(pilot, lambda: grid.current.checking)
            assert CHECKING in "".join(strip.text for strip in grid.card_strips(grid.cursor))
            await pilot.press("m")
            await pilot.pause()
            assert str(app.screen.query_one("OptionList").options[0].prompt) == CHECKING
            await pilot.press("escape")
            # The runner (here: the test) finishes the job; the worker reports it.
            Job.update(state="done", result={"ok": True, "failed": []}).where(
                Job.store_id == healthy).execute()
            assert await wait_until(pilot, lambda: any(HEALTH_COMPLETED in t
                                                       for t in toasts(app)))


class TestConfirmedActions:
    async def test_disconnect_asks_with_the_exact_text_and_cancel_is_the_default(
        self, make_app, fleet
    ) -> None:
        from tui.screens.confirm import ConfirmScreen

        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Acme Outdoor")
            await pilot.press("d")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            assert DISCONNECT_CONFIRM in str(app.screen.query_one("#message").render())
            await pilot.press("enter")  # Cancel has the focus
            await pilot.pause()
            assert isinstance(app.screen, DashboardScreen)
            assert not Store.get_by_id(fleet["healthy"].id).paused
            await pilot.press("d", "escape")
            await pilot.pause()
            assert not Store.get_by_id(fleet["healthy"].id).paused
            await pilot.press("d", "tab", "enter")  # focus the Disconnect button, press it
            assert await wait_until(pilot, lambda: Store.get_by_id(fleet["healthy"].id).paused)
            grid = app.screen.query_one(CardGrid)
            assert await wait_until(pilot, lambda: grid.current.status.value == "disconnected")

    async def test_resync_confirms_then_toasts_sync_rerun_started(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Berlin Bikes")
            await pilot.press("s", "tab", "enter")
            assert await wait_until(pilot, lambda: SYNC_RERUN_STARTED in "".join(toasts(app)))
            jobs = Job.select().where((Job.store_id == fleet["failing"].id)
                                      & (Job.kind == "sync"))
            assert jobs.count() == 4

    async def test_delete_lists_counts_and_needs_the_name_typed(self, make_app, fleet) -> None:
        from engine.domain.status import Entity
        from tests.tui.factories import add_records
        from tui.screens.confirm import DeleteConfirmScreen

        add_records(fleet["healthy"], Entity.CUSTOMERS, 37)
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Acme Outdoor")
            await pilot.press("D")
            assert await wait_until(pilot, lambda: isinstance(app.screen, DeleteConfirmScreen))
            assert "Customers: 37" in str(app.screen.query_one("#details").render())
            await pilot.press("tab", *"Acme Outdoor", "enter", "enter")
            assert await wait_until(pilot, lambda: Store.get_by_id(fleet["healthy"].id).deleting)
            grid = app.screen.query_one(CardGrid)
            assert await wait_until(pilot, lambda: grid.current.deleting)

    async def test_an_action_error_is_shown_with_its_reason(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            store = next(s for s in app.screen.all_stores if s.name == "Acme Outdoor")
            app.perform_action("retry", store.id, store.name)  # nothing failed: NotAllowed
            assert await wait_until(pilot, lambda: any("no Failed entity" in t
                                                       for t in toasts(app)))
            assert list(app._notifications)[-1].severity == "error"


class TestQuitAndTheme:
    async def test_q_quits(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("q")
            await pilot.pause()
            assert not app.is_running

    async def test_theme_choice_is_remembered(self, make_app, fleet, offline_runtime) -> None:
        from tui.app import PREFS_FILE, load_prefs

        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.theme = "ansi-dark"
            await pilot.pause()
        home = offline_runtime.settings.home
        assert load_prefs(home)["theme"] == "ansi-dark"
        assert (home / PREFS_FILE).exists()
        again = make_app(theme=None)
        assert again.theme == "ansi-dark"

    async def test_terminal_themes_are_offered_first_in_the_palette(self, make_app, fleet) -> None:
        from tui.commands import ThemeCommands

        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            provider = ThemeCommands(app.screen)
            hits = [hit async for hit in provider.discover()]
            assert [h.text for h in hits] == ["Theme: ansi-dark", "Theme: ansi-light"]
            hits[1].command()
            await pilot.pause()
            assert app.theme == "ansi-light"
