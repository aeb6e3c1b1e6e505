"""The dashboard: fleet header, store cards (or the table view), filter, live updates.

Live updates: a one-shot timer starts a thread worker that reads `data_version()` and, only when
it changed, `list_stores()` and `fleet_summary()`; the worker posts a message and the handler
re-arms the timer. The views update in place (the cursor stays on its store, the scroll does
not move). Polling pauses while another screen (a modal, the store screen) is on top, and the
header shows a stale marker when the database cannot be read.

Store keys act on the store under the cursor and are dimmed in the footer when they cannot run
for it (`check_action` returns None); they all go through
`app.request_action` (tui/store_actions.py).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Middle
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static

from engine.domain.status import Status
from engine.domain.views import StoreSummary
from engine.persistence.reads import data_version, fleet_summary, list_stores
from tui.messages import DataChanged, FleetLoaded, FleetStale, FleetUnchanged, StoreChosen
from tui.screens.card_menu import CardMenu
from tui.widgets.card_grid import CardGrid
from tui.widgets.filter_bar import FilterBar, matches
from tui.widgets.fleet_header import FleetHeader
from tui.widgets.fleet_table import FleetTable
from tui.widgets.key_bar import KeyBar

EMPTY_FLEET = "No stores yet.\n\nPress n to connect a Shopify store."
NO_MATCH = "No store matches the filter.\n\nPress escape to clear it."
READ_BACKOFF = 3.0  # the next poll waits at least this many times the last full read
TIMES_EVERY = 15  # unchanged polls between re-renders of relative times ("3 min ago")


class DashboardScreen(Screen[None]):
    """Every store at a glance, with single-key actions on the store under the cursor."""

    HELP_TITLE = "Dashboard"
    # Focus is placed by hand (_focus_view): with no stores the only focusable widget is the
    # hidden filter field, and auto-focusing it would swallow every key as filter text.
    AUTO_FOCUS = ""  # not None: None falls back to the app's "*"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_store", "Open", id="dashboard.open"),
        Binding("m", "menu", "Menu", id="dashboard.menu"),
        Binding("c", "store_action('check_health')", "Check", id="dashboard.check_health"),
        Binding("r", "store_action('retry')", "Retry", id="dashboard.retry"),
        Binding("s", "store_action('resync')", "Re-sync", id="dashboard.resync"),
        Binding("d", "store_action('disconnect')", "Disconnect", id="dashboard.disconnect"),
        Binding("x", "store_action('reconnect')", "Reconnect", id="dashboard.reconnect"),
        Binding("D", "store_action('delete')", "Delete", id="dashboard.delete"),
        Binding("i", "store_action('details')", "Details", id="dashboard.details"),
        Binding("e", "store_action('settings')", "Settings", id="dashboard.settings"),
        Binding("slash", "filter", "Filter", id="dashboard.filter"),
        Binding("f", "cycle_status", "Status filter", show=False, id="dashboard.status_filter"),
        Binding("v", "toggle_view", "Table/cards", id="dashboard.view"),
        Binding("escape", "clear_filter", "Clear filter", show=False,
                id="dashboard.clear_filter"),
    ]

    def __init__(self, *, poll: bool = True, poll_interval: float = 1.0) -> None:
        super().__init__()
        self.poll_enabled = poll
        self.poll_interval = poll_interval
        self.all_stores: list[StoreSummary] = []
        self.loaded = False
        self.view = "cards"
        self.filter_text = ""
        self.status_filter: Status | None = None
        self._version: object = None
        self._timer: Timer | None = None
        self._unchanged = 0
        self._read_seconds = 0.0  # how long the last full fleet read took
        self._started = 0  # polls started
        self._applied = 0  # the newest poll whose data is on screen

    def compose(self) -> ComposeResult:
        yield FleetHeader(id="fleet-header")
        yield FilterBar(id="filter-bar", classes="-hidden")
        yield CardGrid(id="grid")
        yield FleetTable(id="table", classes="-hidden")
        with Middle(id="empty", classes="-hidden"), Center():
            yield Static("", id="empty-text", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        header = self.query_one(FleetHeader)
        header.context = getattr(self.app, "context", "")
        header.demo = getattr(self.app, "demo", False)
        header.read_only = getattr(self.app, "read_only", False)
        self.show_runner(getattr(self.app, "runner_mode", ""))
        self._focus_view()
        self.call_after_refresh(self.poll_now)  # paint the frame first, then read the fleet

    def show_runner(self, mode: str) -> None:
        """Say in the header who runs the jobs ("embedded runner", "serve runner" or "")."""
        self.query_one(FleetHeader).runner = mode

    # -- polling ------------------------------------------------------------------------------

    def poll_now(self, force: bool = False) -> None:
        """Read the database now (in a worker); `force` re-reads even if unchanged."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._started += 1
        self._poll(force, self._started)

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.poll_enabled:
            # A big fleet's read costs real time: never spend more than ~1/3 of a core on it.
            delay = max(self.poll_interval, READ_BACKOFF * self._read_seconds)
            self._timer = self.set_timer(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.app.screen is not self:  # a modal or another screen is on top: pause
            self._arm()
            return
        self._started += 1
        self._poll(False, self._started)

    @work(thread=True, exclusive=True, exit_on_error=False, group="dashboard-poll")
    def _poll(self, force: bool, seq: int) -> None:
        db = self.app.runtime.db  # type: ignore[attr-defined]
        try:
            with db.connection_context():
                version = data_version()
                if version == self._version and not force:
                    self.post_message(FleetUnchanged())
                    return
                started = time.monotonic()
                stores, summary = list_stores(), fleet_summary()
                self._read_seconds = time.monotonic() - started
        except Exception as error:  # the database is locked, gone or corrupt: keep the old data
            self.post_message(FleetStale(f"{type(error).__name__}: {error}"))
            return
        self.post_message(FleetLoaded(stores, summary, version, seq))

    def on_fleet_loaded(self, message: FleetLoaded) -> None:
        if message.seq < self._applied:  # a slower, older poll: its data is out of date
            return
        self._applied = message.seq
        self._version = message.version
        self.all_stores = message.stores
        self.loaded = True
        header = self.query_one(FleetHeader)
        header.summary = message.summary
        header.stale = None
        self._show()
        self._arm()

    def on_fleet_unchanged(self, _message: FleetUnchanged) -> None:
        self.query_one(FleetHeader).stale = None
        self._unchanged += 1
        if self._unchanged % TIMES_EVERY == 0:
            self.query_one(CardGrid).refresh_cards()
            self.query_one(FleetTable).refresh()
        self._arm()

    def on_fleet_stale(self, message: FleetStale) -> None:
        self.query_one(FleetHeader).stale = message.reason
        self._arm()

    def on_data_changed(self, message: DataChanged) -> None:
        message.stop()
        self.poll_now(force=True)

    def on_screen_resume(self) -> None:
        if self.loaded:
            self.poll_now(force=True)

    # -- showing ------------------------------------------------------------------------------

    @property
    def filtering(self) -> bool:
        return bool(self.filter_text) or self.status_filter is not None

    @property
    def current(self) -> StoreSummary | None:
        """The store under the cursor of the visible view."""
        view: Any = self.query_one(FleetTable if self.view == "table" else CardGrid)
        return view.current

    def _show(self) -> None:
        visible = [s for s in self.all_stores if matches(s, self.filter_text, self.status_filter)]
        keep = self.current.id if self.current else None
        grid, table = self.query_one(CardGrid), self.query_one(FleetTable)
        grid.set_stores(visible, keep)
        table.set_stores(visible, keep)
        self.query_one(FleetHeader).shown = len(visible) if self.filtering else None
        empty = self.loaded and not visible
        self.query_one("#empty-text", Static).update(
            Content(NO_MATCH if self.all_stores else EMPTY_FLEET))
        self.query_one("#empty").set_class(not empty, "-hidden")
        grid.set_class(empty or self.view != "cards", "-hidden")
        table.set_class(empty or self.view != "table", "-hidden")
        if not empty and self.focused is None:  # the view was hidden (no stores): focus it again
            self._focus_view()
        self.refresh_bindings()

    def on_card_grid_cursor_moved(self, _message: CardGrid.CursorMoved) -> None:
        self.refresh_bindings()

    def on_fleet_table_cursor_moved(self, _message: FleetTable.CursorMoved) -> None:
        self.refresh_bindings()

    def select_store(self, store_id: int) -> bool:
        """Put the cursor on a store (clearing a filter that hides it); False if unknown."""
        if not any(s.id == store_id for s in self.all_stores):
            return False
        view: Any = self.query_one(FleetTable if self.view == "table" else CardGrid)
        if not view.select_store(store_id):
            self.action_clear_filter()
            view.select_store(store_id)
        return True

    # -- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        store = self.current
        if action == "store_action":
            app: Any = self.app
            return True if app.available(store, str(parameters[0])) else None
        if action in ("open_store", "menu"):
            return True if store is not None and not store.deleting else None
        if action == "clear_filter":
            return True if self.filtering else None
        return True

    def action_open_store(self) -> None:
        if self.current is not None:
            self.app.request_action("open", self.current)  # type: ignore[attr-defined]

    def on_store_chosen(self, message: StoreChosen) -> None:
        message.stop()
        store = next((s for s in self.all_stores if s.id == message.store_id), None)
        if store is not None and not store.deleting:
            self.app.request_action("open", store)  # type: ignore[attr-defined]

    def action_store_action(self, action: str) -> None:
        if self.current is not None:
            self.app.request_action(action, self.current)  # type: ignore[attr-defined]

    def action_menu(self) -> None:
        store = self.current
        if store is None:
            return

        def chosen(action: str | None) -> None:
            if action:
                self.app.request_action(action, store)  # type: ignore[attr-defined]

        self.app.push_screen(
            CardMenu(store, read_only=getattr(self.app, "read_only", False)), chosen)

    def action_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.remove_class("-hidden")
        bar.focus_text()

    def action_cycle_status(self) -> None:
        order: list[Status | None] = [None, *Status]
        following = order[(order.index(self.status_filter) + 1) % len(order)]
        bar = self.query_one(FilterBar)
        bar.remove_class("-hidden")
        bar.set_status(following)
        self.status_filter = following
        self._show()

    def on_filter_bar_changed(self, message: FilterBar.Changed) -> None:
        self.filter_text, self.status_filter = message.text, message.status
        self._show()

    def on_filter_bar_closed(self, message: FilterBar.Closed) -> None:
        if message.cleared:
            self.query_one(FilterBar).add_class("-hidden")
        self._focus_view()

    def action_clear_filter(self) -> None:
        if self.filtering:
            self.query_one(FilterBar).action_clear()

    def action_toggle_view(self) -> None:
        keep = self.current.id if self.current else None
        self.view = "table" if self.view == "cards" else "cards"
        self._show()
        view: Any = self.query_one(FleetTable if self.view == "table" else CardGrid)
        if keep is not None:
            view.select_store(keep)
        self._focus_view()

    def _focus_view(self) -> None:
        view: Any = self.query_one(FleetTable if self.view == "table" else CardGrid)
        view.focus()
        self.refresh_bindings()
