"""The store cursor both dashboard views share: the card grid and the fleet table.

Both show the same (filtered) list of stores with a cursor that follows a store by id across
refreshes, so a data refresh never moves the selection and toggling the views keeps the same
store selected. What differs is only how the view draws and scrolls: a view says how to redraw
(`_redraw`), how to bring the cursor into sight (`_scroll_to_cursor`) and how many stores a
page holds (`_page_size`); the card grid also moves in 2D.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.message import Message

from engine.domain.views import StoreSummary
from tui.messages import StoreChosen

if TYPE_CHECKING:  # a mixin for ScrollView and VerticalScroll subclasses
    from textual.widget import Widget as _Widget
else:
    _Widget = object


class StoreCursorMoved(Message):
    """The cursor of a store view is on another store (or on none: `store_id` None)."""

    def __init__(self, store_id: int | None) -> None:
        super().__init__()
        self.store_id = store_id


class StoresDrawn(Message):
    """A store view drew its first store (the first frame with stores is on screen)."""


def cursor_bindings(prefix: str) -> list[Binding]:
    """The keys every store view has (the arrows are the view's own)."""
    return [
        Binding("home", "jump('first')", "First store", show=False, id=f"{prefix}.first"),
        Binding("end", "jump('last')", "Last store", show=False, id=f"{prefix}.last"),
        Binding("pageup", "page(-1)", "Page up", show=False, id=f"{prefix}.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id=f"{prefix}.page_down"),
    ]


class StoreCursor(_Widget):
    """Mixin (before the scrolling widget class) for a view of stores with a cursor."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.stores: list[StoreSummary] = []
        self.cursor = 0
        self.drawn = False  # a store has been drawn (set by the view when it draws one)

    # -- what a view provides -----------------------------------------------------------------

    def _redraw(self) -> None:
        """Draw the stores around the cursor again."""
        raise NotImplementedError

    def _scroll_to_cursor(self) -> None:
        """Scroll (without animation) so the cursor is in sight."""
        raise NotImplementedError

    def _page_size(self) -> int:
        """How many stores pageup/pagedown move over."""
        raise NotImplementedError

    def _stores_replaced(self) -> None:
        """After `set_stores`: size the view for the new list and redraw it."""
        self._redraw()

    def mark_drawn(self) -> None:
        """Called by the view as it draws a store: the first time, say so (StoresDrawn)."""
        if not self.drawn:
            self.drawn = True
            self.post_message(StoresDrawn())

    # -- the cursor ---------------------------------------------------------------------------

    @property
    def current(self) -> StoreSummary | None:
        """The store under the cursor, if any."""
        return self.stores[self.cursor] if 0 <= self.cursor < len(self.stores) else None

    def set_stores(self, stores: list[StoreSummary], keep_id: int | None = None) -> None:
        """Show `stores`, keeping the cursor on `keep_id` (default: the current store)."""
        keep = keep_id if keep_id is not None else (self.current.id if self.current else None)
        previous = self.current.id if self.current else None
        self.stores = stores
        index = next((i for i, s in enumerate(stores) if s.id == keep), None)
        self.cursor = index if index is not None else min(self.cursor, max(len(stores) - 1, 0))
        self._stores_replaced()
        if (self.current.id if self.current else None) != previous:
            self.post_message(StoreCursorMoved(self.current.id if self.current else None))

    def select_store(self, store_id: int) -> bool:
        """Put the cursor on `store_id` (scrolling to it); False if it is not shown."""
        index = next((i for i, s in enumerate(self.stores) if s.id == store_id), None)
        if index is None:
            return False
        self._set_cursor(index)
        return True

    def _set_cursor(self, index: int) -> None:
        if not self.stores:
            return
        index = max(0, min(index, len(self.stores) - 1))
        moved = index != self.cursor
        self.cursor = index
        self._scroll_to_cursor()
        self._redraw()
        if moved:
            # The keys the screen shows follow the store under the cursor: ask for them now, so
            # the key bar repaints in the frame that moves the cursor, not in a frame after it.
            self.refresh_bindings()
            self.post_message(StoreCursorMoved(self.stores[index].id))

    # -- keys and focus -----------------------------------------------------------------------

    def action_jump(self, where: str) -> None:
        self._set_cursor(0 if where == "first" else len(self.stores) - 1)

    def action_page(self, direction: int) -> None:
        self._set_cursor(self.cursor + direction * self._page_size())

    def action_choose(self) -> None:
        if self.current is not None:
            self.post_message(StoreChosen(self.current.id))

    def on_focus(self) -> None:
        self._redraw()  # the cursor looks different with and without the focus

    def on_blur(self) -> None:
        self._redraw()
