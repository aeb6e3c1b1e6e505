"""The Details drawer: a read-only health view of one store (reference/product.md §6).

Store information (Store domain, Email, Custom domain, Plan, Currency, Country, Created), the
status and the latest failure detail, the granted scopes with missing required ones marked,
the readiness checklist with each failed item's likely cause and fix, and the webhooks. It
docks on the right over the screen it was opened from and refreshes live while open.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Static

from engine.actions import Action, ActionError, webhook_health
from engine.domain.status import CATEGORY_SCOPE, Status
from engine.domain.views import StoreDetail, StoreSummary
from engine.domain.webhook_health import TopicHealth
from engine.persistence.reads import StoreNotFound, store_detail
from tui.clock import relative
from tui.host import shopsync_app
from tui.safe_text import content
from tui.screens.drawer import Drawer
from tui.screens.live import Live, stale_marker
from tui.store_keys import ExplainsDisabledKeys, store_binding
from tui.widgets.readiness_list import ReadinessList
from tui.widgets.status_badge import badge

LABEL_WIDTH = 15


def when(moment: datetime | None, now: datetime, never: str = "—") -> str:
    """"2026-10-28 10:00 UTC (30 d ago)", or `never`."""
    if moment is None:
        return never
    return f"{moment:%Y-%m-%d %H:%M} UTC ({relative(moment, now)})"


def field_line(label: str, value: Content | str | None) -> Content:
    shown = value if isinstance(value, Content) else content(value or "—")
    return Content.styled(label.ljust(LABEL_WIDTH), "$foreground-muted") + shown


def info_lines(detail: StoreDetail, now: datetime) -> list[Content]:
    """Store information, as product.md §6 names the fields."""
    return [
        field_line("Store domain", detail.summary.domain),
        field_line("Email", detail.email),
        field_line("Custom domain", detail.custom_domain),
        field_line("Plan", detail.plan),
        field_line("Currency", detail.currency),
        field_line("Country", detail.country),
        field_line("Created", when(detail.connected_at, now)),
        field_line("Connected by", "OAuth" if detail.auth_method == "oauth" else "access token"),
    ]


def status_lines(detail: StoreDetail) -> list[Content]:
    summary = detail.summary
    line = badge(summary.status)
    if summary.status is not Status.CONNECTED and summary.status_detail:
        line += content(f" · {summary.status_detail}", "$foreground-muted")
    lines = [line]
    if detail.latest_failure:
        lines.append(Content.styled("Latest failure", "bold"))
        lines.append(content(detail.latest_failure, "$text-error"))
    return lines


def scope_lines(detail: StoreDetail) -> list[Content]:
    """Granted scopes (✔), then required ones that are missing (✖, and which category needs
    them); write_X satisfies read_X."""
    lines = [Content.styled("✔ ", "$text-success") + content(scope)
             for scope in detail.granted_scopes]
    for scope in detail.missing_scopes:
        needed_by = [c.label for c, s in CATEGORY_SCOPE.items()
                     if s == scope and detail.categories.get(c, True)]
        why = f" · missing ({', '.join(needed_by)})" if needed_by else " · missing"
        lines.append(Content.styled("✖ ", "bold $text-error") + content(scope, "bold")
                     + Content.styled(why, "$text-error"))
    if not lines:
        lines.append(Content.styled("No scopes granted", "$foreground-muted"))
    if detail.missing_scopes:
        lines.append(Content.styled("Reconnect and re-approve the full scope set.",
                                    "$foreground-muted"))
    return lines


def webhook_lines(detail: StoreDetail, now: datetime,
                  health: tuple[TopicHealth, ...] = ()) -> list[Content]:
    registered = when(detail.webhooks_registered_at, now, never="not registered")
    lines = [
        field_line("Registered", registered),
        field_line("Last webhook", when(detail.last_webhook_at, now, never="none received")),
    ]
    if health:
        lines.append(Content.styled("Per topic, last 24 h: deliveries, duplicates dropped, "
                                    "rejected, lag median / worst", "$foreground-muted"))
        lines.extend(topic_line(topic, now) for topic in health)
    return lines


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} s" if value < 60 else f"{value / 60:.0f} min"


def topic_line(topic: TopicHealth, now: datetime) -> Content:
    """"✔ orders/create  5 · 1 dup · 1 rejected · lag 0.4 s / 10 min · last 2 min ago"."""
    mark = (Content.styled("✔ ", "$text-success") if topic.subscribed
            else Content.styled("? ", "$foreground-muted") if topic.subscribed is None
            else Content.styled("✖ ", "bold $text-error"))
    line = mark + content(topic.topic.ljust(22))
    line += Content(f"{topic.deliveries:>4}")
    if topic.duplicates:
        line += Content(f" · {topic.duplicates} dup")
    if topic.rejected:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(topic.rejected.items()))
        line += Content.styled(f" · {topic.rejected_total} rejected ({reasons})", "$text-error")
    if topic.lag_median_seconds is not None:
        line += Content(f" · lag {_seconds(topic.lag_median_seconds)} / "
                        f"{_seconds(topic.lag_worst_seconds)}")
    last = relative(topic.last_delivery_at, now, never="never")
    line += Content.styled(f" · last {last}", "$foreground-muted")
    if not topic.subscribed and topic.subscribed is not None:
        line += Content.styled(" · not subscribed", "bold $text-error")
    for uri in topic.other_uris:
        line += Content("\n    ") + content(f"⚠ also registered at {uri}", "bold $text-warning")
    return line


class DetailsScreen(ExplainsDisabledKeys, Live, Drawer):
    """View details: store information, scopes, readiness and webhooks of one store."""

    HELP_TITLE = "Store details"
    DRAWER_TITLE = "Store details"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="details.close"),
        store_binding(Action.CHECK_HEALTH, "details", full_label=True),
        store_binding(Action.RECONNECT, "details"),
        Binding("e", "settings", "Settings", id="details.settings"),
    ]

    DEFAULT_CSS = """
    DetailsScreen .block { height: auto; }
    """

    def __init__(self, store_id: int) -> None:
        super().__init__()
        self.store_id = store_id
        self.detail: StoreDetail | None = None
        self.health: tuple[TopicHealth, ...] = ()

    def compose_body(self) -> ComposeResult:
        yield Static(Content("Store information"), classes="section")
        yield Static(Content.styled("Loading…", "$foreground-muted"), id="info", classes="block")
        yield Static(Content("Status"), classes="section")
        yield Static(Content(""), id="status", classes="block")
        yield Static(Content("Granted scopes"), classes="section")
        yield Static(Content(""), id="scopes", classes="block")
        yield Static(Content("Readiness"), classes="section")
        yield ReadinessList(explain=True, id="readiness")
        yield Static(Content("Webhooks"), classes="section")
        yield Static(Content(""), id="webhooks", classes="block")

    def on_mount(self) -> None:
        self.query_one("#body").focus()
        self.start_live()

    def load(self) -> tuple[StoreDetail, tuple[TopicHealth, ...]] | None:
        try:
            detail = store_detail(self.store_id)
        except StoreNotFound:
            return None
        try:
            health = webhook_health(self.store_id, self.now)
        except ActionError:
            health = ()
        return detail, health

    def show(self, data: tuple[StoreDetail, tuple[TopicHealth, ...]] | None) -> None:
        if data is None:
            self.dismiss(None)
            return
        self.detail, self.health = data
        self._paint()
        self.refresh_bindings()

    def tick(self) -> None:
        self._paint()

    def watch_stale(self) -> None:
        self._paint()

    def _paint(self) -> None:
        detail, now = self.detail, self.now
        if detail is None:
            return
        title = Content("Store details · ") + content(detail.summary.name)
        self.set_title(title + stale_marker(self.stale) if self.stale else title)
        join = Content("\n").join
        self.query_one("#info", Static).update(join(info_lines(detail, now)))
        self.query_one("#status", Static).update(join(status_lines(detail)))
        self.query_one("#scopes", Static).update(join(scope_lines(detail)))
        summary = detail.summary
        self.query_one(ReadinessList).show(
            summary.readiness, summary.last_checked_at, now, checking=summary.checking)
        self.query_one("#webhooks", Static).update(join(webhook_lines(detail, now, self.health)))

    def key_store(self) -> StoreSummary | None:
        return self.detail.summary if self.detail else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "store_action":
            summary = self.detail.summary if self.detail else None
            app: Any = self.app
            return True if app.available(summary, str(parameters[0])) else None
        return True

    def action_store_action(self, action: str) -> None:
        if self.detail is not None:
            shopsync_app(self).request_action(action, self.detail.summary)

    def action_settings(self) -> None:
        if self.detail is not None:
            summary = self.detail.summary
            self.dismiss(None)
            shopsync_app(self).request_action("settings", summary)
