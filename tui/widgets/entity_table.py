"""The sync status table of one store: Entity · State · Progress · Records · Last synced · Detail.

One row per entity, keyed by the entity, updated cell by cell in place so the cursor and the
scroll position never move when new data arrives. The Detail column takes whatever width is
left (long errors end in "…"; the store screen shows the highlighted row's full detail below).
`enter` on a Failed row posts `RetryRequested` for that entity only; `j`/`k` move like the
arrows, as in every other list of the app.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from engine.domain.progress import describe
from engine.domain.status import ENTITY_CATEGORY, Entity, EntityState
from engine.domain.views import EntityRow
from tui.clock import relative
from tui.safe_text import content
from tui.widgets.progress_cell import progress_bar, to_rich
from tui.widgets.status_badge import state_label

# key, label, fixed width (None: Detail takes the rest)
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("entity", "Entity", 11),
    ("state", "State", 9),
    ("progress", "Progress", 15),
    ("records", "Records", 9),
    ("synced", "Last synced", 11),
    ("detail", "Detail", None),
)
COMPACT = ("entity", "state", "records", "synced", "detail")
MIN_DETAIL = 8


def progress_text(row: EntityRow, now: datetime | None) -> str:
    """A Syncing row in words (engine.domain.progress.describe)."""
    return describe(row.done, row.total, row.progress, now)


def entity_detail(row: EntityRow, queued: bool = False, now: datetime | None = None) -> Content:
    """The Detail text of a row, in words (the error of a Failed row, untrusted); `queued`:
    a sync job waits for this entity (a Pending entity without one has never run); `now`
    ages a Syncing row's ETA."""
    match row.state:
        case EntityState.FAILED:
            return content(row.error or "The sync hit an error", "$text-error")
        case EntityState.OFF:
            return Content(f"{ENTITY_CATEGORY[row.entity].label} is off")
        case EntityState.SYNCING:
            return Content(progress_text(row, now))
        case EntityState.PENDING:
            return Content("Queued" if queued or row.queued else "Not started")
        case EntityState.SYNCED if row.full_sync_failed:
            return content(row.full_sync_failed, "$text-error")
    return Content("")


class EntityTable(DataTable[Text]):
    """Per-entity sync status of one store, refreshed in place by `show()`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Retry", show=False, id="entity.select"),
        Binding("k", "cursor_up", "Up", show=False, id="entity.up"),
        Binding("j", "cursor_down", "Down", show=False, id="entity.down"),
    ]

    DEFAULT_CSS = """
    EntityTable {
        height: auto;
        max-height: 8;
        scrollbar-size-horizontal: 0;
    }
    """

    class RetryRequested(Message):
        """The operator asked to retry one Failed entity (enter on its row)."""

        def __init__(self, entity: Entity) -> None:
            super().__init__()
            self.entity = entity

    def __init__(
        self, columns: Sequence[str] | None = None, *, id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, id=id, classes=classes)
        wanted = tuple(columns) if columns else tuple(key for key, _, _ in COLUMNS)
        self._columns = [c for c in COLUMNS if c[0] in wanted]
        self._rows: dict[Entity, EntityRow] = {}
        self._cells: dict[tuple[str, str], Content] = {}
        self.queued: set[str] = set()

    def on_mount(self) -> None:
        for key, label, width in self._columns:
            self.add_column(label, key=key, width=width or MIN_DETAIL)

    def on_resize(self, event: events.Resize) -> None:
        self._fit_detail()

    def _fit_detail(self) -> None:
        if "detail" not in self.columns:
            return
        used = sum(
            (width or 0) + 2 * self.cell_padding for _, _, width in self._columns
        ) + 2 * self.cell_padding
        room = max(MIN_DETAIL, self.scrollable_content_region.width - used + 2 * self.cell_padding)
        column = self.columns[ColumnKey("detail")]
        if column.width != room:
            column.width = room
            self._require_update_dimensions = True
            self.refresh()

    def row_of(self, entity: Entity) -> EntityRow | None:
        return self._rows.get(entity)

    @property
    def highlighted(self) -> EntityRow | None:
        """The row under the cursor, if any."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return self._rows.get(Entity(key.value)) if key.value else None

    def _cell(self, key: str, row: EntityRow, now: datetime, queued: bool) -> Content:
        match key:
            case "entity":
                return Content(row.entity.label)
            case "state":
                return state_label(row.state)
            case "progress":
                if row.state is EntityState.SYNCING:
                    return progress_bar(row.done, row.total)
                return Content("")
            case "records":
                return Content(f"{row.records:>9,}")
            case "synced":
                return Content(relative(row.last_synced_at, now, never="—"))
        return entity_detail(row, queued, now)

    def show(
        self, rows: Sequence[EntityRow], now: datetime, queued: Collection[str] = ()
    ) -> None:
        """Show `rows`; existing rows are updated cell by cell (cursor and scroll stay put).
        `queued` names the entities with a sync job waiting or running."""
        self.queued = set(queued)
        for row in rows:
            self._rows[row.entity] = row
            waiting = row.entity.value in self.queued
            cells = {key: self._cell(key, row, now, waiting) for key, _, _ in self._columns}
            if row.entity.value not in self.rows:
                self.add_row(
                    *(to_rich(cells[key], self.visual_style) for key, _, _ in self._columns),
                    key=row.entity.value,
                )
                for key, value in cells.items():
                    self._cells[(row.entity.value, key)] = value
                continue
            for key, value in cells.items():
                marker = (row.entity.value, key)
                previous = self._cells.get(marker)
                if previous is None or not previous.is_same(value):
                    self._cells[marker] = value
                    self.update_cell(row.entity.value, key, to_rich(value, self.visual_style))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self._rows.get(Entity(event.row_key.value)) if event.row_key.value else None
        if row is not None and row.state is EntityState.FAILED:
            self.post_message(self.RetryRequested(row.entity))
