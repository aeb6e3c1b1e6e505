"""Dashboard: cards, 2D movement, filters, the table view, live updates, stale and empty states."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from engine.domain.status import EntityState, Status
from engine.persistence.models import EntitySync, Store
from tests.support import wait_until
from tests.tui.factories import ESCAPE_NAME, FROZEN_NOW, MARKUP_NAME
from tests.tui.screen_helpers import settle
from tui.screens.dashboard import EMPTY_FLEET, FIRST_PAGE, DashboardScreen
from tui.widgets.card_grid import CardGrid
from tui.widgets.filter_bar import FilterBar
from tui.widgets.fleet_header import FleetHeader
from tui.widgets.fleet_table import FleetTable


def card_text(grid: CardGrid, index: int) -> str:
    """The card of store `index` as drawn on screen, a line per line."""
    return "\n".join(strip.text for strip in grid.card_strips(index))


def names(stores: list[Any]) -> list[str]:
    return [s.name for s in stores]


class TestCards:
    async def test_every_store_is_listed_and_the_header_counts_them(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            grid = app.screen.query_one(CardGrid)
            assert len(grid.stores) == len(fleet)
            summary = app.screen.query_one(FleetHeader).summary
            assert summary.total == len(fleet)
            assert summary.by_status == {Status.CONNECTED: 9, Status.DISCONNECTED: 1,
                                         Status.ERROR: 3, Status.RECONNECT_REQUIRED: 2}
            header = app.screen.query_one(FleetHeader).render().plain
            for text in ("15 stores", "● Connected 9", "○ Disconnected 1", "✖ Error 3",
                         "▲ Reconnect required 2"):
                assert text in header

    async def test_only_a_screenful_of_cards_is_mounted(self, make_app, offline_runtime) -> None:
        from tests.tui.factories import bulk_fleet

        bulk_fleet(2000)
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            grid = app.screen.query_one(CardGrid)
            assert len(grid.stores) == 2000
            assert not grid.children  # one widget draws every card: none per store
            assert len(grid.visible_indices()) <= 3 * 7
            await pilot.press("end")
            await pilot.pause()
            assert grid.current.name == "Bulk Store 01999"
            shown = [grid.stores[i].name for i in grid.visible_indices()]
            assert "Bulk Store 01999" in shown
            assert len(shown) <= 3 * 7

    async def test_a_sort_by_more_than_the_name_gets_its_stores_decoded_by_the_read(
            self, make_app, offline_runtime) -> None:
        """The fleet read builds each store's id, domain, name and status; the rest is decoded
        on first use. In name order only what is drawn is decoded; a sort by problems (which
        reads the entities) gets the whole fleet decoded by the read, in the worker thread,
        not one store at a time while the UI thread sorts."""
        from tests.tui.factories import bulk_fleet

        bulk_fleet(500)
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = app.dashboard
            assert len(screen.all_stores) == 500
            decoded = [s for s in screen.all_stores if s.decoded()]
            assert 0 < len(decoded) < 100  # a screenful, drawn

            def read() -> list[Any]:  # what a poll's worker reads, in a thread of its own
                with app.runtime.db.connection_context():
                    return screen.load()[0]

            assert not any(s.decoded() for s in await asyncio.to_thread(read))
            await pilot.press("o")  # problems first
            assert screen.sort == "problems"
            assert all(s.decoded() for s in await asyncio.to_thread(read))

    async def test_the_first_frame_shows_a_screenful_then_the_whole_fleet_follows(
            self, make_app, offline_runtime) -> None:
        from tests.tui.factories import bulk_fleet

        bulk_fleet(2000)
        app = make_app()
        grid = app.dashboard.shown_view
        drawn: list[int] = []  # how many stores the grid had each time it drew a line
        draw = grid.render_line

        def render_line(y: int) -> Any:
            drawn.append(len(grid.stores))
            return draw(y)

        grid.render_line = render_line  # type: ignore[method-assign]
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await wait_until(pilot, lambda: app.dashboard.fleet_loaded)
            # The very first line drawn already has the first screenful (read before the
            # first frame), never an empty grid; the whole fleet replaces it afterwards.
            assert drawn[0] == FIRST_PAGE
            assert len(grid.stores) == 2000
            assert grid.stores[0].name == "Bulk Store 00000"

    async def test_the_gc_is_paused_until_the_first_frame_then_runs_again(
            self, make_app, fleet) -> None:
        """The start runs without the cyclic GC (tui/app.py on_load) and the first frame
        draws stores with it paused; the GC runs again once that frame is painted, and what
        the start built is in the old generation, not frozen."""
        import gc

        app = make_app()
        grid = app.dashboard.shown_view
        enabled: list[bool] = []  # whether the GC ran, each time the grid drew a line
        draw = grid.render_line

        def render_line(y: int) -> Any:
            enabled.append(gc.isenabled())
            return draw(y)

        grid.render_line = render_line  # type: ignore[method-assign]
        assert gc.isenabled()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert enabled and not enabled[0]
            assert gc.isenabled() and gc.get_freeze_count() == 0
        assert gc.isenabled()

    async def test_the_gc_runs_again_when_the_start_fails(self, make_app, fleet) -> None:
        """A start that fails before its first frame does not leave the GC paused."""
        import gc

        app = make_app()

        def failing_compose() -> Any:
            raise RuntimeError("compose failed")

        app.dashboard.compose = failing_compose  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="compose failed"):
            async with app.run_test(size=(120, 40)) as pilot:
                await settle(pilot)
        assert gc.isenabled()

    async def test_markup_and_escape_sequences_render_literally(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            grid = app.screen.query_one(CardGrid)
            cards = {grid.stores[i].name: card_text(grid, i) for i in grid.visible_indices()}
            markup = cards[MARKUP_NAME]
            assert "[bold red]x[/]" in markup
            hostile = cards[ESCAPE_NAME]
            assert "Evil ␛[31mRed␛[0m Shop" in hostile
            assert "\x1b" not in hostile and "\x07" not in hostile
            screen_text = app.export_screenshot()
            assert "\x1b[31m" not in screen_text and "\x1b[2J" not in screen_text


class TestMovement:
    async def test_arrows_and_hjkl_move_in_two_dimensions(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            grid = app.screen.query_one(CardGrid)
            assert grid.columns == 3
            stores = grid.stores
            assert grid.cursor == 0
            await pilot.press("l", "right")
            assert grid.current == stores[2]
            await pilot.press("j")
            assert grid.current == stores[5]
            await pilot.press("down")
            assert grid.current == stores[8]
            await pilot.press("k", "up")
            assert grid.current == stores[2]
            await pilot.press("h", "left")
            assert grid.current == stores[0]

    async def test_left_and_right_wrap_at_row_ends(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            grid = app.screen.query_one(CardGrid)
            await pilot.press("l", "l", "l")
            assert grid.cursor == 3  # first card of the second row
            await pilot.press("h")
            assert grid.cursor == 2  # last card of the first row
            await pilot.press("h", "h", "h")
            assert grid.cursor == 0  # stops at the first store

    async def test_columns_follow_the_width(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            grid = app.screen.query_one(CardGrid)
            assert grid.columns == 2
            await pilot.press("j")
            assert grid.cursor == 2

    async def test_down_on_the_row_above_a_short_last_row_goes_to_the_last_store(
        self, make_app, fleet
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:  # 15 stores in 2 columns
            await settle(pilot)
            grid = app.screen.query_one(CardGrid)
            await pilot.press("end")
            assert grid.cursor == 14
            await pilot.press("k", "l", "j")
            assert grid.cursor == 14

    async def test_moving_far_down_scrolls_the_cursor_into_view(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            grid = app.screen.query_one(CardGrid)
            for _ in range(6):
                await pilot.press("j")
            await pilot.pause()
            assert grid.scroll_y > 0
            heavy = [i for i in grid.visible_indices() if card_text(grid, i).startswith("┏")]
            assert heavy == [grid.cursor]  # the one card drawn as the cursor
            region = grid.card_region(grid.cursor).translate((0, -int(grid.scroll_y)))
            assert region.y >= 0
            assert region.bottom <= grid.scrollable_content_region.height


class TestFilter:
    async def test_filter_by_name(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("slash", *"berlin")
            grid = app.screen.query_one(CardGrid)
            assert names(grid.stores) == ["Berlin Bikes"]
            assert "(1 shown)" in app.screen.query_one(FleetHeader).render().plain

    async def test_filter_by_domain_keeps_focus_on_the_cards_after_enter(
        self, make_app, fleet
    ) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("slash", *"mega-mart", "enter")
            grid = app.screen.query_one(CardGrid)
            assert names(grid.stores) == ["Mega Mart"]
            assert app.focused is grid

    async def test_status_filter_cycles_and_escape_clears_everything(
        self, make_app, fleet
    ) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            grid = app.screen.query_one(CardGrid)
            await pilot.press("f")
            assert {s.status for s in grid.stores} == {Status.CONNECTED}
            await pilot.press("f", "f")
            assert {s.status for s in grid.stores} == {Status.ERROR}
            assert len(grid.stores) == 3
            await pilot.press("escape")
            await pilot.pause()
            assert len(grid.stores) == len(fleet)
            assert app.screen.query_one("#filter-bar").has_class("-hidden")

    async def test_escape_in_the_filter_field_clears_it(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("slash", *"zzz")
            assert app.screen.query_one(CardGrid).stores == []
            assert "No store matches" in str(app.screen.query_one("#empty-text").render())
            await pilot.press("escape")
            await pilot.pause()
            assert len(app.screen.query_one(CardGrid).stores) == len(fleet)
            assert app.focused is app.screen.query_one(CardGrid)


class TestTableView:
    async def test_v_toggles_the_table_and_keeps_the_selected_store(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("l", "j")
            chosen = app.screen.query_one(CardGrid).current
            await pilot.press("v")
            table = app.screen.query_one(FleetTable)
            assert table.display and not app.screen.query_one(CardGrid).display
            assert app.focused is table
            assert table.current == chosen
            await pilot.press("j")
            moved = table.current
            assert moved != chosen
            await pilot.press("v")
            assert app.screen.query_one(CardGrid).current == moved

    async def test_table_lines_show_every_column(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("v")
            await pilot.pause()
            table = app.screen.query_one(FleetTable)
            header = table.render_line(0).text
            for title in ("Name", "Domain", "Status", "Records", "Last sync"):
                assert title in header
            mega = table.stores.index(next(s for s in table.stores if s.name == "Mega Mart"))
            line = table.render_line(mega + 1).text
            assert "large-mega-mart.myshopify.com" in line and "1,262,019" in line
            assert "2 h ago" in line


class TestLiveUpdates:
    async def test_a_change_updates_cards_in_place_without_moving_the_cursor(
        self, make_app, fleet
    ) -> None:
        app = make_app(poll=True, poll_interval=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            grid = app.screen.query_one(CardGrid)
            for key in ("j", "j", "l"):
                await pilot.press(key)
            await pilot.pause()
            before_id, before_scroll = grid.current.id, grid.scroll_y
            widgets_before = list(app.screen.walk_children())
            target = fleet["syncing"]
            later = FROZEN_NOW + timedelta(seconds=30)  # writers bump updated_at
            EntitySync.update(state=EntityState.SYNCED.value, done=0, total=None,
                              updated_at=later).where(
                EntitySync.store == target.id).execute()
            Store.update(name="Sunrise Surf & Sail", updated_at=later).where(
                Store.id == target.id).execute()
            await wait_until(pilot, lambda: any(s.name == "Sunrise Surf & Sail"
                                                for s in grid.stores))
            renamed = next(s for s in grid.stores if s.id == target.id)
            assert all(r.state is EntityState.SYNCED for r in renamed.entities)
            assert grid.current.id == before_id
            assert grid.scroll_y == before_scroll
            assert list(app.screen.walk_children()) == widgets_before  # nothing remounted

    async def test_polling_pauses_while_a_modal_is_open(self, make_app, fleet) -> None:
        app = make_app(poll=True, poll_interval=0.05)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("m")
            await pilot.pause()
            Store.update(name="Renamed While Menu Open",
                         updated_at=FROZEN_NOW + timedelta(seconds=30)).where(
                Store.id == fleet["healthy"].id).execute()
            dashboard = app.dashboard
            polls = dashboard._live_started
            dashboard._live_tick()  # what the poll timer does: under the menu, it stops
            assert dashboard._live_started == polls and dashboard._live_timer is None
            assert "Renamed While Menu Open" not in names(dashboard.all_stores)
            await pilot.press("escape")
            await wait_until(pilot, lambda: "Renamed While Menu Open" in names(
                dashboard.all_stores))

    async def test_a_poll_reads_only_the_stores_that_changed(
        self, make_app, fleet, monkeypatch
    ) -> None:
        """An idle poll reads nothing but the change log; after one store changed, a poll
        reads that one store, not the fleet."""
        import tui.screens.dashboard as dashboard

        app = make_app(poll=True, poll_interval=0.05)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            full_reads: list[int] = []
            partial_reads: list[list[int]] = []
            real_list, real_some = dashboard.list_stores, dashboard.store_summaries
            monkeypatch.setattr(dashboard, "list_stores",
                                lambda: full_reads.append(1) or real_list())
            monkeypatch.setattr(dashboard, "store_summaries",
                                lambda ids: partial_reads.append(list(ids)) or real_some(ids))
            screen = app.dashboard
            polls = screen._live_started
            while screen._live_started < polls + 5:  # idle polls
                await pilot.pause(0.02)
            assert full_reads == [] and partial_reads == []
            target = fleet["new"]
            Store.update(name="Only This One").where(Store.id == target.id).execute()
            for _ in range(100):
                await pilot.pause(0.02)
                if "Only This One" in names(screen.all_stores):
                    break
            assert "Only This One" in names(screen.all_stores)
            assert full_reads == [] and partial_reads == [[target.id]]
            assert len(screen.all_stores) == len(fleet)
            assert app.screen.query_one(FleetHeader).summary.total == len(fleet)

    async def test_polls_keep_their_connection_and_the_app_closes_it(self, make_app,
                                                                     fleet) -> None:
        """On SQLite a poll's thread keeps its connection for its next poll (opening one
        reads the whole schema, ~5 ms of CPU a poll), still sees every write, and the app
        closes the connections it kept as it ends."""
        import sqlite3

        app = make_app(poll=True, poll_interval=0.02)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = app.dashboard
            polls = screen._live_started
            assert await wait_until(pilot, lambda: screen._live_started >= polls + 10)
            kept = app.kept_connections.connections()
            assert 1 <= len(kept) <= 3  # one per thread that polled, not one per poll
            Store.update(name="Seen Through A Kept Connection").where(
                Store.id == fleet["new"].id).execute()
            assert await wait_until(pilot, lambda: "Seen Through A Kept Connection" in names(
                screen.all_stores))
        assert len(app.kept_connections) == 0 and app.kept_connections.closed
        for connection in kept:
            with pytest.raises(sqlite3.ProgrammingError):  # closed
                connection.execute("SELECT 1")

    async def test_an_unreadable_database_marks_the_header_stale(
        self, make_app, fleet, monkeypatch
    ) -> None:
        import tui.screens.dashboard as dashboard

        app = make_app(poll=True, poll_interval=0.05)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)

            def broken(_cursor: object) -> tuple:
                raise OSError("disk I/O error")

            monkeypatch.setattr(dashboard, "changes_since", broken)
            header = app.screen.query_one(FleetHeader)
            await wait_until(pilot, lambda: header.stale)
            assert "stale" in header.render().plain and "disk I/O error" in header.stale
            assert len(app.screen.query_one(CardGrid).stores) == len(fleet)  # old data kept
            monkeypatch.undo()
            Store.update(updated_at=FROZEN_NOW + timedelta(seconds=30)).where(
                Store.id == fleet["new"].id).execute()
            await wait_until(pilot, lambda: header.stale is None)


class TestEmptyFleet:
    async def test_an_empty_fleet_says_how_to_connect_a_store(
        self, make_app, offline_runtime
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, DashboardScreen)
            empty = app.screen.query_one("#empty")
            assert empty.display and not empty.has_class("-hidden")
            assert str(app.screen.query_one("#empty-text").render()) == EMPTY_FLEET
            assert "Press n to connect" in EMPTY_FLEET

    async def test_keys_still_work_after_a_dialog_closes_over_an_empty_fleet(
        self, make_app, offline_runtime
    ) -> None:
        """Closing the Connect drawer must not hand the focus to the hidden filter field,
        where `q` and every other key would be typed as filter text."""
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await settle(pilot)
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, DashboardScreen)
            assert app.focused is None or app.focused.id != "filter-text"
            assert app.screen.query_one(FilterBar).has_class("-hidden")
            await pilot.press("q")
            await settle(pilot)
        assert app.return_code is not None or not app.is_running

    async def test_the_cards_take_the_focus_when_the_first_store_arrives(
        self, make_app, offline_runtime
    ) -> None:
        from tests.tui.factories import make_store

        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert app.focused is None  # nothing to focus in an empty fleet
            make_store("aaa-store.myshopify.com", "Aaa Store")
            make_store("bbb-store.myshopify.com", "Bbb Store")
            app.dashboard.refresh_now(force=True)
            await settle(pilot)
            grid = app.screen.query_one(CardGrid)
            assert app.focused is grid
            await pilot.press("l")  # the movement keys work at once
            assert grid.current.name == "Bbb Store"
