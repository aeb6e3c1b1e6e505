"""The `?` help screen: the keys of the screen you came from first, then the global ones.

Built from the live bindings (`Screen.active_bindings`), never from a hand-written list, so a
new binding shows up here by itself. Keys that cannot run right now are listed dimmed with the
reason "(read-only)" under --read-only, else "(not available now)" (the policy's own words,
which name the store, are what the key gives when pressed).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from tui.store_actions import READ_ONLY
from tui.store_keys import unavailable_reason


class HelpRow(NamedTuple):
    """One action and every key bound to it."""

    keys: tuple[str, ...]
    description: str
    enabled: bool
    reason: str | None = None  # why it cannot run now (None: it can, or not read-only)


def _describe(binding: Binding) -> str:
    if binding.action == "app.command_palette" or binding.action == "command_palette":
        return "Command palette"
    if binding.description:
        return binding.description
    return binding.action.split("(")[0].replace("_", " ").capitalize()


def binding_sections(screen: Screen) -> list[tuple[str, list[HelpRow]]]:
    """[(title, rows)]: the screen's own keys (and its focused widget's), then the app's."""
    app = screen.app
    groups: dict[bool, dict[tuple[int, str], HelpRow]] = {False: {}, True: {}}
    palette = app.COMMAND_PALETTE_BINDING
    for _key, (node, binding, enabled, _tip) in screen.active_bindings.items():
        # Our bindings all have ids; Textual's inherited ones (scrolling, focus) are noise here.
        if binding.system or (binding.id is None and binding.key != palette):
            continue
        is_global = node is app
        slot = (id(node), binding.action)
        display = app.get_key_display(binding)
        row = groups[is_global].get(slot)
        if row is None:
            reason = None if enabled else unavailable_reason(screen, binding)
            reason = reason if reason == READ_ONLY else None
            groups[is_global][slot] = HelpRow((display,), _describe(binding), enabled, reason)
        elif display not in row.keys:
            groups[is_global][slot] = row._replace(keys=(*row.keys, display))
    title = getattr(screen, "HELP_TITLE", None) or screen.title or type(screen).__name__
    return [(f"{title} keys", list(groups[False].values())),
            ("Global keys", list(groups[True].values()))]


def help_text(sections: list[tuple[str, list[HelpRow]]]) -> Content:
    """The sections as aligned lines: keys, description, and when dimmed the reason in
    parentheses ("(not available now)" when there is none to give)."""
    width = max((len(" / ".join(r.keys)) for _t, rows in sections for r in rows), default=4)
    lines: list[Content] = []
    for title, rows in sections:
        if not rows:
            continue
        if lines:
            lines.append(Content(""))
        lines.append(Content.styled(title, "bold $text-primary"))
        for row in rows:
            keys = Content.styled(" / ".join(row.keys).ljust(width), "bold $text-accent")
            text = Content(row.description) if row.enabled else Content.styled(
                f"{row.description} ({row.reason or 'not available now'})", "dim")
            lines.append(Content("  ") + keys + Content("  ") + text)
    return Content("\n").join(lines)


class HelpScreen(ModalScreen[None]):
    """A scrollable list of keys; escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close"),
        Binding("up,k", "scroll('up')", "Scroll up", show=False, id="help.up"),
        Binding("down,j", "scroll('down')", "Scroll down", show=False, id="help.down"),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        background: $background 60%;
        & > Vertical {
            width: 76;
            max-width: 100%;
            height: 100%;
            border: thick $primary;
            background: $surface;
        }
        & #help-title { dock: top; text-style: bold; padding: 0 1; background: $panel; }
        & VerticalScroll { height: 1fr; padding: 0 1; }
        & #help-hint { dock: bottom; color: $text-muted; padding: 0 1; background: $panel; }
    }
    """

    def __init__(self, sections: list[tuple[str, list[HelpRow]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Help", id="help-title", markup=False)
            with VerticalScroll(id="help-body"):
                yield Static(help_text(self.sections), id="help-keys")
            yield Static("escape / q / ? close · ↑↓ scroll", id="help-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_scroll(self, direction: str) -> None:
        body = self.query_one("#help-body", VerticalScroll)
        if direction == "up":
            body.scroll_up(animate=False)
        else:
            body.scroll_down(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
