"""The activity log (`L`): every action, state change, sync and webhook, newest first.

Filter by text (`/`, matched against the message and the store's domain) and by kind (`f`
cycles, or pick it in the selector). Scrolling to the end loads older history a page at a time
(engine.persistence.reads.events with before_id). New events arrive live; while the operator reads
older entries the view stays where it is (see tui/widgets/event_log.py).
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Input, Select, Static

from engine.domain.views import EventRow
from engine.persistence.reads import StoreNotFound, events, store_summary
from tui.host import shopsync_app
from tui.messages import OlderEvents
from tui.safe_text import content, safe
from tui.screens.live import Live, stale_marker
from tui.store_keys import ExplainsDisabledKeys
from tui.widgets.event_log import EventLog, header_line
from tui.widgets.key_bar import KeyBar

PAGE = 200
KINDS: tuple[str, ...] = ("action", "status", "sync", "health", "webhook", "connect")
ALL = "all"


class ActivityScreen(ExplainsDisabledKeys, Live, Screen[None]):
    """Every store's (or one store's) activity, filterable, with history on demand."""

    HELP_TITLE = "Activity"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="activity.back"),
        Binding("slash", "filter", "Filter", id="activity.filter"),
        Binding("f", "cycle_kind", "Kind", id="activity.kind"),
        Binding("L", "newest", "Newest", show=False, id="activity.newest"),
    ]

    DEFAULT_CSS = """
    ActivityScreen #crumb { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    ActivityScreen #filters { height: auto; padding: 0 1; }
    ActivityScreen #text { width: 1fr; }
    ActivityScreen #kind { width: 22; }
    ActivityScreen #columns { height: 1; padding: 0 1; color: $text-muted; text-style: bold; }
    ActivityScreen EventLog { padding: 0 1; }
    ActivityScreen #full {
        height: auto; max-height: 5; padding: 0 1; background: $panel;
    }
    """

    def __init__(self, store_id: int | None = None) -> None:
        super().__init__()
        self.store_id = store_id
        self.store_label = ""
        self.text = ""
        self.kind = ALL
        self._generation = 0  # bumps when the filter changes; older results are dropped

    def compose(self) -> ComposeResult:
        yield Static(Content("Activity"), id="crumb")
        with Horizontal(id="filters"):
            yield Input(placeholder="/ filter by text or store", id="text")
            yield Select([(k.capitalize(), k) for k in KINDS], prompt="All kinds",
                         allow_blank=True, id="kind")
        yield Static(Content(""), id="columns")
        yield EventLog(show_store=self.store_id is None, empty="No activity matches", id="log")
        yield Static(Content(""), id="full")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(EventLog).focus()
        self._columns()
        self.start_live()

    def on_resize(self) -> None:
        self.call_after_refresh(self._columns)

    def _columns(self) -> None:
        log = self.query_one(EventLog)
        width = log.scrollable_content_region.width or self.size.width - 2
        self.query_one("#columns", Static).update(
            header_line(show_store=log.show_store, width=width))

    # -- data ---------------------------------------------------------------------------------

    def _kinds(self) -> tuple[str, ...] | None:
        return None if self.kind == ALL else (self.kind,)

    def load(self) -> tuple[int, str, list[EventRow]]:
        generation = self._generation
        label = ""
        if self.store_id is not None:
            try:
                summary = store_summary(self.store_id)
                label = summary.name
            except StoreNotFound:
                label = "deleted store"
        rows = events(store_id=self.store_id, limit=PAGE, kinds=self._kinds(),
                      text=self.text or None)
        return generation, label, rows

    def show(self, data: tuple[int, str, list[EventRow]]) -> None:
        generation, label, rows = data
        if generation != self._generation:
            self.refresh_now(force=True)  # the filter changed while reading
            return
        self.store_label = label
        log = self.query_one(EventLog)
        if getattr(self, "_shown_generation", None) != generation:
            self._shown_generation = generation
            log.reset(rows, exhausted=len(rows) < PAGE)
        else:
            log.show_latest(rows)
        self._header()

    def watch_stale(self) -> None:
        self._header()

    def _header(self) -> None:
        title = Content("Activity · ")
        title += content(self.store_label) if self.store_id is not None else Content("all stores")
        shown = len(self.query_one(EventLog).rows)
        more = "" if self.query_one(EventLog).exhausted else "+"
        title += Content.styled(f" · {shown:,}{more} events", "$foreground-muted")
        if self.text or self.kind != ALL:
            title += Content.styled(" (filtered)", "$text-accent")
        if self.stale:
            title += stale_marker(self.stale)
        self.query_one("#crumb", Static).update(title)

    def on_event_log_highlighted(self, message: EventLog.Highlighted) -> None:
        """The highlighted event in full: the log's columns cut long messages short."""
        row = message.row
        full = self.query_one("#full", Static)
        if row is None:
            full.update(Content(""))
            return
        where = f" · {safe(row.store_domain)}" if row.store_domain else ""
        who = f" · by {safe(row.actor)}" if row.actor else ""
        head = Content.styled(f"{row.at:%Y-%m-%d %H:%M:%S} UTC{where} · {row.kind}{who}",
                              "$foreground-muted")
        full.update(head + Content("\n") + content(row.message, multiline=True))

    def on_event_log_need_more(self, message: EventLog.NeedMore) -> None:
        message.stop()
        self._load_older(self._generation, message.before_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="activity-older")
    def _load_older(self, generation: int, before_id: int) -> None:
        try:
            with shopsync_app(self).runtime.db.connection_context():
                rows = events(store_id=self.store_id, limit=PAGE, kinds=self._kinds(),
                              text=self.text or None, before_id=before_id)
        except Exception:  # the poll shows the stale marker
            return
        self.post_message(OlderEvents(rows, exhausted=len(rows) < PAGE, generation=generation))

    def on_older_events(self, message: OlderEvents) -> None:
        if message.generation == self._generation:
            self.query_one(EventLog).append_older(message.rows, exhausted=message.exhausted)
            self._header()

    # -- filters ------------------------------------------------------------------------------

    def _filter_changed(self) -> None:
        self._generation += 1
        self.refresh_now(force=True)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.value.strip() != self.text:
            self.text = event.value.strip()
            self._filter_changed()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(EventLog).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        kind = event.value if isinstance(event.value, str) else ALL  # blank: every kind
        if kind != self.kind:
            self.kind = kind
            self._filter_changed()

    def action_filter(self) -> None:
        self.query_one("#text", Input).focus()

    def action_cycle_kind(self) -> None:
        order = [ALL, *KINDS]
        following = order[(order.index(self.kind) + 1) % len(order)]
        select: Select[str] = self.query_one("#kind", Select)
        if following == ALL:
            select.clear()
        else:
            select.value = following

    def action_newest(self) -> None:
        self.query_one(EventLog).action_first()

    def action_back(self) -> None:
        if self.focused is self.query_one("#text", Input):
            self.query_one(EventLog).focus()
            return
        self.app.pop_screen()
