"""The dashboard's header: fleet counts per status, who runs the jobs, the context (which
database, DEMO, READ-ONLY) and a stale marker.

    shopsync DEMO READ-ONLY · 15 stores · embedded runner · ~/.local/share/shopsync/shopsync.db
    ● Connected 9  ○ Disconnected 1  ✖ Error 3  ▲ Reconnect required 2

Everything fits on one line when the terminal is wide enough, otherwise the counts move to a
second line. Counts are glyph + word + number so they read without colour.
"""

from __future__ import annotations

from textual.content import Content
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from engine.domain.status import Status
from engine.domain.views import FleetSummary
from tui.safe_text import content
from tui.widgets.status_badge import STATUS_GLYPH, STATUS_STYLE


class FleetHeader(Widget):
    """Fleet totals per status, the runner mode and the stale marker, in one or two lines."""

    DEFAULT_CSS = """
    FleetHeader {
        height: auto;
        padding: 0 1;
        background: $panel;
    }
    """

    # layout=True: any of these can move the counts to a second line (or back).
    summary: reactive[FleetSummary | None] = reactive(None, layout=True)
    """The counts shown (None until the first read)."""
    runner: reactive[str] = reactive("", layout=True)
    """Who runs jobs: "embedded runner", "serve runner" or ""."""
    stale: reactive[str | None] = reactive(None, layout=True)
    """Why the data is stale (the database could not be read), or None."""
    shown: reactive[int | None] = reactive(None, layout=True)
    """How many stores the active filter shows (None: no filter)."""
    context: reactive[str] = reactive("", layout=True)
    """Which database: the SQLite path or PostgreSQL's host/name ("" shows none)."""
    demo: reactive[bool] = reactive(False, layout=True)
    """`shopsync demo`: a DEMO badge."""
    sort: reactive[str] = reactive("", layout=True)
    """The sort order when it is not the default ("Problems first", …)."""
    read_only: reactive[bool] = reactive(False, layout=True)
    """--read-only: a READ-ONLY badge (the reason every action key is dimmed)."""

    def _title(self) -> Content:
        title = Content.styled("shopsync", "bold $text-primary")
        if self.demo:
            title += Content(" ") + Content.styled(" DEMO ", "bold $text-warning on $warning-muted")
        if self.read_only:
            title += Content(" ") + Content.styled(" READ-ONLY ",
                                                   "bold $text-accent on $accent-muted")
        if self.summary is None:
            title += Content.styled(" · loading…", "$foreground-muted")
        else:
            total = self.summary.total
            title += Content(f" · {total:,} store{'s' if total != 1 else ''}")
            if self.shown is not None:
                title += Content.styled(f" ({self.shown:,} shown)", "$text-accent")
        if self.sort:
            title += Content.styled(f" · sorted: {self.sort}", "$text-accent")
        if self.runner:
            title += Content.styled(f" · {self.runner}", "$foreground-muted")
        if self.context:
            title += Content.styled(" · ", "$foreground-muted") + content(
                self.context, "$foreground-muted")
        if self.stale:
            title += Content(" ") + content(f"⚠ stale: {self.stale}", "bold $text-error")
        return title

    def _counts(self) -> Content:
        parts = []
        for status in Status:
            count = self.summary.by_status.get(status, 0) if self.summary else 0
            parts.append(
                Content.styled(f"{STATUS_GLYPH[status]} {status.label} ", STATUS_STYLE[status])
                + Content.styled(f"{count:,}", "bold")
            )
        return Content("  ").join(parts)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        one_line = self._title().cell_length + 3 + self._counts().cell_length
        return 1 if one_line <= width else 2

    def render(self) -> Content:
        title, counts = self._title(), self._counts()
        width = self.size.width or 200
        one_line = title + Content("   ") + counts
        if one_line.cell_length <= width:
            return one_line
        return Content("\n").join([title.truncate(width, ellipsis=True),
                                   counts.truncate(width, ellipsis=True)])
