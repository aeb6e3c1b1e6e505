"""Snapshots of the states the other snapshot files do not reach: a health check running
(Checking…), a store being deleted, the stale-database marker, the Connect drawer's OAuth
failure and its token entry, and the dashboard on a 60-column terminal.

Update (only these) with: pytest tests/tui/test_state_snapshots.py --snapshot-update
"""

from __future__ import annotations

from typing import Any

from engine.persistence.models import OAuthState
from tests.support import wait_until
from tests.tui.screen_helpers import no_blink, pending_reconnect, pressing, screen_text, settle
from tui.screens.connect import ConnectScreen
from tui.screens.store import StoreScreen

DECLINED = "The merchant declined the app's permissions on Shopify"


def test_health_check_running_on_the_store_screen(snap_compare, make_app, fleet) -> None:
    def setup(app: Any) -> None:
        app.push_screen(StoreScreen(fleet["checking"].id))

    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=pressing(setup=setup))


def test_a_store_being_deleted_in_the_table(snap_compare, make_app, fleet) -> None:
    def setup(app: Any) -> None:
        app.screen.select_store(fleet["deleting"].id)

    assert snap_compare(make_app(), terminal_size=(100, 30),
                        run_before=pressing("v", setup=setup))


def test_the_stale_database_marker(snap_compare, make_app, fleet) -> None:
    def setup(app: Any) -> None:
        app.dashboard.stale = "OperationalError: database is locked"

    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=pressing(setup=setup))


def test_an_oauth_approval_that_failed(snap_compare, make_app, fleet) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        pending_reconnect(pilot.app)
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConnectScreen))
        OAuthState.update(result=DECLINED).where(OAuthState.state == "snapshot-state").execute()
        await wait_until(pilot, lambda: DECLINED in screen_text(pilot.app))
        no_blink(pilot.app)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=run_before)


def test_a_new_access_token_being_entered(snap_compare, make_app, fleet) -> None:
    store = fleet["uninstalled"]

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        pilot.app.push_screen(ConnectScreen(token_for=store.domain, store_id=store.id))
        await settle(pilot)
        await pilot.press(*"shpat_not_shown")
        no_blink(pilot.app)
        await pilot.pause()
        assert "shpat_not_shown" not in screen_text(pilot.app)  # masked

    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=run_before)


def test_the_dashboard_on_a_60_column_terminal(snap_compare, make_app, fleet) -> None:
    assert snap_compare(make_app(), terminal_size=(60, 24), run_before=pressing())
