"""The Sync settings drawer (reference/product.md §5 and §7).

    Sync data from Shopify      five switches, exact labels, applied at once
    Initial sync                "Start initial sync" → a progress indicator while the entities
                                run (Customers → Orders → Products → Collections)
    Sync status                 each entity's state; enter on a Failed row retries it; Re-sync

Switches are applied through engine.actions.update_settings in a worker; a refusal puts the
switch back and says why. It opens by itself after a successful connect (`initial_sync=True`),
so the operator chooses what to sync before any data moves.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, DataTable, ProgressBar, Static, Switch

from engine import actions
from engine.actions import active_sync_entities
from engine.domain.status import Category, Check, EntityState
from engine.domain.views import StoreDetail, StoreSummary
from engine.persistence.reads import StoreNotFound, store_detail
from tui.clock import relative
from tui.host import shopsync_app
from tui.safe_text import content, safe
from tui.screens.drawer import Drawer
from tui.screens.live import Live, stale_marker
from tui.store_keys import ExplainsDisabledKeys
from tui.widgets.entity_table import COMPACT, EntityTable, entity_detail

JUST_CONNECTED = "Connected. Choose what to sync, then start the initial sync."


def sync_progress(summary: StoreSummary, queued: set[str]) -> tuple[float, str] | None:
    """(percent, label) while the enabled entities run; None when nothing is running.

    `queued` names the entities with a sync job queued or running: a Pending entity without
    one has simply never run."""
    rows = [r for r in summary.entities if r.state is not EntityState.OFF]
    active = [r for r in rows if r.state is EntityState.SYNCING
              or (r.state is EntityState.PENDING and r.entity.value in queued)]
    if not rows or not active:
        return None
    done = 0.0
    for row in rows:
        if row.state in (EntityState.SYNCED, EntityState.FAILED):
            done += 1
        elif row.state is EntityState.SYNCING and row.total:
            done += min(row.done / row.total, 1.0)
    syncing = next((r for r in rows if r.state is EntityState.SYNCING), None)
    finished = sum(r.state in (EntityState.SYNCED, EntityState.FAILED) for r in rows)
    if syncing is not None:
        what = f"Syncing {syncing.entity.label}…"
    else:
        what = "Queued: " + ", ".join(r.entity.label for r in active)
    return 100 * done / len(rows), f"{what} · {finished} of {len(rows)} done"


def initial_sync_done(summary: StoreSummary) -> bool:
    return any(i.check is Check.INITIAL_SYNC_COMPLETE and i.ok for i in summary.readiness)


class SettingsScreen(ExplainsDisabledKeys, Live, Drawer):
    """Sync settings of one store: categories, the initial sync and per-entity status."""

    HELP_TITLE = "Sync settings"
    DRAWER_TITLE = "Sync settings"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="settings.close"),
        Binding("s", "resync", "Re-sync", id="settings.resync"),
    ]

    DEFAULT_CSS = """
    SettingsScreen #notice { color: $text-success; margin-top: 1; }
    SettingsScreen .category { height: 1; }
    SettingsScreen .category Switch { border: none; padding: 0; height: 1; width: 6;
                                      background: transparent; }
    SettingsScreen .category Switch:focus { background: $boost; }
    SettingsScreen .category Static { width: 1fr; }
    SettingsScreen .category .word { width: 5; padding-left: 1; text-style: bold; }
    SettingsScreen #initial { height: auto; }
    SettingsScreen #initial-label { height: auto; }
    SettingsScreen #progress { height: auto; }
    SettingsScreen #progress Bar { width: 1fr; }
    SettingsScreen EntityTable { margin-top: 1; }
    SettingsScreen #row-detail { height: auto; }
    SettingsScreen #buttons { height: auto; margin-top: 1; }
    """

    class Applied(Message, bubble=False):
        """A category switch was saved; `detail` is the store as it is now."""

        def __init__(self, detail: StoreDetail, category: Category, on: bool) -> None:
            super().__init__()
            self.detail = detail
            self.category = category
            self.on = on

    class Refused(Message, bubble=False):
        """A category switch could not be saved: it goes back to `previous`."""

        def __init__(self, category: Category, previous: bool, reason: str) -> None:
            super().__init__()
            self.category = category
            self.previous = previous
            self.reason = reason

    class SyncStarted(Message, bubble=False):
        """The initial sync was queued."""

    def __init__(self, store_id: int, initial_sync: bool = False) -> None:
        super().__init__()
        self.store_id = store_id
        self.initial_sync = initial_sync
        self.detail: StoreDetail | None = None
        self.categories: dict[Category, bool] = {}
        self.queued: set[str] = set()

    def compose_body(self) -> ComposeResult:
        if self.initial_sync:
            yield Static(Content(JUST_CONNECTED), id="notice")
        yield Static(Content("Sync data from Shopify"), classes="section")
        for category in Category:
            with Horizontal(classes="category"):
                yield Switch(True, animate=False, id=f"cat-{category.value}", disabled=True)
                yield Static(Content("on"), id=f"word-{category.value}", classes="word")
                yield Static(Content(category.label))
        yield Static(Content("Initial sync"), classes="section")
        with Vertical(id="initial"):
            yield Static(Content(""), id="initial-label")
            yield Button("Start initial sync", id="start-sync", variant="primary",
                         compact=True, classes="-hidden")
            yield ProgressBar(total=100, show_eta=False, id="progress", classes="-hidden")
        yield Static(Content("Sync status"), classes="section")
        yield EntityTable(COMPACT, id="entities")
        yield Static(Content(""), id="row-detail")
        with Horizontal(id="buttons"):
            yield Button("Re-sync", id="resync", compact=True)

    def on_mount(self) -> None:
        self.start_live()

    def load(self) -> tuple[StoreDetail, set[str]] | None:
        try:
            return store_detail(self.store_id), active_sync_entities(self.store_id)
        except StoreNotFound:
            return None

    def show(self, data: tuple[StoreDetail, set[str]] | None) -> None:
        if data is None:
            self.dismiss(None)
            return
        detail, self.queued = data
        self._show_detail(detail)

    def _show_detail(self, data: StoreDetail) -> None:
        first = self.detail is None
        self.detail = data
        self._show_categories(data.categories)
        self._paint()
        if first:
            start = self.query_one("#start-sync", Button)
            if self.initial_sync and start.display and not start.has_class("-hidden"):
                start.focus()
            else:
                self.query_one(f"#cat-{Category.CUSTOMERS.value}", Switch).focus()
        self.refresh_bindings()

    def tick(self) -> None:
        self._paint()

    def watch_stale(self) -> None:
        self._paint()

    def _show_categories(self, categories: dict[Category, bool]) -> None:
        self.categories = dict(categories)
        allowed = self.detail is not None and not self.detail.summary.deleting \
            and not getattr(self.app, "read_only", False)
        for category, on in categories.items():
            switch = self.query_one(f"#cat-{category.value}", Switch)
            switch.disabled = not allowed
            if switch.value != on:
                switch.value = on  # Changed is ignored: it matches self.categories
            self._word(category, on)

    def _word(self, category: Category, on: bool) -> None:
        """The switch's state in words, so it reads without colour."""
        self.query_one(f"#word-{category.value}", Static).update(
            Content.styled("on", "$text-success") if on
            else Content.styled("off", "$foreground-muted"))

    def _paint(self) -> None:
        detail = self.detail
        if detail is None:
            return
        summary = detail.summary
        title = Content("Sync settings · ") + content(summary.name)
        self.set_title(title + stale_marker(self.stale) if self.stale else title)
        self.query_one(EntityTable).show(summary.entities, self.now, self.queued)
        self._render_row_line()
        running = sync_progress(summary, self.queued)
        label = self.query_one("#initial-label", Static)
        start = self.query_one("#start-sync", Button)
        bar = self.query_one("#progress", ProgressBar)
        start.set_class(running is not None or initial_sync_done(summary), "-hidden")
        bar.set_class(running is None, "-hidden")
        app: Any = self.app
        start.disabled = not app.available(summary, "initial_sync")
        if running is not None:
            percent, text = running
            bar.update(progress=percent)
            label.update(Content(text))
        elif initial_sync_done(summary):
            label.update(Content.styled("✔ ", "$text-success") + Content(
                f"Initial sync complete · last synced {relative(summary.last_synced_at, self.now)}"
            ))
        elif app.read_only:
            label.update(Content.styled("read-only: settings and syncs cannot change here",
                                        "$text-warning"))
        elif start.disabled:
            label.update(Content.styled(
                f"Cannot sync while {summary.status.label}: reconnect first", "$text-warning"))
        else:
            label.update(Content("Runs Customers → Orders → Products → Collections."))
        self.query_one("#resync", Button).disabled = not app.available(summary, "resync")

    # -- actions ------------------------------------------------------------------------------

    def on_switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        category = Category(str(event.switch.id).removeprefix("cat-"))
        if self.categories.get(category) == event.value:
            return  # a refresh, not the operator
        self.categories[category] = event.value
        self._word(category, event.value)
        self._apply(category, event.value)

    @work(thread=True, exclusive=False, exit_on_error=False, group="settings-apply")
    def _apply(self, category: Category, on: bool) -> None:
        try:
            with shopsync_app(self).runtime.db.connection_context():
                detail = actions.update_settings(self.store_id, {category: on})
        except Exception as error:  # ActionError, or the database could not be written
            self.post_message(self.Refused(category, not on, safe(error)))
            return
        self.post_message(self.Applied(detail, category, on))

    def on_settings_screen_applied(self, message: Applied) -> None:
        word = "on" if message.on else "off"
        self.notify(f"{message.category.label} {word}", title="Sync settings",
                    markup=False, timeout=3)
        self._show_detail(message.detail)
        self.refresh_now()

    def on_settings_screen_refused(self, message: Refused) -> None:
        category, previous, reason = message.category, message.previous, message.reason
        self.categories[category] = previous
        self.query_one(f"#cat-{category.value}", Switch).value = previous
        self._word(category, previous)
        self.notify(reason, title="Sync settings not changed", severity="error", markup=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "start-sync":
            self._start_initial_sync()
        elif event.button.id == "resync":
            self.action_resync()

    @work(thread=True, exclusive=True, exit_on_error=False, group="settings-start")
    def _start_initial_sync(self) -> None:
        try:
            with shopsync_app(self).runtime.db.connection_context():
                actions.start_initial_sync(self.store_id)
        except Exception as error:  # ActionError (e.g. NotAllowed), or the database
            self.notify(safe(error), title="Initial sync", severity="error", markup=False)
            return
        self.post_message(self.SyncStarted())

    def on_settings_screen_sync_started(self, message: SyncStarted) -> None:
        self.notify("Initial sync started", title="Initial sync", markup=False, timeout=3)
        self.refresh_now()

    def _render_row_line(self) -> None:
        """The highlighted entity's detail in full: the drawer's Detail column is narrow."""
        table = self.query_one(EntityTable)
        row = table.highlighted
        line = Content("")
        if row is not None:
            line = Content.styled(f"{row.entity.label}: ", "bold") + entity_detail(
                row, row.entity.value in table.queued)
            if row.state is EntityState.SYNCED:
                line += Content(f"{row.records:,} records, synced "
                                f"{relative(row.last_synced_at, self.now)}")
        self.query_one("#row-detail", Static).update(line)

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._render_row_line()

    def on_entity_table_retry_requested(self, message: EntityTable.RetryRequested) -> None:
        message.stop()
        if self.detail is not None:
            shopsync_app(self).request_action(
                "retry", self.detail.summary, entity=message.entity.value)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "resync":
            summary = self.detail.summary if self.detail else None
            app: Any = self.app
            return True if app.available(summary, "resync") else None
        return True

    def action_resync(self) -> None:
        if self.detail is not None:
            shopsync_app(self).request_action("resync", self.detail.summary)
