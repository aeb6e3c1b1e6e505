"""Breakage notifications (and the --bell) while the dashboard is open; the sort orders, the
status sort and the table's sortable columns."""

from __future__ import annotations

from typing import Any

from engine.domain.status import EntityState, Status
from engine.persistence.models import EntitySync
from engine.persistence.records import refresh_status
from tests.tui.screen_helpers import settle, toasts
from tui.fleet_order import PROBLEM_RANK
from tui.messages import DataChanged
from tui.widgets.fleet_header import FleetHeader
from tui.widgets.fleet_table import FleetTable


def break_store(store: Any) -> None:
    EntitySync.update(state=EntityState.FAILED.value, error="Bulk operation failed: TIMEOUT").where(
        (EntitySync.store == store.id) & (EntitySync.entity == "orders")).execute()
    refresh_status(store.id)


def shown(app: Any) -> list[Any]:
    return list(app.dashboard.shown_view.stores)


class TestBreakageNotification:
    async def test_a_store_turning_error_is_named_and_rings_the_bell(
        self, make_app, fleet
    ) -> None:
        app = make_app(bell=True)
        rings: list[int] = []
        app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert toasts(app) == [] and rings == []  # already broken at start: not news
            break_store(fleet["healthy"])
            app.post_message(DataChanged(fleet["healthy"].id))
            await settle(pilot)
            assert toasts(app) == ["Acme Outdoor turned Error: Orders sync failed: Bulk "
                                   "operation failed: TIMEOUT"]
            assert rings == [1]
            app.post_message(DataChanged(None))  # still broken: no second alert
            await settle(pilot)
            assert len(toasts(app)) == 1 and rings == [1]

    async def test_reconnect_required_alerts_without_a_bell_unless_asked(
        self, make_app, fleet
    ) -> None:
        app = make_app()
        rings: list[int] = []
        app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            store = fleet["large"]
            store.needs_reauth, store.reauth_reason = True, "App uninstalled in Shopify"
            store.save()
            refresh_status(store.id)
            app.post_message(DataChanged(store.id))
            await settle(pilot)
            assert toasts(app) == ["Mega Mart turned Reconnect required: App uninstalled in "
                                   "Shopify"]
            assert rings == []


class TestSorting:
    async def test_o_cycles_problems_first_then_status_and_O_reverses(
        self, make_app, fleet
    ) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            names = [s.name for s in shown(app)]
            assert names == sorted(names, key=str.casefold)
            await pilot.press("o")
            await settle(pilot)
            ranks = [PROBLEM_RANK[s.status] for s in shown(app)]
            assert ranks == sorted(ranks) and ranks[0] == PROBLEM_RANK[Status.ERROR]
            assert "sorted: Problems first" in str(
                app.dashboard.query_one(FleetHeader).render())
            await pilot.press("o")
            await settle(pilot)
            labels = [s.status.label for s in shown(app)]
            assert labels == sorted(labels)
            await pilot.press("O")
            await settle(pilot)
            assert [s.status.label for s in shown(app)] == sorted(labels, reverse=True)

    async def test_clicking_a_table_header_sorts_by_that_column(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("v")
            await settle(pilot)
            table = app.dashboard.query_one(FleetTable)
            width = table.size.width
            x = next(x for x in range(width) if table.column_at(x, width) == "records")
            await pilot.click(FleetTable, offset=(x, 0))
            await settle(pilot)
            records = [s.records_total for s in shown(app)]
            assert records == sorted(records, reverse=True) and records[0] == 1_262_019
            assert "Records ↓" in str(table._header(width))
            await pilot.click(FleetTable, offset=(x, 0))  # again: reversed
            await settle(pilot)
            assert [s.records_total for s in shown(app)] == sorted(records)


class TestWhoDidIt:
    async def test_an_action_from_the_dashboard_records_user_host_and_tui(
        self, make_app, fleet
    ) -> None:
        import getpass
        import socket

        from engine.persistence.models import Event
        from engine.persistence.reads import events

        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = app.dashboard
            screen.select_store(fleet["failing"].id)
            await pilot.press("r")
            await settle(pilot)
        who = f"{getpass.getuser()}@{socket.gethostname()} (TUI)"
        retry = Event.select().where(Event.kind == "action").order_by(Event.id.desc()).get()
        assert retry.message.startswith("Retry") and retry.data["actor"] == who
        rows = events(store_id=fleet["failing"].id, limit=5)
        assert next(r for r in rows if r.id == retry.id).actor == who

    async def test_the_web_console_records_web(self, make_app, fleet) -> None:
        """`shopsync web` runs each browser session as `tui --origin web`."""
        from engine.persistence.models import Event
        from tui.web import app_command

        assert "--origin web" in app_command(read_only=False)
        app = make_app(origin="web")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.dashboard.select_store(fleet["failing"].id)
            await pilot.press("r")
            await settle(pilot)
        retry = Event.select().where(Event.kind == "action").order_by(Event.id.desc()).get()
        assert retry.message.startswith("Retry") and retry.data["actor"].endswith(" (web)")

    def test_the_cli_records_cli(self, offline_runtime, fleet) -> None:
        from engine import actions
        from engine.persistence.models import Event

        actions.use_runtime(offline_runtime)
        actions.set_origin("cli")
        actions.check_health(fleet["healthy"].id)
        event = Event.select().where(Event.kind == "action").order_by(Event.id.desc()).get()
        assert event.data["actor"].endswith(" (CLI)") and "@" in event.data["actor"]
        status = Event.select().where(Event.kind == "status").first()
        assert status is None or "actor" not in (status.data or {})  # not an operator's
