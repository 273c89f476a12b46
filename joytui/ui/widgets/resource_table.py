"""The resource table: a Line-API virtual view, so cost follows what is on screen.

Like toolong's ``LogLines``, ``render_line(y)`` builds only the visible rows, from an LRU
cache of ``Strip`` objects keyed by row version. An update touches only the rows it changed:
if the order holds, only their lines are refreshed (``refresh_lines``); if it does not, the
order is re-sorted from cached sort keys. The cursor is tracked by resource key, never by row
index, so sort, filter, cursor and scroll survive every refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from joytui.core.query import Query
from joytui.core.store import AccountKey, ResourceKey
from joytui.model import Resource
from joytui.safe_text import printable
from joytui.ui.columns import COLUMNS, Column, layout
from joytui.ui.formatting import human_age
from joytui.ui.views import VIEWS_BY_ID, View


class ResourceTable(ScrollView, can_focus=True):
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
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="cursor_up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="cursor_down"),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False, id="page_up"),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False, id="page_down"),
        Binding("home,g", "edge(0)", "Top", show=False, id="top"),
        Binding("end,G", "edge(1)", "Bottom", show=False, id="bottom"),
    ]

    class CursorMoved(Message):
        """The cursor is on a different resource (or on none)."""

        def __init__(self, key: ResourceKey | None) -> None:
            super().__init__()
            self.key = key

    class SortChanged(Message):
        """The user sorted by another column or direction."""

        def __init__(self, column: str, reverse: bool) -> None:
            super().__init__()
            self.column = column
            self.reverse = reverse

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
        self._layout: list[tuple[Column, int]] = []
        self._layout_width = -1
        self.query_filter = Query()
        self.sort_column = "status"
        self.sort_reverse = False
        self.cursor_key: ResourceKey | None = None
        self._cursor_row = 0
        self._pinned = False
        """True once the user has moved the cursor: from then on it follows its resource.
        Before that it stays on the top row, so what sorts first (errors) is what shows first."""
        self.rebuilds = 0
        self._visible: tuple[ResourceKey, ...] = ()

    # -- the model ---------------------------------------------------------------------------

    @property
    def view(self) -> View:
        return VIEWS_BY_ID[self.view_id]

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
        """The sort key of the current sort column (looked up once, used per row)."""
        column = COLUMNS.get(self.sort_column)
        primary = column.sort if column is not None else (lambda r: 0)
        return lambda r: (primary(r), r.name.lower(), r.provider, r.account, r.id)

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
        for r in added:
            self._rows[r.key] = r
            self._versions[r.key] = 0
            self._sort_keys.pop(r.key, None)
            reorder = reorder or shown(r)
        for key in removed:
            if self._rows.pop(key, None) is not None:
                self._versions.pop(key, None)
                self._sort_keys.pop(key, None)
                reorder = reorder or key in self._index
        for r in changed:
            key = r.key
            self._rows[key] = r
            self._versions[key] = self._versions.get(key, 0) + 1
            if reorder:
                self._sort_keys.pop(key, None)
                continue
            if shown(r) != (key in self._index):
                reorder = True
            elif key in self._index:
                new = sort_key(r)
                if new != self._sort_keys.get(key):
                    self._sort_keys[key] = new
                    reorder = True
                dirty.append(key)
        if reorder:
            self._rebuild()
            return
        top = int(self.scroll_offset.y)
        bottom = top + self.size.height
        for key in dirty:
            row = self._index[key]
            if top <= row < bottom:
                self.refresh_lines(row + 1)

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
        """Sort by ``column``; choosing the sorted column again flips the direction."""
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column, self.sort_reverse = column, reverse
        self._sort_keys = {}
        self._rebuild()
        self.post_message(self.SortChanged(column, reverse))

    def sort_next(self) -> None:
        """Sort by the next visible column."""
        keys = [c.key for c, _ in self._layout] or list(self.view.columns)
        index = keys.index(self.sort_column) if self.sort_column in keys else -1
        self.sort_by(keys[(index + 1) % len(keys)], reverse=False)

    def watch_view_id(self) -> None:
        self._layout_width = -1
        if self.sort_column not in self.view.columns:
            self.sort_column = "status"
        self._sort_keys = {}
        self._rebuild()

    def _rebuild(self) -> None:
        """Recompute the order from cached sort keys, keeping the cursor on its resource and
        at the same place on screen."""
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
        self._order = order
        self._index = {k: i for i, k in enumerate(order)}
        self._strips.clear()
        self.virtual_size = Size(self.size.width, len(order) + 1)
        if not self._pinned:
            self._cursor_row = 0
            self.scroll_to(y=0, animate=False)
            self._set_cursor_key()
        elif self.cursor_key in self._index:
            self._cursor_row = self._index[self.cursor_key]
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
            self.post_message(self.CursorMoved(key))

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
        self._strips.clear()
        self.refresh()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._order) + 1)
        self._strips.clear()
        self._post_visible()

    # -- rendering ---------------------------------------------------------------------------

    def _ensure_layout(self, width: int) -> None:
        if width != self._layout_width:
            self._layout = layout(self.view.columns, width)
            self._layout_width = width
            self._strips.clear()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        self._ensure_layout(width)
        if y == 0:
            return self._header(width)
        row = int(self.scroll_offset.y) + y - 1
        if row >= len(self._order):
            return Strip.blank(width, self.rich_style)
        key = self._order[row]
        cursor = row == self._cursor_row
        cache_key = (key, self._versions.get(key, 0), width, cursor)
        strip = self._strips.get(cache_key)
        if strip is None:
            strip = self._row(self._rows[key], width, cursor)
            self._strips[cache_key] = strip
        return strip

    def _header(self, width: int) -> Strip:
        base = self.get_component_rich_style("resource-table--header")
        sorted_style = self.get_component_rich_style("resource-table--header-sorted")
        segments = []
        for i, (column, w) in enumerate(self._layout):
            title = column.title
            style = base
            if column.key == self.sort_column:
                title += " ▼" if self.sort_reverse else " ▲"
                style = sorted_style
            text = set_cell_size(title, w) if not column.right else title.rjust(w)[-w:]
            if i:
                segments.append(Segment(" ", base))
            segments.append(Segment(text, style))
        strip = Strip(segments)
        return strip.adjust_cell_length(width, base)

    def _row(self, r: Resource, width: int, cursor: bool) -> Strip:
        base = self.rich_style
        stale_age = self._stale.get((r.provider, r.account))
        if stale_age is not None:
            base = base + self.get_component_rich_style("resource-table--stale")
        status_style = self.get_component_rich_style(f"resource-table--{r.status.value}")
        cursor_style = self.get_component_rich_style("resource-table--cursor") if cursor else None
        segments = []
        for i, (column, w) in enumerate(self._layout):
            value = printable(column.value(r))
            style: Style = base
            if column.key == "status":
                style = base + status_style
                if stale_age is not None:
                    value = f"~{value}"
            if column.key == "name" and stale_age is not None:
                tag = f" (stale {stale_age})"
                if len(value) + len(tag) <= w:  # only when the whole name still fits
                    value += tag
            if cursor_style is not None:
                style = style + cursor_style
            text = value.rjust(w)[-w:] if column.right else set_cell_size(value, w)
            if i:
                segments.append(Segment(" ", base + cursor_style if cursor_style else base))
            segments.append(Segment(text, style))
        fill = base + cursor_style if cursor_style else base
        return Strip(segments).adjust_cell_length(width, fill)


def stale_ages(accounts: Iterable[Any], now: float) -> dict[AccountKey, str]:
    """Account key -> age text for every account whose data is stale."""
    return {
        state.key: human_age(state.age(now)) for state in accounts if getattr(state, "stale", False)
    }


__all__ = ["ResourceTable", "stale_ages"]
