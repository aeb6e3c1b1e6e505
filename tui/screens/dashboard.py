"""The dashboard: fleet header, store cards (or the table view), filter, live updates.

Live updates come from the polling every screen uses (tui/screens/live.py), made incremental:
a poll asks the engine which stores changed since the change cursor of the data on screen
(`changes_since`; an idle poll reads only the store change log) and re-reads just those; the
first read, a forced one, or a cursor the log no longer covers reads the whole fleet
(`list_stores`), and the very first one shows a screenful before the rest arrives (at 10,000
stores the whole read takes a while): on SQLite that screenful is read on mount, so the first
frame already shows stores; elsewhere the worker reads it first. The views update in place
(the cursor stays on its store, the scroll does not move); polling pauses while another screen
(a modal, the store screen) is on top, and the header shows a stale marker when the database
cannot be read.

Store keys act on the store under the cursor and are dimmed in the footer when they cannot run
for it (`check_action` returns None); they all go through `app.request_action`
(tui/store_actions.py).

`o` cycles the sort order (problems first, status, records, last sync, domain, name), `O`
reverses it; a click on a table column header sorts by that column (tui/fleet_order.py). A
store that turns Error or Reconnect required while the dashboard is open raises a notification
naming it (and rings the terminal bell when the app was started with --bell).
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar, Literal

from peewee import SqliteDatabase
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Middle
from textual.content import Content
from textual.reactive import var
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import AwaitMount
from textual.widgets import Static

from engine.actions import Action
from engine.domain.status import Status
from engine.domain.views import FleetSummary, StoreSummary
from engine.persistence.reads import (
    change_cursor,
    changes_since,
    decode_all,
    first_page,
    fleet_summary,
    list_stores,
    merge_changes,
    store_summaries,
    summarise,
)
from tui.fleet_order import (
    DEFAULT_SORT,
    HEAD_SORTS,
    SORTS,
    newly_broken,
    next_sort,
    sort_stores,
)
from tui.host import shopsync_app
from tui.messages import StoreChosen
from tui.safe_text import safe
from tui.screens.card_menu import CardMenu
from tui.screens.live import UNCHANGED, Live
from tui.store_keys import ExplainsDisabledKeys, store_binding
from tui.widgets.card_grid import CardGrid
from tui.widgets.filter_bar import FilterBar, matches
from tui.widgets.fleet_header import FleetHeader
from tui.widgets.fleet_table import FleetTable
from tui.widgets.key_bar import KeyBar
from tui.widgets.store_cursor import StoreCursor, StoreCursorMoved, StoresDrawn

EMPTY_FLEET = "No stores yet.\n\nPress n to connect a Shopify store."
NO_MATCH = "No store matches the filter.\n\nPress escape to clear it."

View = Literal["cards", "table"]


# What a fleet read gives the screen: the stores, the header's counts, and the change cursor
# they were read at (None for the first screenful, which is followed by a full read).
FleetRead = tuple[list[StoreSummary], FleetSummary, int | None]
FIRST_PAGE = 120  # stores shown before the first full read: more than any screen holds
PAGE_PAINT_WAIT = 0.5  # seconds the first full read waits for the first screenful to be drawn


class DashboardScreen(ExplainsDisabledKeys, Live, Screen[None]):
    """Every store at a glance, with single-key actions on the store under the cursor."""

    HELP_TITLE = "Dashboard"
    # Focus is placed by hand (_focus_view): with no stores the only focusable widget is the
    # hidden filter field, and auto-focusing it would swallow every key as filter text.
    AUTO_FOCUS = ""  # not None: None falls back to the app's "*"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_store", "Open", id="dashboard.open"),
        Binding("m", "menu", "Menu", id="dashboard.menu"),
        *(store_binding(action, "dashboard") for action in (
            Action.CHECK_HEALTH, Action.RETRY, Action.RESYNC, Action.DISCONNECT,
            Action.RECONNECT, Action.DELETE, Action.DETAILS, Action.SETTINGS)),
        Binding("slash", "filter", "Filter", id="dashboard.filter"),
        Binding("f", "cycle_status", "Status filter", show=False, id="dashboard.status_filter"),
        Binding("v", "toggle_view", "Table/cards", id="dashboard.view"),
        Binding("escape", "clear_filter", "Clear filter", show=False,
                id="dashboard.clear_filter"),
        Binding("o", "cycle_sort", "Sort", show=False, id="dashboard.sort"),
        Binding("O", "reverse_sort", "Reverse sort", show=False, id="dashboard.reverse_sort"),
    ]

    view: var[View] = var[View]("cards", init=False)
    """Which view shows the fleet: the card grid or the table."""

    def __init__(self) -> None:
        super().__init__()
        self.all_stores: list[StoreSummary] = []
        # The stores on screen and the change cursor they were read at, replaced together.
        self._fleet: tuple[list[StoreSummary], int | None] = ([], None)
        self.filter_text = ""
        self.status_filter: Status | None = None
        self.sort = DEFAULT_SORT
        self.sort_reverse = False
        self._statuses: dict[int, Status] | None = None  # at the last read, for the alerts
        # Per store (in all_stores' order), its name and domain casefolded once per read, so
        # a filter keystroke over 10,000 stores is substring tests, not 20,000 casefolds.
        self._search_keys: list[tuple[str, str]] = []
        self._empty_text: str | None = None
        # Set once the first screenful is drawn: the full read waits for it, so the reading
        # thread does not compete for the GIL with the first frame that shows stores.
        self._page_drawn = threading.Event()
        # The filter bar (a text field and a status select, hidden until `/` or `f`) is
        # mounted once the first stores are drawn, or by the first key that needs it: it is a
        # third of the screen's widgets, and the first frame with stores does not show it.
        self._filter_mounted: AwaitMount | None = None
        self._paint_fallback: Timer | None = None
        # The two views, kept: the current store is asked for by every binding's check_action
        # on every key, and a query per ask adds up.
        self._grid = CardGrid(id="grid")
        self._table = FleetTable(id="table", classes="-hidden")
        # What the first frame does not show, the view not shown and the empty-fleet text, is
        # mounted after it (`_mount_rest`), or as soon as it is needed: composing, styling and
        # mounting them cost the first frame with stores ~4 ms of CPU at 10,000 stores.
        self._empty_text_widget = Static("", id="empty-text", markup=False)
        self._empty = Middle(Center(self._empty_text_widget), id="empty", classes="-hidden")
        self._rest_mounted: AwaitMount | None = None
        self._resumed = False  # the screen has been resumed once (_on_screen_resume)

    def compose(self) -> ComposeResult:
        yield FleetHeader(id="fleet-header").data_bind(DashboardScreen.stale)
        yield self.shown_view
        yield KeyBar()

    def _mount_rest(self) -> AwaitMount:
        """Mount the view not shown and the empty-fleet text unless they are; the views are
        given the stores once mounted."""
        if self._rest_mounted is None:
            missing = [view for view in (self._grid, self._table) if view.parent is None]
            self._rest_mounted = self.mount_all([*missing, self._empty],
                                                before=self.query_one(KeyBar))
            self.call_later(self._rest_shown)
        return self._rest_mounted

    async def _rest_shown(self) -> None:
        if self._rest_mounted is not None:
            await self._rest_mounted
        if self.is_attached:
            self._show()

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        """The first resume comes right after the mount, which styled every widget of the
        screen: Textual would style them all again (~4 ms of the first frame at 10,000
        stores), so that one resume does not (as Textual's own pop of a screen may not). Runs
        before Screen's handler (the subclass's first)."""
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    def on_mount(self) -> None:
        header = self.query_one(FleetHeader)
        header.context = getattr(self.app, "context", "")
        header.demo = getattr(self.app, "demo", False)
        header.read_only = getattr(self.app, "read_only", False)
        self.show_runner(getattr(self.app, "runner_mode", ""))
        self._focus_view()
        self._show_first_page()
        self.call_after_refresh(self.start_live)  # paint the frame first, then read the fleet

    def _show_first_page(self) -> None:
        """On SQLite, read the first screenful and the fleet's counts here, before the first
        frame, so that frame shows stores: a local read of FIRST_PAGE stores costs a few ms,
        where reading it in the worker cost a frame without stores, a thread start and a
        message hop first. PostgreSQL (a connection and round trips over the network) and a
        read that fails leave it to the worker's first read (read_changes), as before."""
        runtime = getattr(self.app, "runtime", None)
        db = getattr(runtime, "db", None)
        if not isinstance(db, SqliteDatabase):
            return
        opened = db.is_closed()  # a caller's open connection on this thread is left open
        try:
            if opened:
                db.connect()
            try:
                page = first_page(FIRST_PAGE)
                summary = fleet_summary() if page else None
            finally:
                if opened:
                    db.close()
        except Exception:  # the worker's first read tries again, and says what is wrong
            return
        if page and summary is not None:
            self.live_loaded = True  # the worker's first read then reads the whole fleet
            self.show((page, summary, None))

    @property
    def fleet_loaded(self) -> bool:
        """The whole fleet has been read (not just the first screenful)."""
        return self._fleet[1] is not None

    def show_runner(self, mode: str) -> None:
        """Say in the header who runs the jobs ("embedded runner", "serve runner" or "")."""
        self.query_one(FleetHeader).runner = mode

    # -- live data ----------------------------------------------------------------------------

    def load(self) -> FleetRead:
        cursor = change_cursor()  # before the read: what changes during it is read again
        stores = list_stores()
        if self.sort not in HEAD_SORTS:
            decode_all(stores)  # here in the worker, not one at a time as the UI thread sorts
        return stores, summarise(stores), cursor

    def read_changes(self, force: bool, seq: int) -> FleetRead | object:
        shown, cursor = self._fleet  # one read: the stores on screen and their cursor agree
        if cursor is None and not self.live_loaded:
            # The first read: a screenful and the fleet's counts at once, then everything.
            page = first_page(FIRST_PAGE)
            if page:
                self.post_message(Live.Loaded((page, fleet_summary(), None), seq=seq))
                self._page_drawn.wait(PAGE_PAINT_WAIT)
            return self.load()
        if force or cursor is None:
            return self.load()
        changes = changes_since(cursor)
        if changes.everything:
            return self.load()
        if not changes.store_ids:
            return UNCHANGED
        fresh = store_summaries(sorted(changes.store_ids))
        stores = merge_changes(shown, changes.store_ids, fresh)
        return stores, summarise(stores), changes.cursor

    def show(self, data: FleetRead) -> None:
        stores, summary, cursor = data
        self.all_stores = stores
        self._search_keys = [(s.name.casefold(), s.domain.casefold()) for s in stores]
        self._fleet = (stores, cursor)
        for store in newly_broken(self._statuses, stores):
            self._alert(store)
        self._statuses = {s.id: s.status for s in stores}
        self.query_one(FleetHeader).summary = summary
        self._show()
        if not self._page_drawn.is_set():
            if stores:  # the view says when it drew them (StoresDrawn); this is a fallback
                if self._paint_fallback is None:
                    self._paint_fallback = self.set_timer(PAGE_PAINT_WAIT,
                                                          self._first_stores_drawn)
            else:
                self.call_after_refresh(self._first_stores_drawn)

    def on_stores_drawn(self, message: StoresDrawn) -> None:
        message.stop()
        self._first_stores_drawn()

    def _first_stores_drawn(self) -> None:
        """The first frame with stores is on screen (or there is none to draw): the full read
        may go, and the filter bar is mounted."""
        if self._paint_fallback is not None:
            # A timer firing under a covering screen makes Textual repaint that screen whole.
            self._paint_fallback.stop()
            self._paint_fallback = None
        self._page_drawn.set()
        if not getattr(self.app, "quitting", False):
            self.filter_bar()
            self._mount_rest()

    def filter_bar(self) -> AwaitMount:
        """Mount the filter bar unless it is; await the answer before using the bar."""
        if self._filter_mounted is None:
            self._filter_mounted = self.mount(FilterBar(id="filter-bar", classes="-hidden"),
                                              after=self.query_one(FleetHeader))
        return self._filter_mounted

    def _alert(self, store: StoreSummary) -> None:
        detail = f": {store.status_detail}" if store.status_detail else ""
        self.app.notify(f"{safe(store.name)} turned {store.status.label}{safe(detail)}",
                        title="Store needs attention", severity="error", timeout=15,
                        markup=False)
        if getattr(self.app, "bell_on_alert", False):
            self.app.bell()

    def tick(self) -> None:
        if self._grid.is_mounted:
            self._grid.refresh_cards()
        if self._table.is_mounted:
            self._table.refresh()

    # -- showing ------------------------------------------------------------------------------

    @property
    def filtering(self) -> bool:
        return bool(self.filter_text) or self.status_filter is not None

    @property
    def shown_view(self) -> StoreCursor:
        """The view the fleet is shown in (card grid or table)."""
        return self._table if self.view == "table" else self._grid

    @property
    def current(self) -> StoreSummary | None:
        """The store under the cursor of the visible view."""
        return self.shown_view.current

    def filtered(self) -> list[StoreSummary]:
        """The stores that pass the filter (as `filter_bar.matches` decides), in fleet order."""
        stores, status = self.all_stores, self.status_filter
        if not self.filter_text:
            if status is None:
                return stores
            return [s for s in stores if s.status is status]
        needle = self.filter_text.casefold()
        keys = self._search_keys
        if len(keys) != len(stores):  # all_stores was replaced without show(): fold again
            return [s for s in stores if matches(s, self.filter_text, status)]
        return [store for store, (name, domain) in zip(stores, keys, strict=True)
                if (needle in name or needle in domain)
                and (status is None or store.status is status)]

    def _show(self) -> None:
        visible = sort_stores(self.filtered(), self.sort, self.sort_reverse)
        keep = self.current.id if self.current else None
        grid, table = self._grid, self._table
        for view in (grid, table):
            if view.is_mounted:  # one not mounted yet gets them once it is (_rest_shown)
                view.set_stores(visible, keep)
        self.query_one(FleetHeader).shown = len(visible) if self.filtering else None
        empty = self.live_loaded and not visible
        if empty and not self._empty.is_mounted:
            self._mount_rest()  # then shows again
        text = NO_MATCH if self.all_stores else EMPTY_FLEET
        if text != self._empty_text:  # an update re-lays out the screen: only on a change
            self._empty_text = text
            self._empty_text_widget.update(Content(text))
        self._empty.set_class(not empty, "-hidden")
        grid.set_class(empty or self.view != "cards", "-hidden")
        table.set_class(empty or self.view != "table", "-hidden")
        if not empty and self.focused is None:  # the view was hidden (no stores): focus it again
            self._focus_view()
        self.refresh_bindings()

    def on_store_cursor_moved(self, _message: StoreCursorMoved) -> None:
        self.refresh_bindings()

    def select_store(self, store_id: int) -> bool:
        """Put the cursor on a store (clearing a filter that hides it); False if unknown."""
        if not any(s.id == store_id for s in self.all_stores):
            return False
        view = self.shown_view
        if not view.select_store(store_id):
            self.action_clear_filter()
            view.select_store(store_id)
        return True

    # -- actions ------------------------------------------------------------------------------

    def key_store(self) -> StoreSummary | None:
        return self.current

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
            shopsync_app(self).request_action("open", self.current)

    def on_store_chosen(self, message: StoreChosen) -> None:
        message.stop()
        store = next((s for s in self.all_stores if s.id == message.store_id), None)
        if store is not None and not store.deleting:
            shopsync_app(self).request_action("open", store)

    def action_store_action(self, action: str) -> None:
        if self.current is not None:
            shopsync_app(self).request_action(action, self.current)

    def action_menu(self) -> None:
        store = self.current
        if store is None:
            return

        def chosen(action: str | None) -> None:
            if action:
                shopsync_app(self).request_action(action, store)

        self.app.push_screen(
            CardMenu(store, read_only=getattr(self.app, "read_only", False)), chosen)

    async def action_filter(self) -> None:
        await self.filter_bar()
        bar = self.query_one(FilterBar)
        bar.remove_class("-hidden")
        bar.focus_text()

    def action_cycle_sort(self) -> None:
        self.sort_by(next_sort(self.sort), reverse=False)

    def action_reverse_sort(self) -> None:
        self.sort_by(self.sort, reverse=not self.sort_reverse)

    def sort_by(self, sort: str, reverse: bool | None = None) -> None:
        """Show the fleet in `sort` order (SORTS); `reverse` None toggles it when the order is
        already `sort` (a second click on the same column)."""
        if reverse is None:
            reverse = not self.sort_reverse if sort == self.sort else False
        self.sort, self.sort_reverse = sort, reverse
        self.query_one(FleetHeader).sort = (
            "" if sort == DEFAULT_SORT and not reverse
            else SORTS[sort].label + (" (reversed)" if reverse else ""))
        self._table.sorted_by = (sort, reverse)
        self._show()

    def on_fleet_table_sort_requested(self, message: FleetTable.SortRequested) -> None:
        message.stop()
        self.sort_by(message.sort)

    async def action_cycle_status(self) -> None:
        await self.filter_bar()
        order: list[Status | None] = [None, *Status]
        following = order[(order.index(self.status_filter) + 1) % len(order)]
        bar = self.query_one(FilterBar)
        bar.remove_class("-hidden")
        bar.set_status(following)
        self.status_filter = following
        self._show()

    def on_filter_bar_changed(self, message: FilterBar.Changed) -> None:
        if (message.text, message.status) == (self.filter_text, self.status_filter):
            return  # the echo of `f` setting the status select: already shown
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
        self.view = "table" if self.view == "cards" else "cards"

    def watch_view(self, old: View, new: View) -> None:
        if not self.is_mounted:  # set before the screen runs: the first _show() applies it
            return
        previous = self._table if old == "table" else self._grid
        keep = previous.current.id if previous.current else None
        if not self.shown_view.is_mounted:  # toggled before it was mounted (_mount_rest)
            self.call_later(self._view_mounted, keep)
            return
        self._view_shown(keep)

    async def _view_mounted(self, keep: int | None) -> None:
        await self._mount_rest()
        if self.is_attached:
            self._view_shown(keep)

    def _view_shown(self, keep: int | None) -> None:
        self._show()
        if keep is not None:
            self.shown_view.select_store(keep)
        self._focus_view()

    def _focus_view(self) -> None:
        self.shown_view.focus()
        self.refresh_bindings()
