"""The readiness checklist: six pass/fail items and "Last checked", one self-rendering widget.

    ✔ OAuth connected
    ✖ API responding · HTTP 503
        Cause: Shopify API outage or rate limit hit
        Fix: Wait a few minutes, then run a new health check
    ✔ Initial sync complete
    ✖ Records match Shopify · Customers: 250 here, 248 in Shopify
        Cause: Records changed in Shopify without reaching shopsync (missed webhooks)
        Fix: Run a full re-sync of that entity
    Last checked 10 min ago · Checking…

With `explain=True` (the Details drawer) every failed item carries its likely cause and fix
(engine.domain.status.CHECK_TEXT). Item details come from Shopify and are rendered as plain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from textual.content import Content
from textual.widget import Widget

from engine.domain.status import CHECKING
from engine.domain.views import ReadinessItem
from tui.clock import relative
from tui.safe_text import content

PASS = Content.styled("✔", "$text-success")
FAIL = Content.styled("✖", "bold $text-error")
UNKNOWN = Content.styled("◌", "$foreground-muted")


def readiness_lines(
    items: Sequence[ReadinessItem],
    last_checked_at: datetime | None,
    now: datetime,
    *,
    checking: bool = False,
    explain: bool = False,
) -> list[Content]:
    """The checklist as lines of Content (see the module docstring)."""
    lines: list[Content] = []
    for item in items:
        if item.ok is None:
            lines.append(UNKNOWN + Content(f" {item.label}") + Content.styled(
                " · not checked yet", "$foreground-muted"))
            continue
        line = (PASS if item.ok else FAIL) + Content(f" {item.label}")
        if not item.ok and item.detail and item.detail != item.check.cause:
            line += content(f" · {item.detail}", "$foreground-muted")
        lines.append(line)
        if explain and not item.ok:
            lines.append(Content.styled("    Cause: ", "bold") + Content(item.check.cause))
            lines.append(Content.styled("    Fix: ", "bold") + Content(item.check.fix))
    footer = Content.styled("Last checked ", "$foreground-muted") + Content(
        relative(last_checked_at, now, never="never"))
    if checking:
        footer += Content(" · ") + Content.styled(CHECKING, "bold $text-accent")
    lines.append(footer)
    return lines


class ReadinessList(Widget):
    """The six readiness items of one store and when they were last checked."""

    DEFAULT_CSS = """
    ReadinessList {
        height: auto;
        width: 1fr;
    }
    """

    def __init__(
        self, *, explain: bool = False, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.explain = explain
        self._lines: list[Content] = [Content.styled("Loading…", "$foreground-muted")]

    def show(
        self,
        items: Sequence[ReadinessItem],
        last_checked_at: datetime | None,
        now: datetime,
        *,
        checking: bool = False,
    ) -> None:
        """Replace what the list shows; refreshes only when something changed."""
        lines = readiness_lines(
            items, last_checked_at, now, checking=checking, explain=self.explain
        )
        if len(lines) == len(self._lines) and all(
            a.is_same(b) for a, b in zip(lines, self._lines, strict=True)
        ):
            return
        self._lines = lines
        self.refresh(layout=True)

    def render(self) -> Content:
        return Content("\n").join(self._lines)
