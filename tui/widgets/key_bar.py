"""A footer that wraps: every shown binding of the screen, on as many lines as the width needs.

Textual's Footer is one line that cuts keys off on a narrow terminal; this bar flows the keys
onto a second line instead, so every key stays visible at 80 columns. Keys whose action cannot
run now (`check_action` returned None) are dimmed, and hovering one shows why (its tooltip);
under --read-only the bar ends with "(dimmed: read-only)". Clicking a key presses it.
"""

from __future__ import annotations

from typing import NamedTuple

from textual import events
from textual.content import Content
from textual.geometry import Size
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

from tui.store_actions import READ_ONLY
from tui.store_keys import unavailable_reason

MEMO_SIZE = 8  # bars kept (see KeyBar.render_line)


class KeyItem(NamedTuple):
    """One key in the bar."""

    key: str
    display: str
    description: str
    enabled: bool
    reason: str | None = None  # why a dimmed key cannot run, when there is one to give


class KeyBar(Widget):
    """The screen's bindings (those with show=True), wrapped, with disabled keys dimmed."""

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: auto;
        padding: 0 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._hits: list[tuple[int, int, int, KeyItem]] = []  # line, x0, x1, item
        self._shown: tuple[list[KeyItem], int] = ([], 0)  # items and line count last drawn
        # The keys as of the last bindings update (working them out asks every binding's
        # check_action), and the strips drawn from them, by what they depend on.
        self._items: list[KeyItem] | None = None
        # The bindings changed since the keys were worked out; a check after the next
        # refresh is due (see _bindings_changed).
        self._stale = False
        self._check_due = False
        self._drawn = False  # the bar has been drawn
        self._memo: dict[tuple, list[Strip]] = {}
        self._hits_by_key: dict[tuple, list[tuple[int, int, int, KeyItem]]] = {}

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def _bindings_changed(self, screen: Screen) -> None:
        """Once the bar is on screen, update it now (in the frame of the change). Before
        that, the keys are worked out when the bar is first laid out or drawn (a check after
        the next refresh catches a bar neither asked for): a screen publishes a bindings
        update for each focus change, mount and reactive change, four before the dashboard's
        first frame, and working the keys out asks every binding's check_action."""
        if not (self.is_attached and screen is self.screen):
            return
        self._stale = True
        if self._drawn:
            self._update_keys()
        elif not self._check_due:
            self._check_due = True
            self.call_after_refresh(self._check_keys)

    def _current_items(self) -> list[KeyItem]:
        """The keys, worked out again if the bindings changed since."""
        if self._items is None or self._stale:
            self._stale = False
            self._items = self.items()
        return self._items

    def _check_keys(self) -> None:
        self._check_due = False
        if self.is_attached:
            self._update_keys()

    def _update_keys(self) -> None:
        """Redraw only when the keys changed; re-layout only when the line count did."""
        items = self._current_items()
        lines = len(self._lines(max(self.size.width, 1), items))
        if (items, lines) != self._shown:
            self.refresh(layout=lines != self._shown[1])
            self._shown = (items, lines)

    def items(self) -> list[KeyItem]:
        """The keys shown, one per action, in binding order; the command palette last."""
        seen: dict[str, KeyItem] = {}
        palette = None
        for _node, binding, enabled, _tip in self.screen.active_bindings.values():
            if binding.key == self.app.COMMAND_PALETTE_BINDING:
                palette = KeyItem(binding.key, self.app.get_key_display(binding),
                                  "Commands", enabled)
                continue
            if not binding.show or binding.action in seen:
                continue
            reason = None if enabled else unavailable_reason(self.screen, binding)
            seen[binding.action] = KeyItem(binding.key, self.app.get_key_display(binding),
                                           binding.description, enabled, reason)
        note = [KeyItem("", "", f"(dimmed: {READ_ONLY})", False, READ_ONLY)] if any(
            item.reason == READ_ONLY for item in seen.values()) else []
        return [*seen.values(), *([palette] if palette else []), *note]

    def _lines(self, width: int, items: list[KeyItem] | None = None
               ) -> list[list[tuple[int, KeyItem]]]:
        lines: list[list[tuple[int, KeyItem]]] = [[]]
        x = 0
        if items is None:
            items = self._current_items()
        for item in items:
            size = len(item.display) + bool(item.display) + len(item.description)
            if x and x + 2 + size > width:
                lines.append([])
                x = 0
            start = x + (2 if x else 0)
            lines[-1].append((start, item))
            x = start + size
        return lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._lines(max(width, 1))))

    def _rows(self, width: int) -> list[Content]:
        """The bar's lines at `width` (and where each key is, for the mouse)."""
        rows = []
        hits = []
        for number, line in enumerate(self._lines(width)):
            row = Content("")
            for start, item in line:
                row = row.pad_right(start - row.cell_length)
                key_style = "bold $footer-key-foreground" if item.enabled else "dim"
                text_style = "" if item.enabled else "dim"
                if item.display:
                    row += Content.styled(item.display, key_style)
                    row += Content.styled(f" {item.description}", text_style)
                else:  # the read-only note: text only
                    row += Content.styled(item.description, "dim")
                hits.append((number, start, row.cell_length, item))
            rows.append(row)
        self._hits = hits
        return rows

    def render(self) -> Content:
        return Content("\n").join(self._rows(max(self.size.width, 1)))

    def render_line(self, y: int) -> Strip:
        """The bar's lines, kept by what they depend on: a cursor moving over stores whose keys
        differ switches between a few bars, and each is drawn once (by Textual's render)."""
        width = self.size.width
        items = self._current_items()
        self._drawn = True
        if self._shown[0] is not items:
            lines = len(self._lines(max(width, 1), items))
            if max(1, lines) == self.size.height:  # laid out for these keys: drawn as they are
                self._shown = (items, lines)
        key = (width, self.size.height, tuple(items), self.app.theme, self.visual_style)
        strips = self._memo.get(key)
        if strips is None:
            strips = [super(KeyBar, self).render_line(line) for line in range(self.size.height)]
            if len(self._memo) >= MEMO_SIZE:
                del self._memo[next(iter(self._memo))]  # the oldest
            self._memo[key] = strips
            self._hits_by_key[key] = self._hits
        else:
            self._hits = self._hits_by_key[key]
        return strips[y] if y < len(strips) else Strip.blank(width, self.visual_style.rich_style)

    def _item_at(self, event: events.MouseEvent) -> KeyItem | None:
        offset = event.get_content_offset(self)
        if offset is None:
            return None
        for line, x0, x1, item in self._hits:
            if line == offset.y and x0 <= offset.x < x1:
                return item
        return None

    def on_mouse_move(self, event: events.MouseMove) -> None:
        """A dimmed key's tooltip says why it cannot run."""
        item = self._item_at(event)
        tooltip = f"{item.description}: unavailable ({item.reason})" if (
            item is not None and item.display and item.reason) else None
        if tooltip != self.tooltip:
            self.tooltip = tooltip

    def on_click(self, event: events.Click) -> None:
        item = self._item_at(event)
        if item is not None and item.enabled:
            self.app.simulate_key(item.key)
