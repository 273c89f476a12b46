"""The resource table: a Line-API virtual view, so cost follows what is on screen.

Like toolong's ``LogLines``, ``render_line(y)`` builds only the visible rows, from an LRU
cache of ``Strip`` objects keyed by row version. An update touches only the rows it changed:
if the order holds, only their lines are refreshed (``refresh_lines``); if it does not, the
order is re-sorted from cached sort keys. The cursor is tracked by resource key, never by row
index, so sort, filter, cursor and scroll survive every refresh.

Rows can be marked (``space``, ``ctrl+a`` for every row the filter shows, ``Escape`` clears)
for a bulk action: a marked row's name starts with :data:`MARK`, so it shows without colour. A
row with an action under way shows a note in its status cell (``◐ stopping…``, then the
outcome) instead of the status, until the screen clears it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.style import Style
from textual import events
from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.dom import NoScreen
from textual.geometry import Size
from textual.message import Message
from textual.message_pump import MessagePump
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from joytui.core.query import Query
from joytui.core.store import AccountKey, ResourceKey
from joytui.model import Resource
from joytui.safe_text import printable
from joytui.ui.columns import COLUMNS, Column
from joytui.ui.formatting import human_age
from joytui.ui.views import VIEWS_BY_ID, View
from joytui.ui.widgets.table_drawing import MARK, TableDrawing
from joytui.ui.widgets.table_keys import CursorKeys


class ResourceTable(CursorKeys, TableDrawing, ScrollView, can_focus=True):
    """Every resource of every account; the current view picks kinds and columns."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "resource-table--header",
        "resource-table--header-sorted",
        "resource-table--cursor",
        "resource-table--stale",
        "resource-table--running",
        "resource-table--pending",
        "resource-table--paused",
        "resource-table--stopped",
        "resource-table--error",
        "resource-table--unknown",
        "resource-table--empty",
        "resource-table--marked",
        "resource-table--note",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="cursor_up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="cursor_down"),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False, id="page_up"),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False, id="page_down"),
        Binding("home,g", "edge(0)", "Top", show=False, id="top"),
        Binding("end,G", "edge(1)", "Bottom", show=False, id="bottom"),
        Binding("left", "scroll_columns(-1)", "Columns left", show=False, id="columns_left"),
        Binding("right", "scroll_columns(1)", "Columns right", show=False, id="columns_right"),
        Binding("space", "toggle_mark", "Mark", show=False, id="mark"),
        Binding("ctrl+a", "mark_all", "Mark all shown", show=False, id="mark_all"),
        Binding("escape", "clear_marks", "Clear marks", show=False, id="clear_marks"),
    ]

    class CursorMoved(Message, bubble=False):
        """The cursor is on a different resource (or on none). Posted to the screen, not
        bubbled up to it: no container between cares, and each hop is a task switch and a
        handler look-up on every cursor move, before the frame goes out."""

        def __init__(self, key: ResourceKey | None) -> None:
            super().__init__()
            self.key = key

    class SortChanged(Message):
        """The user sorted by another column or direction."""

        def __init__(self, column: str, reverse: bool) -> None:
            super().__init__()
            self.column = column
            self.reverse = reverse

    class MarksChanged(Message):
        """Rows were marked or unmarked; ``count`` are marked now."""

        def __init__(self, count: int) -> None:
            super().__init__()
            self.count = count

    class VisibleChanged(Message):
        """Other rows are on screen now: polls fetch these first."""

        def __init__(self, keys: tuple[ResourceKey, ...]) -> None:
            super().__init__()
            self.keys = keys

    view_id: reactive[str] = reactive("all", init=False)

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self._rows: dict[ResourceKey, Resource] = {}
        self._versions: dict[ResourceKey, int] = {}
        self._order: list[ResourceKey] = []
        self._index: dict[ResourceKey, int] = {}
        self._sort_keys: dict[ResourceKey, Any] = {}
        self._stale: dict[AccountKey, str] = {}
        self._strips: LRUCache[tuple[Any, ...], Strip] = LRUCache(2048)
        self._style_memo: dict[str, Style] = {}
        self._layout: list[tuple[Column, int]] = []
        self._layout_width = -1
        self.query_filter = Query()
        self._sorts: dict[str, tuple[str, bool]] = {}
        """view id -> (column, reverse): each view keeps its own sort."""
        self.view_columns: dict[str, tuple[str, ...]] = {}
        """view id -> the columns shown, where the user or the config chose them."""
        self._wants: dict[str, int] = {}
        """column -> the width the cells on screen need (measured as they are drawn)."""
        self._measured: dict[ResourceKey, int] = {}
        self._measured_columns: tuple[str, ...] = ()
        self.column_offset = 0
        """Leading columns scrolled out of sight (left/right), so dropped ones can show."""
        self.empty_message = ""
        self._total: int | None = None
        """What the body says when no row is shown (set by the screen)."""
        self.cursor_key: ResourceKey | None = None
        self._cursor_row = 0
        self._pinned = False
        """True once the user has moved the cursor: from then on it follows its resource.
        Before that it stays on the top row, so what sorts first (errors) is what shows first."""
        self.rebuilds = 0
        self._visible: tuple[ResourceKey, ...] = ()
        self.marked: dict[ResourceKey, None] = {}
        """Marked rows, in the order they were marked."""
        self.notes: dict[ResourceKey, str] = {}
        """What the status cell says instead of the status (an action under way)."""

    # -- the model ---------------------------------------------------------------------------

    @property
    def view(self) -> View:
        return VIEWS_BY_ID[self.view_id]

    @property
    def sort_column(self) -> str:
        """The column the current view sorts by."""
        return self._sorts.get(self.view_id, ("status", False))[0]

    @property
    def sort_reverse(self) -> bool:
        return self._sorts.get(self.view_id, ("status", False))[1]

    @property
    def columns(self) -> tuple[str, ...]:
        """The current view's columns, as chosen, after horizontal scrolling."""
        chosen = self.view_columns.get(self.view_id, self.view.columns)
        return chosen[min(self.column_offset, max(0, len(chosen) - 1)) :]

    @property
    def total_in_view(self) -> int:
        """Rows of the current view's kinds, before the filter (counted once per change of
        rows or view, not per redraw)."""
        if self._total is None:
            kinds = self.view.kinds
            if kinds is None:
                self._total = len(self._rows)
            else:
                self._total = sum(1 for r in self._rows.values() if r.kind in kinds)
        return self._total

    @property
    def row_count(self) -> int:
        """Rows that pass the view and the filter."""
        return len(self._order)

    @property
    def cursor_row(self) -> int:
        return self._cursor_row

    def visible_keys(self) -> list[ResourceKey]:
        """Keys of the rows on screen now (the Joy poller fetches their status first)."""
        top = int(self.scroll_offset.y)
        return self._order[top : top + max(0, self.size.height - 1)]

    def _post_visible(self) -> None:
        visible = tuple(self.visible_keys())
        if visible != self._visible:
            self._visible = visible
            self.post_message(self.VisibleChanged(visible))

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._post_visible()

    def ordered_keys(self) -> list[ResourceKey]:
        """Keys in display order."""
        return list(self._order)

    def _sort_key_fn(self) -> Callable[[Resource], Any]:
        """The sort key of the current sort column (looked up once, used per row): the
        column's key first (None for a blank cell), then the name, for a stable order."""
        column = COLUMNS.get(self.sort_column)
        primary = column.sort if column is not None else (lambda r: 0)

        def key(r: Resource) -> tuple[Any, ...]:
            value = primary(r)
            blank = value is None or value == ""
            return (blank, 0 if blank else value, r.name.lower(), r.provider, r.account, r.id)

        return key

    def _cells_fn(self) -> Callable[[Resource], tuple[Any, ...]]:
        """What a row shows: its cells in the current columns and its status (which colours
        it); two resources with the same draw the same line."""
        values = [COLUMNS[c].value for c in self.columns]
        return lambda r: (r.status, *(value(r) for value in values))

    def _shown_fn(self) -> Callable[[Resource], bool]:
        """Whether a row passes the view's kinds and the filter (looked up once)."""
        kinds = self.view.kinds
        query = self.query_filter
        if query.empty:
            return (lambda r: True) if kinds is None else (lambda r: r.kind in kinds)
        if kinds is None:
            return query.matches
        return lambda r: r.kind in kinds and query.matches(r)

    def replace_all(self, resources: Iterable[Resource]) -> None:
        """Load a whole set of resources (first paint, tests, benchmarks)."""
        self._rows = {r.key: r for r in resources}
        self._total = None
        self._versions = dict.fromkeys(self._rows, 0)
        self._sort_keys = {}
        self._rebuild()

    def apply_changes(
        self,
        added: Iterable[Resource] = (),
        changed: Iterable[Resource] = (),
        removed: Iterable[ResourceKey] = (),
    ) -> None:
        """Apply one change set, touching only what it changed."""
        reorder = False
        dirty: list[ResourceKey] = []
        shown = self._shown_fn()
        sort_key = self._sort_key_fn()
        if added or removed:
            self._total = None
        for r in added:
            self._rows[r.key] = r
            self._versions[r.key] = 0
            self._measured.pop(r.key, None)
            self._sort_keys.pop(r.key, None)
            reorder = reorder or shown(r)
        unmarked = False
        for key in removed:
            if self._rows.pop(key, None) is not None:
                self._versions.pop(key, None)
                self._sort_keys.pop(key, None)
                reorder = reorder or key in self._index
                if key in self.marked:
                    del self.marked[key]
                    unmarked = True
                self.notes.pop(key, None)
        if unmarked:
            self.post_message(self.MarksChanged(len(self.marked)))
        cells = self._cells_fn()
        top = int(self.scroll_offset.y)
        bottom = top + self.size.height
        for r in changed:
            key = r.key
            before = self._rows.get(key)
            self._rows[key] = r
            if reorder:
                self._versions[key] = self._versions.get(key, 0) + 1
                self._sort_keys.pop(key, None)
                continue
            if shown(r) != (key in self._index):
                reorder = True
            elif key in self._index:
                new = sort_key(r)
                if new != self._sort_keys.get(key):
                    self._sort_keys[key] = new
                    reorder = True
                elif (
                    before is not None
                    and top <= self._index[key] < bottom
                    and cells(before) == cells(r)
                ):
                    continue  # on screen, and what it shows is the same: its line stays
                dirty.append(key)
            self._versions[key] = self._versions.get(key, 0) + 1
        if reorder:
            self._rebuild()
            return
        for key in dirty:
            row = self._index[key]
            if top <= row < bottom:
                self.refresh_lines(row + 1)

    # -- marks and notes -----------------------------------------------------------------

    def _touch(self, key: ResourceKey) -> None:
        """Redraw ``key``'s row (its cached line is stale)."""
        if key in self._rows:
            self._versions[key] = self._versions.get(key, 0) + 1
        row = self._index.get(key)
        if row is not None:
            self.refresh_lines(row + 1)

    def set_marked(self, keys: Iterable[ResourceKey], marked: bool = True) -> None:
        """Mark (or unmark) the rows of ``keys``."""
        changed = False
        for key in keys:
            if key not in self._rows or (key in self.marked) == marked:
                continue
            if marked:
                self.marked[key] = None
            else:
                del self.marked[key]
            self._touch(key)
            changed = True
        if changed:
            self.post_message(self.MarksChanged(len(self.marked)))

    def clear_marks(self) -> None:
        """Unmark every row."""
        self.set_marked(list(self.marked), marked=False)

    def marked_resources(self) -> list[Resource]:
        """The marked resources (in the order they were marked)."""
        return [self._rows[k] for k in self.marked if k in self._rows]

    def set_note(self, key: ResourceKey, note: str | None) -> None:
        """Show ``note`` in ``key``'s status cell instead of its status (None: the status)."""
        if self.notes.get(key) == note:
            return
        if note is None:
            self.notes.pop(key, None)
        else:
            self.notes[key] = note
        if note is not None and key in self._index:
            self._grow("status", note)
        self._touch(key)

    def _grow(self, column: str, text: str) -> None:
        need = cell_len(printable(text))
        if need > self._wants.get(column, 0):
            self._wants[column] = need
            self._layout_width = -1
            self.refresh()

    def action_toggle_mark(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.set_marked([key], marked=key not in self.marked)

    def action_mark_all(self) -> None:
        """Mark every row the view and filter show."""
        self.set_marked(self._order)

    def action_clear_marks(self) -> None:
        if not self.marked:
            raise SkipAction()  # Escape goes on to the screen (it clears the filter)
        self.clear_marks()

    def set_stale(self, stale: dict[AccountKey, str]) -> None:
        """Mark the rows of failing accounts stale, with the age of their data."""
        if stale != self._stale:
            self._stale = dict(stale)
            self._strips.clear()
            self.refresh()

    def set_filter(self, text: str) -> None:
        """Show only rows that match ``text`` (see :class:`Query`)."""
        if text != self.query_filter.text:
            self.query_filter = Query.parse(text)
            self._rebuild()

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        """Sort the current view by ``column``; the sorted column again flips the direction."""
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self._sorts[self.view_id] = (column, reverse)
        self._sort_keys = {}
        self._rebuild(keep_cursor_visible=True)
        self.post_message(self.SortChanged(column, reverse))

    def sort_next(self) -> None:
        """Sort by the next visible column."""
        keys = [c.key for c, _ in self._layout] or list(self.view.columns)
        index = keys.index(self.sort_column) if self.sort_column in keys else -1
        self.sort_by(keys[(index + 1) % len(keys)], reverse=False)

    def watch_view_id(self) -> None:
        self._total = None
        self._layout_width = -1
        self._wants = {}
        self.column_offset = 0
        self._sort_keys = {}
        self._rebuild()

    def set_empty_message(self, text: str) -> None:
        """What the body says when no row is shown."""
        if text != self.empty_message:
            self.empty_message = text
            if not self._order:
                self.refresh()

    def show_columns(self, columns: tuple[str, ...]) -> None:
        """Show these columns (in this order) in the current view."""
        self.view_columns[self.view_id] = columns
        self.column_offset = 0
        self._relayout()

    def scroll_columns(self, step: int) -> None:
        """Scroll the columns left or right by one."""
        chosen = self.view_columns.get(self.view_id, self.view.columns)
        offset = max(0, min(len(chosen) - 2, self.column_offset + step))
        if offset != self.column_offset:
            self.column_offset = offset
            self._relayout()

    @property
    def hidden_columns(self) -> list[str]:
        """Columns of the view that do not fit now (scrolled off or dropped for width)."""
        shown = {c.key for c, _ in self._layout}
        chosen = self.view_columns.get(self.view_id, self.view.columns)
        return [c for c in chosen if c not in shown]

    def _relayout(self) -> None:
        self._layout_width = -1
        self._strips.clear()
        self.refresh()

    def _rebuild(self, keep_cursor_visible: bool = False) -> None:
        """Recompute the order from cached sort keys, keeping the cursor on its resource and
        at the same place on screen (or, after a new sort, somewhere on screen)."""
        self.rebuilds += 1
        screen_offset = self._cursor_row - int(self.scroll_offset.y)
        keys = self._sort_keys
        shown = self._shown_fn()
        sort_key = self._sort_key_fn()
        order = []
        for key, r in self._rows.items():
            if shown(r):
                if key not in keys:
                    keys[key] = sort_key(r)
                order.append(key)
        order.sort(key=keys.__getitem__, reverse=self.sort_reverse)
        if self.sort_reverse:  # blank cells sort last in either direction
            blanks = [k for k in order if keys[k][0]]
            if blanks:
                blanks.reverse()
                order = [k for k in order if not keys[k][0]] + blanks
        self._order = order
        self._index = {k: i for i, k in enumerate(order)}
        self._measure_top()
        self._strips.clear()
        self.virtual_size = Size(self.size.width, len(order) + 1)
        if not self._pinned:
            self._cursor_row = 0
            self.scroll_to(y=0, animate=False)
            self._set_cursor_key()
        elif self.cursor_key in self._index:
            self._cursor_row = self._index[self.cursor_key]
            page = max(1, self.size.height - 1)
            if keep_cursor_visible and not 0 <= screen_offset < page:
                screen_offset = page // 2
            self.scroll_to(y=max(0, self._cursor_row - screen_offset), animate=False)
        else:
            self._cursor_row = min(self._cursor_row, max(0, len(order) - 1))
            self._set_cursor_key()
        self.refresh()
        self._post_visible()

    def _set_cursor_key(self) -> None:
        key = self._order[self._cursor_row] if self._order else None
        if key != self.cursor_key:
            self.cursor_key = key
            try:
                target: MessagePump = self.screen
            except NoScreen:  # not mounted yet
                target = self
            target.post_message(self.CursorMoved(key))

    @property
    def cursor_resource(self) -> Resource | None:
        return None if self.cursor_key is None else self._rows.get(self.cursor_key)

    # -- keys and mouse ----------------------------------------------------------------------

    def move_cursor(self, row: int) -> None:
        """Put the cursor on ``row`` (clamped) and scroll it into view."""
        if not self._order:
            return
        old = self._cursor_row
        self._cursor_row = max(0, min(row, len(self._order) - 1))
        self._set_cursor_key()
        top = int(self.scroll_offset.y)
        page = max(1, self.size.height - 1)
        if self._cursor_row < top:
            self.scroll_to(y=self._cursor_row, animate=False)
            self.refresh()
        elif self._cursor_row >= top + page:
            self.scroll_to(y=self._cursor_row - page + 1, animate=False)
            self.refresh()
        else:
            self.refresh_lines(old + 1)
            self.refresh_lines(self._cursor_row + 1)

    def action_scroll_columns(self, step: int) -> None:
        self.scroll_columns(step)

    def action_cursor(self, delta: int) -> None:
        self._pinned = True
        self.move_cursor(self._cursor_row + delta)

    def action_page(self, direction: int) -> None:
        self._pinned = True
        self.move_cursor(self._cursor_row + direction * max(1, self.size.height - 2))

    def action_edge(self, bottom: int) -> None:
        self._pinned = True
        self.move_cursor(len(self._order) - 1 if bottom else 0)

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = 0
            for column, width in self._layout:
                if x <= event.x < x + width + 1:
                    self.sort_by(column.key)
                    return
                x += width + 1
            return
        self._pinned = True
        self.move_cursor(int(self.scroll_offset.y) + event.y - 1)

    def notify_style_update(self) -> None:
        # Theme or CSS changed: cached strips carry old colours.
        super().notify_style_update()
        self._style_memo = {}
        self._strips.clear()
        self.refresh()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._order) + 1)
        self._strips.clear()
        self._post_visible()

    # -- rendering ---------------------------------------------------------------------------


def stale_ages(accounts: Iterable[Any], now: float) -> dict[AccountKey, str]:
    """Account key -> age text for every account whose data is stale."""
    return {state.key: human_age(state.age(now)) for state in accounts if state.stale_at(now)}


__all__ = ["MARK", "ResourceTable", "stale_ages"]
