"""--read-only: every action is refused with the reason "read-only", nothing is written, no job
runner starts; the header names the context (database, DEMO, READ-ONLY)."""

from __future__ import annotations

import pytest

from engine import actions
from engine.config import database_label
from engine.persistence.models import Event, Job, Store
from tests.tui.screen_helpers import enabled_keys, go_to, screen_text, settle, toasts
from tui.commands import StoreActionCommands
from tui.screens.bulk import BulkScreen
from tui.screens.card_menu import CardMenu
from tui.screens.connect import ConnectScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.help import HelpScreen
from tui.screens.settings import SettingsScreen
from tui.screens.store import StoreScreen
from tui.screens.troubleshoot import TroubleshootScreen
from tui.store_actions import LABELS, STORE_ACTIONS, VIEW_ACTIONS
from tui.store_keys import changes_something
from tui.widgets.fleet_header import FleetHeader
from tui.widgets.key_bar import KeyBar

STORE_KEYS = ("c", "r", "s", "d", "x", "D")  # every dashboard/store key that changes something


def writes() -> tuple[int, int, list[tuple[bool, bool]]]:
    """What an action would change: jobs, events and the stores' pause/delete flags."""
    return (Job.select().count(), Event.select().count(),
            [(s.paused, s.deleting) for s in Store.select().order_by(Store.id)])


class TestReadOnly:
    async def test_no_runner_starts_even_when_no_serve_runs(self, make_app, fleet) -> None:
        assert not actions.runner_alive(None)
        app = make_app(read_only=True, embedded_runner="auto")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert app.runner is None
            assert not actions.runner_alive(None)
            assert "READ-ONLY" in str(app.screen.query_one(FleetHeader).render())

    async def test_without_read_only_the_same_app_starts_a_runner(self, make_app, fleet) -> None:
        app = make_app(embedded_runner="auto")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert app.runner is not None  # proves the test above can fail

    @pytest.mark.parametrize("store", ["Acme Outdoor", "Berlin Bikes", "Café Crème Zürich",
                                       "Paused Pottery"])
    async def test_every_store_key_is_dimmed_and_does_nothing(
        self, make_app, fleet, store: str
    ) -> None:
        before = writes()
        app = make_app(read_only=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, store)
            keys = enabled_keys(app)
            assert [k for k in STORE_KEYS if keys[k]] == []
            assert keys["enter"] and keys["i"] and keys["e"]  # looking stays possible
            for key in STORE_KEYS:
                await pilot.press(key)
                await settle(pilot)
                assert isinstance(app.screen, DashboardScreen), key
        assert writes() == before

    async def test_the_same_key_acts_without_read_only(self, make_app, fleet) -> None:
        before = writes()
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Berlin Bikes")
            await pilot.press("r")  # retry queues a job and returns (no runner needed)
            await settle(pilot)
        assert writes() != before

    async def test_every_action_called_directly_is_refused_with_the_reason(
        self, make_app, fleet
    ) -> None:
        before = writes()
        app = make_app(read_only=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            store = next(s for s in app.dashboard.all_stores if s.name == "Berlin Bikes")
            changing = [a for a in STORE_ACTIONS if a not in VIEW_ACTIONS]
            for action in changing:
                assert app.why_not(store, action) == "read-only"
                app.request_action(action, store)
                app.perform_action(action, store.id, store.name)  # the last line of defence
                await settle(pilot)
                assert isinstance(app.screen, DashboardScreen), action
            refused = [t for t in toasts(app) if t.endswith("is unavailable: read-only")]
            assert len(refused) == 2 * len(changing)
        assert writes() == before

    async def test_menu_items_are_disabled_with_the_reason(self, make_app, fleet) -> None:
        app = make_app(read_only=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Berlin Bikes")
            await pilot.press("m")
            await settle(pilot)
            assert isinstance(app.screen, CardMenu)
            options = app.screen.query_one("OptionList").options
            for option in options:
                if option.id in VIEW_ACTIONS:
                    assert not option.disabled
                else:
                    assert option.disabled and str(option.prompt).endswith("· read-only")
            assert sum(not o.disabled for o in options) == 2  # settings and details

    async def test_connect_and_the_palette_offer_no_action(self, make_app, fleet) -> None:
        app = make_app(read_only=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Berlin Bikes")
            await pilot.press("n")
            await settle(pilot)
            assert not isinstance(app.screen, ConnectScreen)
            app.action_connect()
            await settle(pilot)
            assert not isinstance(app.screen, ConnectScreen)
            assert "Connect is unavailable: read-only" in toasts(app)
            provider = StoreActionCommands(app.screen)
            runnable = {prefix for prefix, _t, _c, help_text in provider._entries()
                        if not help_text.startswith("Unavailable")}
            assert runnable == {"Sync settings: ", "View details: ", "Bulk operations: "}

    async def test_store_screen_and_settings_drawer_change_nothing(
        self, make_app, fleet
    ) -> None:
        before = writes()
        app = make_app(read_only=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Berlin Bikes")
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, StoreScreen)
            for key in ("r", "enter", "c", "s", "d", "D"):
                await pilot.press(key)
                await settle(pilot)
                assert isinstance(app.screen, StoreScreen), key
            await pilot.press("e")
            await settle(pilot)
            assert isinstance(app.screen, SettingsScreen)
            switches = list(app.screen.query("Switch"))
            assert switches and all(s.disabled for s in switches)
            assert app.screen.query_one("#resync").disabled
            for switch in switches:
                await pilot.click(switch)
                await settle(pilot)
        assert writes() == before


def changing_rows(app) -> dict[str, str]:
    """The open screen's bindings that would change something: {key: reason or "" if it runs}."""
    from tui.store_keys import unavailable_reason

    return {key: "" if active.enabled else str(unavailable_reason(app.screen, active.binding))
            for key, active in app.screen.active_bindings.items()
            if changes_something(active.binding.action)}


class TestReadOnlyReasons:
    """Every surface that shows why a key or item is unavailable says "read-only": the help
    screen, the key bar (its note and a dimmed key's tooltip), the card menu (above), the
    command palette, and the notification a dimmed key answers with."""

    async def test_help_gives_the_reason_for_every_changing_key(self, make_app, fleet) -> None:
        app = make_app(read_only=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Berlin Bikes")
            for opener in ((), ("enter",)):  # the dashboard, then the store screen
                await pilot.press(*opener)
                await settle(pilot)
                shown = changing_rows(app)
                assert shown and set(shown.values()) == {"read-only"}, shown
                await pilot.press("question_mark")
                await settle(pilot)
                assert isinstance(app.screen, HelpScreen)
                rows = [r for _t, rows in app.screen.sections for r in rows if not r.enabled]
                text = str(app.screen.query_one("#help-keys").render())
                for row in rows:
                    if row.description in {"Check", "Retry", "Re-sync", "Disconnect",
                                           "Reconnect", "Delete", "Connect"}:
                        assert f"{row.description} (read-only)" in text, row
                assert {"Check", "Retry", "Re-sync", "Delete", "Connect"} <= {
                    r.description for r in rows if r.reason == "read-only"}
                await pilot.press("escape")
                await settle(pilot)

    async def test_without_read_only_help_keeps_the_plain_mark(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Acme Outdoor")
            await pilot.press("question_mark")
            await settle(pilot)
            text = str(app.screen.query_one("#help-keys").render())
            assert "(read-only)" not in text and "Reconnect (not available now)" in text

    async def test_key_bar_says_read_only_and_a_dimmed_key_tells_why(
        self, make_app, fleet
    ) -> None:
        app = make_app(read_only=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Berlin Bikes")
            bar = app.screen.query_one(KeyBar)
            items = {item.key: item for item in bar.items()}
            for key in (*STORE_KEYS, "n"):
                assert not items[key].enabled and items[key].reason == "read-only", key
            assert items["enter"].enabled and items["enter"].reason is None
            assert "(dimmed: read-only)" in str(bar.render())
            retry = next(x0 for _line, x0, _x1, item in bar._hits if item.key == "r")
            await pilot.hover(KeyBar, offset=(retry + 2, 0))
            await settle(pilot)
            assert bar.tooltip == "Retry: unavailable (read-only)"

    async def test_without_read_only_the_bar_has_no_note(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Acme Outdoor")
            bar = app.screen.query_one(KeyBar)
            assert "read-only" not in str(bar.render())
            assert {item.key: item.reason for item in bar.items()}["x"] is not None

    async def test_the_palette_lists_changing_actions_as_unavailable(
        self, make_app, fleet
    ) -> None:
        before = writes()
        app = make_app(read_only=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Berlin Bikes")
            entries = StoreActionCommands(app.screen)._entries()
            refused = {prefix: callback for prefix, _text, callback, help_text in entries
                       if help_text == "Unavailable: read-only"}
            changing = [a for a in STORE_ACTIONS if a not in VIEW_ACTIONS]
            assert set(refused) == {f"{LABELS[a]}: " for a in changing}
            for callback in refused.values():
                app.clear_notifications()
                callback()
                await settle(pilot)
                assert isinstance(app.screen, DashboardScreen)
                assert [t for t in toasts(app) if t.endswith("is unavailable: read-only")]
        assert writes() == before

    async def test_every_dimmed_key_answers_with_the_reason(self, make_app, fleet) -> None:
        """Dashboard, store screen, settings drawer, bulk operations and Troubleshoot: each
        changing key, pressed, is refused with a notification that ends "read-only"."""
        before = writes()
        app = make_app(read_only=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await go_to(pilot, "Berlin Bikes")

            async def refused(*keys: str) -> None:
                for key in keys:
                    app.clear_notifications()  # toasts expire: count only this key's
                    await pilot.press(key)
                    await settle(pilot)
                    new = toasts(app)
                    assert new and new[-1].endswith("is unavailable: read-only"), (key, new)

            await refused(*STORE_KEYS, "n")
            assert isinstance(app.screen, DashboardScreen)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, StoreScreen)
            await refused("c", "r", "s", "d", "x", "D", "n")
            await pilot.press("b")
            await settle(pilot)
            assert isinstance(app.screen, BulkScreen)
            await refused("c", "r")
            await pilot.press("escape")
            await settle(pilot)
            await pilot.press("e")
            await settle(pilot)
            assert isinstance(app.screen, SettingsScreen)
            await refused("s")
            await pilot.press("escape")
            await pilot.press("escape")
            await settle(pilot)
            await pilot.press("t")
            await settle(pilot)
            assert isinstance(app.screen, TroubleshootScreen)
            assert app.screen.current is not None  # a finding to fix
            await refused("enter")
            assert "read-only" in screen_text(app)
        assert writes() == before


class TestDatabaseLabel:
    def test_sqlite_path_under_home_is_shortened(self, monkeypatch, tmp_path) -> None:
        monkeypatch.setenv("HOME", str(tmp_path))
        assert database_label(f"sqlite:///{tmp_path}/data/shopsync.db") == "~/data/shopsync.db"
        assert database_label("sqlite:////srv/shopsync.db") == "/srv/shopsync.db"

    def test_postgres_names_host_and_database_never_credentials(self) -> None:
        label = database_label("postgresql://ops:hunter2@db.internal:5432/shopsync")
        assert label == "db.internal/shopsync"
        assert database_label("postgres://u:p@db:6543/x") == "db:6543/x"


HEADER_SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


@pytest.mark.parametrize("size", HEADER_SIZES)
class TestHeaderSnapshots:
    def test_demo_badge_and_database_path(self, snap_compare, make_app, fleet, size) -> None:
        app = make_app(demo=True, context="~/.local/share/shopsync/demo/shopsync.db")
        assert snap_compare(app, terminal_size=size, run_before=settle)

    def test_read_only_on_postgres(self, snap_compare, make_app, fleet, size) -> None:
        context = database_label("postgresql://ops:hunter2@db.internal/shopsync")
        app = make_app(read_only=True, context=context)
        assert snap_compare(app, terminal_size=size, run_before=settle)
