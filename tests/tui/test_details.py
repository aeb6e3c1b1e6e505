"""The Details drawer: store information, scopes, readiness with cause and fix, webhooks."""

from __future__ import annotations

from typing import Any

import pytest

from engine.domain.status import CHECK_TEXT, Check
from engine.persistence.models import Store
from tests.tui.factories import make_store
from tests.tui.screen_helpers import pressing, screen_text, settle
from tui.screens.details import DetailsScreen
from tui.screens.settings import SettingsScreen
from tui.screens.store import StoreScreen

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


@pytest.fixture
def troubled(offline_runtime: Any) -> Store:
    """Failed health checks, a missing scope and no webhooks registered."""
    store = make_store(
        "troubled-toys.myshopify.com", "Troubled Toys",
        granted_scopes=("read_customers", "read_products"), health_ok=False,
        failing_checks=(Check.API_RESPONDING, Check.SCOPES_GRANTED),
        custom_domain="shop.troubled.example",
    )
    Store.update(webhooks_registered_at=None).where(Store.id == store.id).execute()
    return store


async def open_details(pilot: Any, store_id: int) -> DetailsScreen:
    await settle(pilot)
    pilot.app.push_screen(StoreScreen(store_id))
    await settle(pilot)
    await pilot.press("i")
    await settle(pilot)
    assert isinstance(pilot.app.screen, DetailsScreen)
    return pilot.app.screen


class TestDetails:
    async def test_store_information_fields(self, make_app, troubled) -> None:
        app = make_app()
        async with app.run_test(size=(120, 60)) as pilot:
            await open_details(pilot, troubled.id)
            text = screen_text(app)
        for label, value in [
            ("Store domain", "troubled-toys.myshopify.com"),
            ("Email", "owner@troubled-toys.myshopify.com"),
            ("Custom domain", "shop.troubled.example"),
            ("Plan", "Basic"), ("Currency", "EUR"), ("Country", "Germany"),
            ("Created", "2026-10-28 10:00 UTC (30 d ago)"),
        ]:
            line = next(row for row in text.splitlines() if label in row and value in row)
            assert line.index(label) < line.index(value)

    async def test_missing_scope_and_failed_checks_with_cause_and_fix(self, make_app,
                                                                     troubled) -> None:
        app = make_app()
        async with app.run_test(size=(120, 60)) as pilot:
            await open_details(pilot, troubled.id)
            text = screen_text(app)
        assert "✔ read_customers" in text and "✔ read_products" in text
        assert "✖ read_orders · missing (Orders, checkouts, and carts)" in text
        for check in (Check.API_RESPONDING, Check.SCOPES_GRANTED):
            label, cause, fix = CHECK_TEXT[check]
            assert f"✖ {label}" in text
            assert f"Cause: {cause}" in text and f"Fix: {fix}" in text
        assert "✔ OAuth connected" in text and "Last checked 10 min ago" in text
        assert "Latest failure" in text and "API responding failed" in text
        assert "Registered     not registered" in text

    async def test_latest_failure_of_a_failed_entity(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 60)) as pilot:
            await open_details(pilot, fleet["failing"].id)
            text = screen_text(app)
        lines = [line.strip(" █") for line in text.splitlines()]
        at = next(i for i, line in enumerate(lines) if line.endswith("Latest failure"))
        assert lines[at + 1].endswith("Orders: Bulk operation failed: INTERNAL_SERVER_ERROR")

    async def test_escape_closes_and_e_switches_to_settings(self, make_app, fleet) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await open_details(pilot, fleet["healthy"].id)
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, StoreScreen)
            await pilot.press("i")
            await settle(pilot)
            await pilot.press("e")
            await settle(pilot)
            assert isinstance(app.screen, SettingsScreen)


@pytest.mark.parametrize("size", SIZES)
class TestDetailsSnapshots:
    def test_failures_and_missing_scopes(self, snap_compare, make_app, troubled, size) -> None:
        def setup(app: Any) -> None:
            app.push_screen(DetailsScreen(troubled.id))

        assert snap_compare(make_app(), terminal_size=size, run_before=pressing(setup=setup))

    def test_reconnect_required(self, snap_compare, make_app, fleet, size) -> None:
        def setup(app: Any) -> None:
            app.push_screen(StoreScreen(fleet["uninstalled"].id))
            app.push_screen(DetailsScreen(fleet["uninstalled"].id))

        assert snap_compare(make_app(), terminal_size=size, run_before=pressing(setup=setup))
