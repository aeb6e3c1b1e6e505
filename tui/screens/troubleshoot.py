"""Troubleshoot (`t`): every store's detected problems, grouped by store, each with its fix.

The findings come from engine.lifecycle.diagnosis (the documented diagnosis tree of product.md
§10) and refresh live. `enter` runs the highlighted finding's fix through the app's store
actions (so a Re-sync still asks first); the store keys (c r s x e i) act on the highlighted
finding's store and are dimmed when they cannot run. A clean fleet says so.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import Screen
from textual.style import Style
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from engine.actions import Action, Finding, diagnose
from engine.domain.views import StoreSummary
from engine.persistence.reads import decode_all, list_stores
from tui.host import shopsync_app
from tui.safe_text import content
from tui.screens.live import Live, stale_marker
from tui.store_keys import ExplainsDisabledKeys, store_binding
from tui.widgets.key_bar import KeyBar
from tui.widgets.progress_cell import to_rich
from tui.widgets.status_badge import badge

CLEAN = "No problems found: every store is healthy."
SEVERITY = {
    "error": Content.styled("✖", "bold $text-error"),
    "warning": Content.styled("▲", "bold $text-warning"),
    "info": Content.styled("ℹ", "bold $text-primary"),
}


def finding_id(finding: Finding) -> str:
    """A key that survives refreshes (the problem text may carry a changing duration)."""
    problem = finding.problem.split(" (")[0]
    return f"{finding.store_id}|{finding.action}|{finding.entity}|{problem}"


def finding_lines(finding: Finding) -> tuple[Content, list[tuple[str, Content]]]:
    """The problem, then (label, value) rows: its cause, its fix and the key that runs it."""
    head = SEVERITY.get(finding.severity, SEVERITY["info"]) + Content(" ") + content(
        finding.problem, "bold")
    key = Content.styled(f"{finding.key}", "bold $text-accent") + Content(
        f" {Action(finding.action).label}")
    return head, [("Cause:", content(finding.cause)), ("Fix:", content(finding.fix)),
                  ("Key:", key)]


def finding_prompt(finding: Finding, base: Style | None = None) -> Group:
    """The finding: its problem, then label/value rows whose values wrap under themselves
    (colours resolved over `base`)."""
    head, rows = finding_lines(finding)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=4)
    grid.add_column(width=6)
    grid.add_column(ratio=1)
    for label, value in rows:
        text = to_rich(value, base)
        text.no_wrap, text.overflow = False, "fold"
        muted = to_rich(Content.styled(label, "$foreground-muted"), base)
        grid.add_row("", muted, text)
    return Group(Padding(to_rich(head, base), (0, 0, 0, 2)), grid)


def store_heading(summary: StoreSummary) -> Content:
    return content(summary.name, "bold") + content(f" · {summary.domain} · ", "$foreground-muted") \
        + badge(summary.status)


class TroubleshootScreen(ExplainsDisabledKeys, Live, Screen[None]):
    """Detected problems of every store, each with its documented fix and key."""

    HELP_TITLE = "Troubleshoot"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="troubleshoot.back"),
        Binding("enter", "fix", "Run fix", id="troubleshoot.fix", priority=True),
        *(store_binding(action, "troubleshoot") for action in (
            Action.CHECK_HEALTH, Action.RETRY, Action.RESYNC, Action.RECONNECT, Action.SETTINGS,
            Action.DETAILS, Action.BULK_OPERATIONS)),
        Binding("t", "refresh", "Refresh", show=False, id="troubleshoot.refresh"),
    ]

    DEFAULT_CSS = """
    TroubleshootScreen #crumb { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    TroubleshootScreen #findings { height: 1fr; border: none; padding: 0 1; }
    TroubleshootScreen #findings > .option-list--option-disabled { color: $text; }
    TroubleshootScreen #clean { height: 1fr; content-align: center middle; color: $text-success; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.findings: list[Finding] = []
        self.stores: dict[int, StoreSummary] = {}

    def compose(self) -> ComposeResult:
        yield Static(Content("Troubleshoot"), id="crumb")
        yield OptionList(id="findings")
        yield Static(Content(CLEAN), id="clean", classes="-hidden")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.start_live()

    def load(self) -> tuple[list[StoreSummary], list[Finding]]:
        stores = list_stores()
        decode_all(stores)  # diagnosis reads every field of every store: decode them at once
        return stores, diagnose(self.now, summaries=stores)

    def show(self, data: tuple[list[StoreSummary], list[Finding]]) -> None:
        stores, findings = data
        self.stores = {s.id: s for s in stores}
        self.findings = findings
        options = self.query_one(OptionList)
        keep = options.highlighted_option.id if options.highlighted_option else None
        scroll = options.scroll_y
        built: list[Option | None] = []
        current = None
        for finding in findings:
            if finding.store_id != current:
                current = finding.store_id
                summary = self.stores.get(finding.store_id)
                if built:
                    built.append(None)
                heading = store_heading(summary) if summary else content(finding.name, "bold")
                built.append(Option(heading, id=f"store-{finding.store_id}", disabled=True))
            built.append(Option(finding_prompt(finding, options.visual_style),
                                id=finding_id(finding)))
        options.set_options(built)
        ids = [f for f in (o.id for o in options.options) if f and not f.startswith("store-")]
        if keep in ids:
            options.highlighted = options.get_option_index(keep)
        elif ids:
            options.highlighted = options.get_option_index(ids[0])
        options.scroll_to(y=scroll, animate=False, immediate=True)
        clean = not findings
        options.set_class(clean, "-hidden")
        self.query_one("#clean").set_class(not clean, "-hidden")
        self._header()
        self.refresh_bindings()

    def watch_stale(self) -> None:
        self._header()

    def _header(self) -> None:
        stores = len({f.store_id for f in self.findings})
        count = len(self.findings)
        title = Content("Troubleshoot")
        if self.live_loaded:
            what = (f" · {count} problem{'s' if count != 1 else ''} in {stores} "
                    f"store{'s' if stores != 1 else ''}") if count else " · all clear"
            title += Content.styled(what, "$foreground-muted")
        if self.stale:
            title += stale_marker(self.stale)
        self.query_one("#crumb", Static).update(title)

    # -- actions ------------------------------------------------------------------------------

    @property
    def current(self) -> Finding | None:
        option = self.query_one(OptionList).highlighted_option
        if option is None or option.id is None:
            return None
        return next((f for f in self.findings if finding_id(f) == option.id), None)

    def on_option_list_option_highlighted(self, _event: OptionList.OptionHighlighted) -> None:
        self.refresh_bindings()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_fix()

    def _run(self, action: str, finding: Finding) -> None:
        summary = self.stores.get(finding.store_id)
        if summary is None:
            return
        kw: dict[str, Any] = {}
        if action == "retry" and finding.action == "retry" and finding.entity:
            kw["entity"] = finding.entity
        shopsync_app(self).request_action(action, summary, **kw)

    def key_store(self) -> StoreSummary | None:
        finding = self.current
        return self.stores.get(finding.store_id) if finding else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        finding = self.current
        app: Any = self.app
        if action == "fix":
            return True if finding is not None and not app.read_only else None
        if action == "store_action":
            summary = self.stores.get(finding.store_id) if finding else None
            name = str(parameters[0])
            # r on a finding that retries one entity retries that entity (as enter does), even
            # when nothing of the store is Failed (records not matching Shopify).
            entity = finding.entity if finding is not None and name == "retry" \
                and finding.action == "retry" else None
            return True if app.available(summary, name, entity) else None
        return True

    def action_fix(self) -> None:
        finding = self.current
        if finding is not None:
            self._run(finding.action, finding)

    def action_store_action(self, action: str) -> None:
        finding = self.current
        if finding is not None:
            self._run(action, finding)

    def action_refresh(self) -> None:
        self.refresh_now(force=True)

    def action_back(self) -> None:
        self.app.pop_screen()
