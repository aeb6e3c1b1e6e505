"""Command palette providers: jump to a store, act on the selected store, markup-safe prompts."""

from __future__ import annotations

from engine.persistence.models import Job
from tests.support import wait_until
from tests.tui.factories import MARKUP_NAME
from tests.tui.screen_helpers import settle
from tui.commands import StoreActionCommands, StoreCommands
from tui.widgets.card_grid import CardGrid


class TestStoreCommands:
    async def test_search_finds_a_store_and_jumps_to_it(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            provider = StoreCommands(app.screen)
            hits = sorted([hit async for hit in provider.search("mega mart")],
                          key=lambda hit: -hit.score)  # the palette shows the best first
            assert hits[0].text == "Open store: Mega Mart (large-mega-mart.myshopify.com)"
            # Choosing it puts the cursor on its card (and opens the store screen).
            app.request_action = lambda action, store, **kw: opened.append((action, store.name))
            opened: list[tuple[str, str]] = []
            hits[0].command()
            await pilot.pause()
            assert app.screen_stack[0].query_one(CardGrid).current.name == "Mega Mart"
            assert opened == [("open", "Mega Mart")]

    async def test_prompts_show_hostile_names_literally(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            provider = StoreCommands(app.screen)
            hits = [hit async for hit in provider.search("bold red")]
            prompt = next(h.prompt for h in hits if MARKUP_NAME in h.text)
            assert MARKUP_NAME in prompt.plain  # a Content: shown as typed, not parsed
            evil = [hit async for hit in provider.search("evil")]
            assert "\x1b" not in evil[0].prompt.plain


class TestStoreActionCommands:
    async def test_only_actions_that_can_run_are_offered(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            paused = fleet["paused"]
            app.screen.select_store(paused.id)
            provider = StoreActionCommands(app.screen)
            offered = [hit.text async for hit in provider.discover()]
            assert offered == [f"{label}: Paused Pottery" for label in (
                "Check health", "Reconnect", "Delete", "Sync settings", "View details",
                "Bulk operations")]

    async def test_running_one_goes_through_the_store_actions(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.screen.select_store(fleet["failing"].id)
            provider = StoreActionCommands(app.screen)
            hits = [hit async for hit in provider.search("retry")]
            assert hits[0].text == "Retry failed: Berlin Bikes"
            hits[0].command()
            await wait_until(pilot, lambda: Job.select().where(Job.kind == "sync").exists())
            job = Job.get(Job.kind == "sync")
            assert (job.store_id, job.entity) == (fleet["failing"].id, "orders")
