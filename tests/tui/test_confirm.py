"""ConfirmScreen and DeleteConfirmScreen: safe by default, typed name for delete, snapshots."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App
from textual.widgets import Button, Input

from engine.domain.status import DISCONNECT_CONFIRM, Entity
from engine.persistence.models import Job, Store
from engine.persistence.reads import store_detail
from tests.tui.factories import add_records, make_store
from tests.tui.screen_helpers import pressing, screen_text, settle
from tui.screens.confirm import ConfirmScreen, DeleteConfirmScreen, delete_answers
from tui.screens.store import StoreScreen

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


class Host(App[None]):
    """A bare app that shows one dialog and records how it was dismissed."""

    def __init__(self, dialog: ConfirmScreen) -> None:
        super().__init__()
        self.dialog = dialog
        self.results: list[bool | None] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.results.append)


def disconnect_dialog() -> ConfirmScreen:
    return ConfirmScreen("Disconnect Acme?", DISCONNECT_CONFIRM, "Disconnect", destructive=True)


@pytest.fixture
def doomed(offline_runtime: Any) -> Store:
    store = make_store("doomed-shop.myshopify.com", "Doomed Déco [x]")
    add_records(store, Entity.CUSTOMERS, 12)
    add_records(store, Entity.ORDERS, 34)
    return store


class TestConfirmScreen:
    async def test_cancel_is_focused_and_enter_cancels(self) -> None:
        app = Host(disconnect_dialog())
        async with app.run_test() as pilot:
            await pilot.pause()
            assert app.focused is not None and app.focused.id == "cancel"
            assert DISCONNECT_CONFIRM in screen_text(app)
            await pilot.press("enter")
            await pilot.pause()
        assert app.results == [False]

    async def test_escape_cancels(self) -> None:
        app = Host(disconnect_dialog())
        async with app.run_test() as pilot:
            await pilot.pause()
            await pilot.press("escape")
            await pilot.pause()
        assert app.results == [False]

    async def test_confirm_button_confirms(self) -> None:
        app = Host(disconnect_dialog())
        async with app.run_test() as pilot:
            await pilot.pause()
            await pilot.press("tab")
            assert app.focused is not None and app.focused.id == "confirm"
            await pilot.press("enter")
            await pilot.pause()
        assert app.results == [True]

    @pytest.mark.parametrize(("key", "result"), [("y", True), ("n", False)])
    async def test_y_confirms_and_n_cancels(self, key: str, result: bool) -> None:
        app = Host(disconnect_dialog())
        async with app.run_test() as pilot:
            await pilot.pause()
            await pilot.press(key)
            await pilot.pause()
        assert app.results == [result]

    async def test_markup_in_text_is_shown_literally(self) -> None:
        dialog = ConfirmScreen("Re-sync [bold]x[/]?", "Store \x1b[31mred", "Re-sync")
        app = Host(dialog)
        async with app.run_test() as pilot:
            await pilot.pause()
            text = screen_text(app)
        assert "Re-sync [bold]x[/]?" in text
        assert "\x1b" not in text and "Store ␛[31mred" in text


class TestDeleteConfirmScreen:
    async def test_lists_record_counts_and_grant(self, doomed: Store) -> None:
        app = Host(DeleteConfirmScreen(store_detail(doomed.id)))
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            text = screen_text(app)
        assert "Delete Doomed Déco [x]?" in text
        assert "Customers: 12 · Orders: 34" in text and "Products: 0" in text
        assert "The OAuth grant in Shopify is revoked" in text

    async def test_wrong_name_keeps_delete_disabled(self, doomed: Store) -> None:
        app = Host(DeleteConfirmScreen(store_detail(doomed.id)))
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            delete = app.screen.query_one("#confirm", Button)
            assert delete.disabled
            await pilot.press("tab")  # to the name field
            assert isinstance(app.focused, Input)
            await pilot.press(*"doomed-sho")
            await pilot.pause()
            assert delete.disabled
            await pilot.press("enter")  # enter in the field never deletes
            await pilot.pause()
            assert app.results == [] and delete.disabled
            await pilot.click("#confirm")
            await pilot.pause()
            assert app.results == []

    @pytest.mark.parametrize("answer", ["Doomed Déco [x]", "doomed-shop"])
    async def test_name_or_store_name_part_enables_delete(self, doomed: Store,
                                                          answer: str) -> None:
        app = Host(DeleteConfirmScreen(store_detail(doomed.id)))
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            await pilot.press("tab", *answer)
            await pilot.pause()
            assert not app.screen.query_one("#confirm", Button).disabled
            await pilot.press("enter")  # the name matches: enter in the field confirms
            await pilot.pause()
        assert app.results == [True]

    async def test_y_never_deletes_and_letters_are_name_text(self, doomed: Store) -> None:
        app = Host(DeleteConfirmScreen(store_detail(doomed.id)))
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            await pilot.press("y", "n")  # Cancel focused: neither confirms nor cancels
            await pilot.pause()
            assert app.results == []
            await pilot.press("tab", "y", "n")  # in the field they are text
            await pilot.pause()
            assert app.screen.query_one(Input).value == "yn" and app.results == []

    async def test_escape_cancels_even_with_the_name_typed(self, doomed: Store) -> None:
        app = Host(DeleteConfirmScreen(store_detail(doomed.id)))
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            await pilot.press("tab", *"doomed-shop", "escape")
            await pilot.pause()
        assert app.results == [False]

    def test_answers(self, doomed: Store) -> None:
        assert delete_answers(store_detail(doomed.id)) == ["Doomed Déco [x]", "doomed-shop"]


class TestDeleteFromStoreScreen:
    async def test_delete_needs_the_typed_name(self, make_app, doomed: Store) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.push_screen(StoreScreen(doomed.id))
            await settle(pilot)
            await pilot.press("D")
            await settle(pilot)
            assert isinstance(app.screen, DeleteConfirmScreen)
            await pilot.press("enter")  # default focus: Cancel
            await settle(pilot)
            assert isinstance(app.screen, StoreScreen)
            assert not Store.get_by_id(doomed.id).deleting
            await pilot.press("D")
            await settle(pilot)
            await pilot.press("tab", *"doomed-shop", "enter")
            await settle(pilot)
            assert Store.get_by_id(doomed.id).deleting
            assert Job.select().where((Job.kind == "delete")
                                      & (Job.store_id == doomed.id)).count() == 1


@pytest.mark.parametrize("size", SIZES)
class TestConfirmSnapshots:
    def test_disconnect_confirm(self, snap_compare, make_app, fleet, size) -> None:
        def setup(app: Any) -> None:
            app.push_screen(StoreScreen(fleet["healthy"].id))

        assert snap_compare(make_app(), terminal_size=size, run_before=pressing("d", setup=setup))

    def test_delete_confirm_with_wrong_name(self, snap_compare, make_app, doomed, size) -> None:
        def setup(app: Any) -> None:
            app.push_screen(StoreScreen(doomed.id))

        assert snap_compare(make_app(), terminal_size=size,
                            run_before=pressing("D", "tab", "d", "o", "o", setup=setup))
