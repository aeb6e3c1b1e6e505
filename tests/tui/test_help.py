"""The `?` help screen: built from the live bindings, current screen first, then global keys."""

from __future__ import annotations

from engine.domain.status import Status
from tests.tui.screen_helpers import settle
from tui.screens.dashboard import DashboardScreen
from tui.screens.help import HelpScreen, binding_sections


class TestHelp:
    async def test_help_lists_the_dashboard_keys_first_then_the_global_ones(
        self, make_app, fleet
    ) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            titles = [title for title, _rows in app.screen.sections]
            assert titles == ["Dashboard keys", "Global keys"]
            text = str(app.screen.query_one("#help-keys").render())
            assert text.index("Dashboard keys") < text.index("Global keys")
            for line in ("↑ / k", "← / h", "⏎", "Check", "Re-sync", "Delete", "Table/cards",
                         "Status filter", "Connect", "Troubleshoot", "Activity", "Quit",
                         "Command palette"):
                assert line in text, line

    async def test_every_binding_with_an_id_is_listed(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            dashboard = app.screen
            listed = {row.description for _t, rows in binding_sections(dashboard)
                      for row in rows}
            for binding in [*DashboardScreen.BINDINGS, *type(app).BINDINGS]:
                assert binding.description in listed, binding.id

    async def test_keys_that_cannot_run_are_marked(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            store = next(s for s in app.screen.all_stores if s.status is Status.CONNECTED)
            app.screen.select_store(store.id)
            await pilot.press("question_mark")
            await pilot.pause()
            text = str(app.screen.query_one("#help-keys").render())
            assert "Reconnect (not available now)" in text
            assert "Disconnect (not available now)" not in text

    async def test_help_scrolls_and_closes(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("question_mark")
            await pilot.pause()
            body = app.screen.query_one("#help-body")
            assert body.max_scroll_y > 0  # longer than an 80x24 screen
            await pilot.press("down", "down", "j")
            await pilot.pause()
            assert body.scroll_y == 3
            await pilot.press("escape")
            assert isinstance(app.screen, DashboardScreen)
            await pilot.press("question_mark")
            await pilot.press("question_mark")
            assert isinstance(app.screen, DashboardScreen)
