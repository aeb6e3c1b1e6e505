"""The activity log: newest first, text and kind filters, history on demand, live updates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from textual.widgets import Input, Select

from engine.persistence.models import Event, Store
from tests.support import wait_until
from tests.tui.factories import add_event, make_store
from tests.tui.screen_helpers import pressing, screen_text, settle, type_into
from tui.screens.activity import PAGE, ActivityScreen
from tui.widgets.event_log import EventLog

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


@pytest.fixture
def history(offline_runtime: Any) -> dict[str, Store]:
    """Two stores with a mixed history: 2 × 130 events of every kind, oldest first."""
    a = make_store("alpine-gear.myshopify.com", "Alpine Gear")
    b = make_store("bay-books.myshopify.com", "Bay Books")
    kinds = ["action", "status", "sync", "health", "webhook"]
    for i in range(130):
        for store in (a, b):
            kind = kinds[i % len(kinds)]
            add_event(store, f"{store.name} {kind} #{i}", kind=kind,
                      level="error" if kind == "sync" else "info",
                      ago=timedelta(minutes=300 - i))
    return {"a": a, "b": b}


async def open_activity(pilot: Any) -> ActivityScreen:
    await settle(pilot)
    await pilot.press("L")
    await settle(pilot)
    assert isinstance(pilot.app.screen, ActivityScreen)
    return pilot.app.screen


class TestActivity:
    async def test_newest_first_with_store_and_kind(self, make_app, history) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_activity(pilot)
            log = screen.query_one(EventLog)
            text = screen_text(app)
        assert [r.message for r in log.rows[:2]] == ["Bay Books webhook #129",
                                                     "Alpine Gear webhook #129"]
        ids = [r.id for r in log.rows]
        assert ids == sorted(ids, reverse=True) and len(ids) == PAGE
        assert "bay-books.myshopify.com" in text and "webhook" in text
        assert f"{PAGE:,}+ events" in text

    async def test_the_highlighted_event_is_shown_in_full(self, make_app, offline_runtime
                                                          ) -> None:
        store = make_store("long-errors.myshopify.com", "Long Errors")
        long = "Orders sync failed: " + "the upstream answered with a very long reason " * 4
        add_event(store, "short one", kind="action", ago=timedelta(minutes=5))
        add_event(store, long + "END", kind="sync", level="error", ago=timedelta(minutes=1))
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_activity(pilot)
            full = str(screen.query_one("#full").render())
            assert full.replace("\n", " ").count("END") == 1  # cut in the log, whole here
            assert "long-errors.myshopify.com · sync" in full
            await pilot.press("j")
            await settle(pilot)
            assert "short one" in str(screen.query_one("#full").render())

    async def test_text_filter(self, make_app, history) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_activity(pilot)
            await pilot.press("slash")
            await type_into(pilot, screen.query_one("#text", Input), "alpine gear sync")
            await settle(pilot)
            rows = screen.query_one(EventLog).rows
            assert len(rows) == 26
            assert all(r.message.startswith("Alpine Gear sync") for r in rows)
            assert "(filtered)" in screen_text(app)
            await type_into(pilot, screen.query_one("#text", Input), "bay-books")
            await settle(pilot)  # matched against the store's domain too
            assert {r.store_domain for r in screen.query_one(EventLog).rows} == {
                "bay-books.myshopify.com"}

    async def test_kind_filter_cycles_and_selects(self, make_app, history) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_activity(pilot)
            await pilot.press("f")  # action
            await settle(pilot)
            assert {r.kind for r in screen.query_one(EventLog).rows} == {"action"}
            screen.query_one("#kind", Select).value = "webhook"
            await settle(pilot)
            rows = screen.query_one(EventLog).rows
            assert {r.kind for r in rows} == {"webhook"} and len(rows) == 52
            await pilot.press("f")  # connect: none in this history
            await settle(pilot)
            assert screen.query_one(EventLog).rows == []
            assert "No activity matches" in screen_text(app)
            await pilot.press("f")  # back to every kind
            await settle(pilot)
            assert len({r.kind for r in screen.query_one(EventLog).rows}) == 5

    async def test_scrolling_to_the_end_loads_older_history(self, make_app, history) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_activity(pilot)
            log = screen.query_one(EventLog)
            assert len(log.rows) == PAGE and not log.exhausted
            await pilot.press("end")
            assert await wait_until(pilot, lambda: len(log.rows) == 260)
            await settle(pilot)
            assert log.exhausted and log.rows[-1].message == "Alpine Gear action #0"
            assert [r.id for r in log.rows] == sorted((r.id for r in log.rows), reverse=True)

    async def test_live_events_keep_a_scrolled_position(self, make_app, history) -> None:
        app = make_app(poll=True, poll_interval=0.05)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_activity(pilot)
            log = screen.query_one(EventLog)
            await pilot.press("pagedown", "down")
            await pilot.pause()
            before = log.highlighted
            top = log.rows[int(log.scroll_y)]
            assert before is not None and log.scroll_y > 0
            add_event(history["a"], "brand new", ago=timedelta(0))
            assert await wait_until(pilot, lambda: log.rows[0].message == "brand new")
            assert log.highlighted == before and log.rows[int(log.scroll_y)] == top
            await pilot.press("home")
            add_event(history["b"], "newer still", ago=timedelta(0))
            assert await wait_until(pilot, lambda: log.rows[0].message == "newer still")
            assert log.cursor == 0 and log.scroll_y == 0  # at the top it follows the news

    async def test_one_store_only(self, make_app, history) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.push_screen(ActivityScreen(store_id=history["a"].id))
            await settle(pilot)
            rows = app.screen.query_one(EventLog).rows
            assert {r.store_domain for r in rows} == {"alpine-gear.myshopify.com"}
            assert "Activity · Alpine Gear" in screen_text(app)

    async def test_untrusted_messages_are_plain_text(self, make_app, offline_runtime) -> None:
        store = make_store("odd-shop.myshopify.com", "Odd")
        add_event(store, "[bold]loud[/] \x1b[2J gone", kind="webhook")
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await open_activity(pilot)
            text = screen_text(app)
        assert "[bold]loud[/] ␛[2J gone" in text and "\x1b" not in text

    async def test_escape_leaves_the_filter_then_the_screen(self, make_app, history) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_activity(pilot)
            await pilot.press("slash", "escape")
            assert isinstance(app.focused, EventLog)
            await pilot.press("escape")
            await settle(pilot)
            assert not isinstance(app.screen, ActivityScreen)
            assert screen is not app.screen and Event.select().count() == 260


@pytest.mark.parametrize("size", SIZES)
class TestActivitySnapshots:
    def test_all_events(self, snap_compare, make_app, fleet, size) -> None:
        assert snap_compare(make_app(), terminal_size=size, run_before=pressing("L"))

    def test_filtered_by_kind(self, snap_compare, make_app, history, size) -> None:
        assert snap_compare(make_app(), terminal_size=size,
                            run_before=pressing("L", "f", "f", "f"))
