"""One store: its sync status table, readiness checklist and activity, with the store keys.

    Stores › Acme Outdoor
    acme-outdoor.myshopify.com · ● Connected · 4,800 records · synced 3 min ago
    Sync status
      Entity · State · Progress · Records · Last synced · Detail   (enter/r on a Failed row: Retry)
    Readiness                          Activity

The keys are the dashboard's, for this store (c r s d x D i e), dimmed when they cannot run,
and `b` opens its Shopify bulk operations (tui/screens/bulk.py);
`r` on a Failed row retries that entity only, elsewhere every Failed entity. Live updates
land in place: the table keeps its cursor, the log its scroll position.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, DataTable, Static

from engine.actions import Action, active_sync_entities
from engine.domain.status import CHECKING, Entity, EntityState, Status
from engine.domain.views import EventRow, StoreSummary
from engine.persistence.reads import StoreNotFound, store_summary
from engine.persistence.reads import events as read_events
from tui.clock import relative
from tui.host import shopsync_app
from tui.messages import OlderEvents
from tui.safe_text import content
from tui.screens.live import Live, stale_marker
from tui.store_keys import ExplainsDisabledKeys, store_binding
from tui.widgets.entity_table import EntityTable, entity_detail
from tui.widgets.event_log import EventLog
from tui.widgets.key_bar import KeyBar
from tui.widgets.readiness_list import ReadinessList
from tui.widgets.status_badge import badge

EVENT_PAGE = 50
NARROW = 100  # below this width the readiness list and the activity log stack


def summary_line(summary: StoreSummary, now: Any) -> Content:
    """"domain · ● Connected · detail · 4,800 records · synced 3 min ago · Checking…"."""
    line = content(summary.domain, "$foreground-muted") + Content(" · ") + badge(summary.status)
    if summary.status is not Status.CONNECTED and summary.status_detail:
        line += content(f" · {summary.status_detail}", "$foreground-muted")
    line += Content(f" · {summary.records_total:,} records · synced ")
    line += Content(relative(summary.last_synced_at, now))
    if summary.deleting:
        line += Content(" · ") + Content.styled("Deleting…", "bold $text-error")
    elif summary.checking:
        line += Content(" · ") + Content.styled(CHECKING, "bold $text-accent")
    return line


class StoreScreen(ExplainsDisabledKeys, Live, Screen[None]):
    """The store screen: per-entity sync status, readiness and activity of one store."""

    HELP_TITLE = "Store"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="store.back"),
        store_binding(Action.CHECK_HEALTH, "store"),
        Binding(Action.RETRY.key, "retry", Action.RETRY.short, id="store.retry"),
        *(store_binding(action, "store") for action in (
            Action.RESYNC, Action.DISCONNECT, Action.RECONNECT, Action.DELETE, Action.DETAILS,
            Action.SETTINGS, Action.BULK_OPERATIONS)),
    ]

    DEFAULT_CSS = """
    StoreScreen #crumb { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    StoreScreen #summary { height: auto; padding: 0 1; }
    StoreScreen .section { height: 1; padding: 0 1; margin-top: 1; color: $text-accent;
                           text-style: bold; }
    StoreScreen EntityTable { margin: 0 1; }
    StoreScreen #row-line { height: auto; padding: 0 1; }
    StoreScreen #row-detail { width: 1fr; height: auto; }
    StoreScreen #retry-row { margin-left: 1; }
    StoreScreen #lower { height: 1fr; }
    StoreScreen #readiness-box { width: 44; height: auto; }
    StoreScreen #readiness { padding: 0 1; }
    StoreScreen #activity-box { width: 1fr; height: 1fr; }
    StoreScreen EventLog { margin: 0 1; }
    StoreScreen.-narrow #lower { layout: vertical; }
    StoreScreen.-narrow #readiness-box { width: 1fr; }
    StoreScreen.-narrow .section { margin-top: 0; }
    """

    def __init__(self, store_id: int, summary: StoreSummary | None = None) -> None:
        """`summary`: what the dashboard already read of the store, drawn in the first frame
        (the screen's own read then changes only what differs: a slow link is sent the
        screen once, not a skeleton and then the data)."""
        super().__init__()
        self.store_id = store_id
        self.summary: StoreSummary | None = None
        self._preset = summary if summary is not None and summary.id == store_id else None
        self._events_shown = False
        self._texts: dict[str, Content] = {}  # what each Static updated by `_update` shows

    def compose(self) -> ComposeResult:
        yield Static(Content("Stores › …"), id="crumb")
        yield Static(Content.styled("Loading…", "$foreground-muted"), id="summary")
        yield Static(Content("Sync status"), classes="section")
        yield EntityTable(id="entities")
        with Horizontal(id="row-line"):
            yield Static(Content(""), id="row-detail")
            yield Button("Retry", id="retry-row", variant="error", compact=True,
                         classes="-hidden")
        with Horizontal(id="lower"):
            with Vertical(id="readiness-box"):
                yield Static(Content("Readiness"), classes="section")
                yield ReadinessList(id="readiness")
            with Vertical(id="activity-box"):
                yield Static(Content("Activity"), classes="section")
                yield EventLog(show_store=False, id="events")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(EntityTable).focus()
        if self._preset is not None:
            self._show_summary(self._preset, set())
        self.start_live()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")

    # -- data ---------------------------------------------------------------------------------

    def load(self) -> tuple[StoreSummary | None, list[EventRow], set[str]]:
        try:
            summary = store_summary(self.store_id)
        except StoreNotFound:
            return None, [], set()
        rows = read_events(store_id=self.store_id, limit=EVENT_PAGE)
        return summary, rows, active_sync_entities(self.store_id)

    def show(self, data: tuple[StoreSummary | None, list[EventRow], set[str]]) -> None:
        summary, rows, queued = data
        if summary is None:
            self._store_gone()
            return
        log = self.query_one(EventLog)
        if not self._events_shown:
            self._events_shown = True
            log.reset(rows, exhausted=len(rows) < EVENT_PAGE)
        else:
            log.show_latest(rows)
        self._show_summary(summary, queued)

    def _show_summary(self, summary: StoreSummary, queued: set[str]) -> None:
        self.summary = summary
        self._render_header()
        table = self.query_one(EntityTable)
        table.show(summary.entities, self.now, queued)
        self.query_one(ReadinessList).show(
            summary.readiness, summary.last_checked_at, self.now, checking=summary.checking)
        self._render_row_line()
        self.refresh_bindings()

    def tick(self) -> None:
        if self.summary is not None:
            self._render_header()
            table = self.query_one(EntityTable)
            table.show(self.summary.entities, self.now, table.queued)

    def watch_stale(self) -> None:
        self._render_header()

    def _update(self, selector: str, text: Content) -> None:
        """Update a Static only when its text changed: every update repaints it, which a slow
        link pays for even when the text is the same (the 15-poll re-render of times)."""
        shown = self._texts.get(selector)
        if shown is None or not shown.is_same(text):
            self._texts[selector] = text
            self.query_one(selector, Static).update(text)

    def _render_header(self) -> None:
        summary = self.summary
        crumb = Content("Stores › ") + content(summary.name if summary else "…")
        if self.stale:
            crumb += stale_marker(self.stale)
        self._update("#crumb", crumb)
        if summary is not None:
            self._update("#summary", summary_line(summary, self.now))

    def _render_row_line(self) -> None:
        row = self.query_one(EntityTable).highlighted
        button = self.query_one("#retry-row", Button)
        if row is None:
            self._update("#row-detail", Content(""))
            button.add_class("-hidden")
            return
        queued = row.entity.value in self.query_one(EntityTable).queued
        text = Content.styled(f"{row.entity.label}: ", "bold") + entity_detail(
            row, queued, self.now)
        failed = row.state is EntityState.FAILED
        if failed:
            text += Content.styled("  enter or r: Retry", "$foreground-muted")
            button.label = f"Retry {row.entity.label}"
        elif row.state is EntityState.SYNCED:
            synced = relative(row.last_synced_at, self.now)
            text += Content(f"{row.records:,} records, synced {synced}")
        self._update("#row-detail", text)
        button.set_class(not failed, "-hidden")

    def _store_gone(self) -> None:
        if self.app.screen is self:
            self.app.pop_screen()

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._render_row_line()

    def on_event_log_need_more(self, message: EventLog.NeedMore) -> None:
        message.stop()
        self._load_older(message.before_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="store-older")
    def _load_older(self, before_id: int) -> None:
        try:
            with shopsync_app(self).runtime.db.connection_context():
                rows = read_events(store_id=self.store_id, limit=EVENT_PAGE, before_id=before_id)
        except Exception:  # the poll reports an unreadable database
            return
        self.post_message(OlderEvents(rows, exhausted=len(rows) < EVENT_PAGE))

    def on_older_events(self, message: OlderEvents) -> None:
        self.query_one(EventLog).append_older(message.rows, exhausted=message.exhausted)

    # -- actions ------------------------------------------------------------------------------

    def key_store(self) -> StoreSummary | None:
        return self.summary

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        summary = self.summary
        app: Any = self.app
        if action == "store_action":
            return True if app.available(summary, str(parameters[0])) else None
        if action == "retry":
            return True if app.available(summary, "retry") else None
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_store_action(self, action: str) -> None:
        if self.summary is not None:
            shopsync_app(self).request_action(action, self.summary)

    def action_retry(self) -> None:
        """Retry the highlighted Failed entity, or every Failed entity from elsewhere."""
        row = self.query_one(EntityTable).highlighted
        if row is not None and row.state is EntityState.FAILED and self.focused is not None \
                and isinstance(self.focused, (EntityTable, Button)):
            self._retry_entity(row.entity)
        elif self.summary is not None:
            shopsync_app(self).request_action("retry", self.summary)

    def _retry_entity(self, entity: Entity) -> None:
        if self.summary is not None:
            shopsync_app(self).request_action("retry", self.summary, entity=entity.value)

    def on_entity_table_retry_requested(self, message: EntityTable.RetryRequested) -> None:
        message.stop()
        self._retry_entity(message.entity)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "retry-row":
            event.stop()
            row = self.query_one(EntityTable).highlighted
            if row is not None and row.state is EntityState.FAILED:
                self._retry_entity(row.entity)
