"""Helpers for the TUI tests (not a test module; the data shapes are in factories.py).

    settle(pilot)            let workers finish and the screen repaint
    screen_text(app)         what the terminal shows, as plain text (modals included)
    go_to(pilot, name)       put the dashboard cursor on a store
    enabled_keys(app)        the dashboard's keys and whether each may run now
    toasts(app)              the notification texts
    webhooks_healthy()       give every fixture store its full set of webhook subscriptions
    sim_shop(simulator, ...) create a shop in the simulator, return (domain, token)
    connect_sim_store(...)   connect a simulator shop through engine.actions.connect_token
    connect_and_sync(...)    the same, then run its initial sync to the end
    type_into(pilot, f, s)   type into an Input without one Pilot round trip per key
    pressing(*keys)          a snapshot run_before: settle, press keys, settle, no cursor blink
    pending_reconnect(app)   the Connect drawer waiting for an OAuth approval (state pending)
    open_troubleshoot(pilot) press t and return the Troubleshoot screen
    terminal_writes(mp, f)   record every write the app makes to its terminal, each through f
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from textual.drivers.headless_driver import HeadlessDriver
from textual.widgets import Input

from engine.lifecycle.subscriptions import ALL_TOPICS
from engine.persistence.models import Store
from tests.support import HTTP
from tui.screens.dashboard import DashboardScreen
from tui.screens.troubleshoot import TroubleshootScreen

SIZES_IDS = ("120x40", "80x24")


async def settle(pilot: Any) -> None:
    """Let workers finish, the messages they posted be handled, and the screen repaint (what
    `run_before` needs after key presses).

    A worker reports by posting messages; handling one may start another worker or post more
    (an action's DataChanged, then its toast). So this repeats until no worker runs and the app
    and its screen have nothing queued: one round was not always enough on a loaded machine
    (an action's toast was once not there yet)."""
    app = pilot.app
    for _ in range(10):  # a screen that polls all the time never empties: 10 rounds at most
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        if (app._message_queue.empty() and app.screen._message_queue.empty()
                and not any(worker.is_running for worker in app.workers)):
            return


def screen_text(app: Any) -> str:
    """The whole screen (with any modal over it) as plain text, one line per row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


async def go_to(pilot: Any, name: str) -> None:
    """Put the dashboard cursor on the store called `name`."""
    screen = pilot.app.screen
    store = next(s for s in screen.all_stores if s.name == name)
    assert screen.select_store(store.id)
    await pilot.pause()


def enabled_keys(app: Any) -> dict[str, bool]:
    return {binding.key: enabled for _k, (node, binding, enabled, _t)
            in app.screen.active_bindings.items() if isinstance(node, DashboardScreen)}


def toasts(app: Any) -> list[str]:
    return [str(n.message) for n in app._notifications]


def webhooks_healthy() -> None:
    """Every store has every subscription, so only the problems a test sets up show."""
    Store.update(webhook_topics=",".join(ALL_TOPICS)).execute()


def sim_shop(simulator: Any, domain: str, **fields: Any) -> tuple[str, str]:
    """Create a shop in the simulator; returns (domain, access token)."""
    body = {"domain": domain, "customers": 5, "orders": 5, "products": 3, "collections": 2}
    body.update(fields)
    response = HTTP.post(f"{simulator.url}/_sim/shops", json=body, timeout=10)
    response.raise_for_status()
    data = response.json()
    return data["domain"], data["access_token"]


def patch_shop(simulator: Any, domain: str, **fields: Any) -> None:
    response = HTTP.patch(f"{simulator.url}/_sim/shops/{domain}", json=fields, timeout=10)
    response.raise_for_status()


def connect_sim_store(simulator: Any, runtime: Any, domain: str, **fields: Any) -> int:
    """A store connected (not synced yet) through the engine, against a new simulator shop."""
    from engine import actions

    actions.use_runtime(runtime)
    shop, token = sim_shop(simulator, domain, **fields)
    return actions.connect_token(shop, token).id


def connect_and_sync(simulator: Any, runtime: Any, domain: str, **fields: Any) -> int:
    """A connected store whose initial sync has run (with a runner stopped afterwards)."""
    from engine import actions
    from engine.jobs.queue import wait_for_job
    from engine.registry import make_runner

    store_id = connect_sim_store(simulator, runtime, domain, **fields)
    views = actions.start_initial_sync(store_id)
    runner = make_runner(runtime, kind="embedded").start_thread()
    try:
        for view in views:
            wait_for_job(view.id, timeout=60)
    finally:
        runner.stop()
    return store_id


async def type_into(pilot: Any, field: Input, text: str) -> None:
    """Type `text` into `field` quickly: all but the last character are pasted, the last is a
    real key press (so the change handlers run exactly as they do for typing)."""
    field.focus()
    await pilot.pause()
    field.value = text[:-1]
    field.cursor_position = len(field.value)
    await pilot.press(text[-1] if text[-1] != " " else "space")
    await pilot.pause()


def no_blink(app: Any) -> None:
    for field in app.screen.query(Input):
        field.cursor_blink = False


def pressing(*keys: str, setup: Callable[[Any], Any] | None = None
             ) -> Callable[[Any], Awaitable[None]]:
    """A snapshot run_before: settle, run `setup(app)`, press `keys`, settle; no blinking."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        if setup is not None:
            setup(pilot.app)
            await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        no_blink(pilot.app)
        await settle(pilot)

    return run_before


def pending_reconnect(app: Any) -> None:
    """Show the Connect drawer waiting for an approval (a pending OAuth state)."""
    from engine.actions import OAuthStart
    from engine.persistence.models import OAuthState, utcnow
    from tui.screens.connect import ConnectScreen

    store = Store.get(Store.domain == "cafe-creme.myshopify.com")
    OAuthState.create(state="snapshot-state", domain=store.domain, purpose="reconnect",
                      expires_at=utcnow() + timedelta(days=1))
    url = ("https://cafe-creme.myshopify.com/admin/oauth/authorize?client_id=demo"
           "&scope=read_customers,read_orders,read_products&state=snapshot-state")
    app.push_screen(ConnectScreen(
        reconnect=OAuthStart(url=url, state="snapshot-state", domain=store.domain,
                             purpose="reconnect"), store_id=store.id))


async def open_troubleshoot(pilot: Any) -> TroubleshootScreen:
    await settle(pilot)
    await pilot.press("t")
    await settle(pilot)
    assert isinstance(pilot.app.screen, TroubleshootScreen)
    return pilot.app.screen


Written = TypeVar("Written")


def terminal_writes(monkeypatch: Any, keep: Callable[[str], Written]) -> list[Written]:
    """What the app writes to its terminal, each write through `keep`: the headless driver
    records it (and says it is not headless, so the app renders its frames to it as it would
    to a real terminal)."""
    written: list[Written] = []
    monkeypatch.setattr(HeadlessDriver, "write", lambda self, data: written.append(keep(data)))
    monkeypatch.setattr(HeadlessDriver, "is_headless", property(lambda self: False))
    return written
