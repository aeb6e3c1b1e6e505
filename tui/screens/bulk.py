"""Bulk operations (`b` on the store screen, or a Troubleshoot finding's key): one store's Shopify
bulk operations, ours and someone else's, with the keys to clear a blocked sync.

    Stores › Acme Outdoor › Bulk operations
    5 of 5 slots in use · full · blocked: Orders · checked just now
      ID             Status   Whose               Created     Completed  Objects  Roots  Error
      4142422163005  RUNNING  theirs · Customers  12 min ago  —          1,200    600    —
    4142422163005: someone else's, exports customers, running since 04:20 UTC

The list comes from Shopify (not the database), read in a thread worker on open, every
REFRESH_EVERY seconds while the screen is on top, after each action and on `u`. `c` cancels the
highlighted operation after a confirmation that names it (Cancel focused; enter never
confirms); `r` retries the blocked syncs, once a slot is free. Ours are the ones a job of this
engine started (an adopted one after a restart says so).
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Static

from engine import actions
from engine.domain.bulk import BulkListing, BulkOperationView
from engine.domain.status import Entity
from tui.clock import relative
from tui.host import shopsync_app
from tui.safe_text import content, safe
from tui.store_keys import ExplainsDisabledKeys
from tui.widgets.key_bar import KeyBar
from tui.widgets.progress_cell import to_rich

REFRESH_EVERY = 3.0
COLUMNS = ("ID", "Status", "Whose", "Created", "Completed", "Objects", "Roots", "Error")
STATUS_STYLE = {
    "RUNNING": "bold $text-accent", "CREATED": "$text-accent", "CANCELING": "$text-warning",
    "COMPLETED": "$text-success", "FAILED": "bold $text-error", "CANCELED": "$foreground-muted",
    "EXPIRED": "$foreground-muted",
}


def entity_label(name: str | None) -> str:
    try:
        return Entity(name or "").label
    except ValueError:
        return safe(name or "")


def whose(op: BulkOperationView) -> Content:
    about = ", ".join(x for x in (entity_label(op.entity) if op.entity else "", op.role) if x)
    text = "ours" if op.ours else "someone else's"
    style = "$text-success" if op.ours else "bold $text-warning"
    return Content.styled(text, style) + (content(f" ({about})") if about else Content(""))


def whose_cell(op: BulkOperationView) -> Content:
    """The table's short form: "theirs · Customers", "ours · Orders · adopted"."""
    parts = [entity_label(op.entity)] if op.entity else []
    if op.role.startswith("adopted"):
        parts.append("adopted")
    text = Content.styled("ours", "$text-success") if op.ours else Content.styled(
        "theirs", "bold $text-warning")
    return text + content("".join(f" · {p}" for p in parts))


def describe(op: BulkOperationView) -> Content:
    """The highlighted operation in one line: whose it is, what it exports, since when."""
    line = Content.styled(f"{op.short_id}: ", "bold") + whose(op)
    if op.entity and not op.ours:
        line += content(f", exports {op.entity}")
    since = op.created_at.strftime("%Y-%m-%d %H:%M UTC") if op.created_at else "?"
    if op.active:
        line += Content(f", {op.status.lower()} since {since}")
    else:
        ended = op.completed_at.strftime("%H:%M UTC") if op.completed_at else "?"
        line += Content(f", {op.status.lower()} at {ended} (started {since})")
    if op.error_code:
        line += content(f", error {op.error_code}", "$text-error")
    return line


class BulkScreen(ExplainsDisabledKeys, Screen[None]):
    """One store's bulk operations at Shopify: cancel someone else's, retry the blocked sync."""

    HELP_TITLE = "Bulk operations"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="bulk.back"),
        Binding("c", "cancel_operation", "Cancel operation", id="bulk.cancel"),
        Binding("r", "retry_blocked", "Retry blocked sync", id="bulk.retry"),
        Binding("u", "reload", "Refresh", id="bulk.refresh"),
    ]

    DEFAULT_CSS = """
    BulkScreen #crumb { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    BulkScreen #slots { height: auto; padding: 0 1; }
    BulkScreen #operations { height: 1fr; margin: 1 1 0 1; }
    BulkScreen #row-line { height: auto; padding: 0 1; }
    """

    class Listed(Message, bubble=False):
        """A reload read the store's bulk operations."""

        def __init__(self, listing: BulkListing) -> None:
            super().__init__()
            self.listing = listing

    class Problem(Message, bubble=False):
        """A reload failed: say why and keep the last list."""

        def __init__(self, problem: str) -> None:
            super().__init__()
            self.problem = problem

    class Cancelled(Message, bubble=False):
        """A cancel was sent (or refused): read the list again."""

    def __init__(self, store_id: int, name: str = "", *,
                 listing: BulkListing | None = None) -> None:
        """`listing`: show this at once instead of asking Shopify first (screenshots)."""
        super().__init__()
        self.store_id = store_id
        self.store_name = name
        self.listing: BulkListing | None = listing
        self.problem: str | None = None
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._crumb(), id="crumb")
        yield Static(Content.styled("Asking Shopify…", "$foreground-muted"), id="slots")
        table: DataTable[Any] = DataTable(id="operations", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Static(Content(""), id="row-line")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        if self.listing is not None:
            self.show(self.listing)
        else:
            self.reload()

    def _crumb(self) -> Content:
        name = self.listing.name if self.listing else (self.store_name or "…")
        return Content("Stores › ") + content(name) + Content(" › Bulk operations")

    # -- data ---------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="bulk-list")
    def reload(self) -> None:
        try:
            with shopsync_app(self).runtime.db.connection_context():
                listing = actions.bulk_operations(self.store_id)
        except actions.ActionError as error:
            self.post_message(self.Problem(safe(error)))
            return
        except Exception as error:  # network or database trouble: say so, keep the last list
            self.post_message(self.Problem(f"{type(error).__name__}: {safe(error)}"))
            return
        self.post_message(self.Listed(listing))

    def on_bulk_screen_listed(self, message: Listed) -> None:
        self.show(message.listing)

    def on_bulk_screen_problem(self, message: Problem) -> None:
        self.show_problem(message.problem)

    def on_bulk_screen_cancelled(self, message: Cancelled) -> None:
        self.reload()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        if getattr(self.app, "poll", True) and self.is_attached:
            self._timer = self.set_timer(REFRESH_EVERY, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.app.screen is self:
            self.reload()
        else:
            self._arm()

    def on_screen_resume(self) -> None:
        if self.listing is not None and getattr(self.app, "poll", True):
            self.reload()

    def show_problem(self, problem: str) -> None:
        self.problem = problem
        self._render_slots()
        self._arm()

    def show(self, listing: BulkListing) -> None:
        self.listing, self.problem = listing, None
        self.query_one("#crumb", Static).update(self._crumb())
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        now = self._now()
        base = table.visual_style
        for op in listing.operations:
            style = STATUS_STYLE.get(op.status, "")
            cells = (
                Content(op.short_id),
                Content.styled(op.status, style),
                whose_cell(op),
                Content(relative(op.created_at, now, never="—")),
                Content(relative(op.completed_at, now, never="—")),
                Content(f"{op.object_count:,}"),
                Content(f"{op.root_object_count:,}"),
                content(op.error_code or "—"),
            )
            table.add_row(*(to_rich(cell, base) for cell in cells), key=op.id)
        if listing.operations:
            table.move_cursor(row=min(keep, len(listing.operations) - 1))
        self._render_slots()
        self._render_row_line()
        self.refresh_bindings()
        self._arm()

    def _now(self) -> Any:
        clock = getattr(self.app, "clock", None)
        from tui.clock import utc_now

        return clock() if clock else utc_now()

    def _render_slots(self) -> None:
        listing = self.listing
        if listing is None:
            text = Content.styled("Asking Shopify…", "$foreground-muted")
        else:
            used = len(listing.active)
            text = Content(f"{used} of {listing.limit} slots in use · ")
            text += (Content.styled("a slot is free", "$text-success") if listing.way_clear
                     else Content.styled("full", "bold $text-error"))
            if listing.blocked:
                labels = ", ".join(entity_label(e) for e in listing.blocked)
                text += Content(" · ") + Content.styled(f"blocked: {labels}", "bold $text-error")
            foreign = len(listing.foreign_active)
            if foreign:
                text += Content(f" · {foreign} running are someone else's")
            text += content(f" · checked {relative(listing.fetched_at, self._now())}",
                            "$foreground-muted")
            if not listing.operations:
                text += Content("\n") + Content.styled("No bulk operations at Shopify.",
                                                       "$foreground-muted")
        if self.problem:
            text += Content("\n") + content(f"⚠ {self.problem}", "bold $text-error")
        self.query_one("#slots", Static).update(text)

    @property
    def highlighted(self) -> BulkOperationView | None:
        if self.listing is None or not self.listing.operations:
            return None
        row = self.query_one(DataTable).cursor_row
        operations = self.listing.operations
        return operations[row] if 0 <= row < len(operations) else None

    def _render_row_line(self) -> None:
        op = self.highlighted
        self.query_one("#row-line", Static).update(describe(op) if op else Content(""))

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._render_row_line()
        self.refresh_bindings()

    # -- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        read_only = bool(getattr(self.app, "read_only", False))
        if action == "cancel_operation":
            op = self.highlighted
            return True if op is not None and op.active and not read_only else None
        if action == "retry_blocked":
            listing = self.listing
            return True if listing and listing.blocked and not read_only else None
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.reload()

    def action_cancel_operation(self) -> None:
        from tui.screens.confirm import ConfirmScreen

        op = self.highlighted
        if op is None or not op.active:
            return
        if op.ours:
            consequence = (f"It is ours: the {entity_label(op.entity)} sync waiting on it fails "
                           "and can be retried.")
        else:
            consequence = ("It is someone else's: whatever started it (another installation, "
                           "a script) loses its export.")
        message = describe(op).plain + "\n\n" + consequence

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._cancel(op.id)

        self.app.push_screen(ConfirmScreen(
            f"Cancel bulk operation {op.short_id}?", message, "Cancel operation",
            destructive=True), done)

    @work(thread=True, exit_on_error=False, group="bulk-actions")
    def _cancel(self, operation_id: str) -> None:
        app = shopsync_app(self)
        try:
            with app.runtime.db.connection_context():
                view = actions.cancel_bulk_operation(self.store_id, operation_id)
        except actions.ActionError as error:  # notify is thread-safe
            app.notify(safe(error), title="Cancel operation", severity="error", markup=False)
        else:
            app.notify(f"Bulk operation {view.short_id} ({view.owner}): {view.status.lower()}",
                       title="Cancel operation", markup=False)
        self.post_message(self.Cancelled())

    def action_retry_blocked(self) -> None:
        listing = self.listing
        if listing is None or not listing.blocked:
            return
        if not listing.way_clear:
            self.app.notify("Every slot is still taken: cancel an operation first (c), or wait",
                            title="Retry blocked sync", severity="warning", markup=False)
            return
        for entity in listing.blocked:
            shopsync_app(self).perform_action(
                "retry", self.store_id, listing.name, entity=entity)
