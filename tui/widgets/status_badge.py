"""The one table of status and entity-state glyphs and colours, and the StatusBadge widget.

A badge is colour + glyph + word, so it reads without colour (NO_COLOR, monochrome terminals,
screen readers reading the text). Colours are theme variables, so the ANSI themes map them to
the terminal's own palette.
"""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from engine.domain.status import EntityState, Status

STATUS_GLYPH: dict[Status, str] = {
    Status.CONNECTED: "●",
    Status.DISCONNECTED: "○",
    Status.ERROR: "✖",
    Status.RECONNECT_REQUIRED: "▲",
}

STATUS_STYLE: dict[Status, str] = {
    Status.CONNECTED: "bold $text-success",
    Status.DISCONNECTED: "bold $foreground-muted",
    Status.ERROR: "bold $text-error",
    Status.RECONNECT_REQUIRED: "bold $text-warning",
}

STATE_GLYPH: dict[EntityState, str] = {
    EntityState.PENDING: "◌",
    EntityState.SYNCING: "↻",
    EntityState.SYNCED: "✔",
    EntityState.FAILED: "✖",
    EntityState.OFF: "–",
}

STATE_STYLE: dict[EntityState, str] = {
    EntityState.PENDING: "$foreground-muted",
    EntityState.SYNCING: "$text-primary",
    EntityState.SYNCED: "$text-success",
    EntityState.FAILED: "bold $text-error",
    EntityState.OFF: "$foreground-muted",
}


def badge(status: Status) -> Content:
    """"● Connected" in the status colour."""
    return Content.styled(f"{STATUS_GLYPH[status]} {status.label}", STATUS_STYLE[status])


def state_glyph(state: EntityState) -> Content:
    """The entity state's glyph in its colour."""
    return Content.styled(STATE_GLYPH[state], STATE_STYLE[state])


def state_label(state: EntityState) -> Content:
    """"✔ Synced" in the state colour."""
    return Content.styled(f"{STATE_GLYPH[state]} {state.label}", STATE_STYLE[state])


class StatusBadge(Widget):
    """A one-line badge showing a store's status as glyph + word in the status colour."""

    DEFAULT_CSS = """
    StatusBadge {
        width: auto;
        height: 1;
    }
    """

    status: reactive[Status] = reactive(Status.CONNECTED)
    """The status shown."""

    def __init__(
        self,
        status: Status = Status.CONNECTED,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.set_reactive(StatusBadge.status, status)

    def render(self) -> Content:
        return badge(self.status)
