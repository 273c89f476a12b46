"""How the resource table draws: the column layout for a width, the widths the cells on
screen need, the header (sort arrow, more-columns marks) and each row's strip.

A mixin of :class:`~joytui.ui.widgets.resource_table.ResourceTable`, which holds the rows,
order, cursor and marks this reads.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip

from joytui.model import Resource
from joytui.safe_text import printable
from joytui.ui.columns import COLUMNS, layout

MARK = "◆ "
"""What starts a marked row's name (space marks a row), seen at any width."""


class TableDrawing:
    """Line-API drawing of the table (``render_line`` builds only what is on screen)."""

    _layout: list[Any]
    _layout_width: int
    _wants: dict[str, int]
    _measured: dict[Any, int]
    """row key -> the version of the row last measured (since the last rebuild)."""
    _measured_columns: tuple[str, ...]
    _style_memo: dict[str, Style]
    """component class ("" for the widget's own) -> its Rich style, until the CSS changes."""
    MEASURED_ROWS = 500
    """Rows measured at each rebuild (the top of the order); rows scrolled to below them are
    measured as they are drawn."""

    def _style(self, component: str = "") -> Style:
        """The Rich style of a component class (the widget's own for ""), resolved once per
        CSS change (``notify_style_update`` forgets them): Textual drops its own cache of
        these on every refresh, so a cursor move would resolve each again."""
        style = self._style_memo.get(component)
        if style is None:
            style = self.get_component_rich_style(component) if component else self.rich_style
            self._style_memo[component] = style
        return style

    def _ensure_layout(self, width: int) -> None:
        if width != self._layout_width:
            self._layout = layout(self.columns, width, self._wants, self.view.priority)
            if self.column_offset or self.hidden_columns:
                # Two cells on the right say there is more (◂ ▸); the columns fit beside them.
                self._layout = layout(self.columns, width - 2, self._wants, self.view.priority)
            self._layout_width = width
            self._strips.clear()

    def _measure_top(self) -> None:
        """Widths from the first rows of the order, afresh: what the data needs now, the same
        for the same data whatever order it arrived in."""
        self._wants = {}
        self._measured = {}
        self._measure(0, self.MEASURED_ROWS, repaint=False)
        self._layout_width = -1

    def _measure(self, top: int, height: int, repaint: bool = True) -> None:
        """Grow each column's wanted width to what the rows ``top`` to ``top + height``
        need (scrolling further down never shrinks a column until the next rebuild). A row
        already measured at its version (for these columns) is not measured again, so an
        idle redraw costs nothing here."""
        wants = self._wants
        grew = False
        if self._measured_columns != self.columns:
            self._measured_columns = self.columns
            self._measured = {}
        columns = [COLUMNS[c] for c in self.columns]
        measured, versions = self._measured, self._versions
        for key in self._order[top : top + height]:
            version = versions.get(key, 0)
            if measured.get(key) == version:
                continue
            measured[key] = version
            r = self._rows[key]
            for column in columns:
                need = cell_len(printable(column.value(r)))
                if column.key == "status":
                    need += 1  # room for the stale mark
                    if key in self.notes:
                        need = max(need, cell_len(printable(self.notes[key])))
                if need > wants.get(column.key, 0):
                    wants[column.key] = need
                    grew = True
        if grew:
            self._layout_width = -1
            if repaint:  # lines drawn before with the old widths are repainted too
                self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._measure(int(self.scroll_offset.y) + max(0, crop.y - 1), crop.height)
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        self._ensure_layout(width)
        if y == 0:
            return self._header(width)
        row = int(self.scroll_offset.y) + y - 1
        if row >= len(self._order):
            if row == 0 and not self._order and self.empty_message:
                text = set_cell_size(f" {printable(self.empty_message)}", width)
                return Strip([Segment(text, self._style("resource-table--empty"))])
            return Strip.blank(width, self._style())
        key = self._order[row]
        cursor = row == self._cursor_row
        cache_key = (key, self._versions.get(key, 0), width, cursor)
        strip = self._strips.get(cache_key)
        if strip is None:
            strip = self._row(self._rows[key], width, cursor)
            self._strips[cache_key] = strip
        return strip

    def _header(self, width: int) -> Strip:
        base = self._style("resource-table--header")
        sorted_style = self._style("resource-table--header-sorted")
        segments = []
        for i, (column, w) in enumerate(self._layout):
            title = column.title
            style = base
            if column.key == self.sort_column:
                arrow = "▼" if self.sort_reverse else "▲"
                # The arrow never clips the title: it takes the space, or the title's tail.
                title = f"{title} {arrow}" if len(title) + 2 <= w else f"{title[: w - 1]}{arrow}"
                style = sorted_style
            text = title.rjust(w) if column.right else set_cell_size(title, w)
            if i:
                segments.append(Segment(" ", base))
            segments.append(Segment(text, style))
        if self.column_offset or self.hidden_columns:
            # Say that there is more to either side (left/right scroll the columns).
            more = ("◂" if self.column_offset else " ") + ("▸" if self.hidden_columns else " ")
            strip = Strip(segments).adjust_cell_length(max(0, width - 2), base)
            return Strip([*strip, Segment(more, sorted_style)])
        return Strip(segments).adjust_cell_length(width, base)

    def _row(self, r: Resource, width: int, cursor: bool) -> Strip:
        base = self._style()
        stale_age = self._stale.get((r.provider, r.account))
        if stale_age is not None:
            base = base + self._style("resource-table--stale")
        status_style = self._style(f"resource-table--{r.status.value}")
        cursor_style: Style | None = None
        if cursor:
            # Only the bar's background and weight: the status keeps its colour under it.
            bar = self._style("resource-table--cursor")
            cursor_style = Style(bgcolor=bar.bgcolor, bold=bar.bold)
        note = self.notes.get(r.key)
        marked = r.key in self.marked
        if marked:
            base = base + self._style("resource-table--marked")
        # The mark goes before the name (else the first column): seen at any width.
        mark_at = next((i for i, (c, _) in enumerate(self._layout) if c.key == "name"), 0)
        segments = []
        for i, (column, w) in enumerate(self._layout):
            value = printable(column.value(r))
            style: Style = base
            if column.key == "status":
                style = base + status_style
                if note is not None:
                    value = printable(note)
                    style = style + self._style("resource-table--note")
                elif stale_age is not None:
                    value = f"~{value}"
            if i == mark_at and marked:
                value = MARK + value  # seen without colour too (NO_COLOR, a mono terminal)
            if column.key == "name" and stale_age is not None:
                tag = f" (stale {stale_age})"
                if cell_len(value) + len(tag) <= w:  # only when the whole name still fits
                    value += tag
            if cursor_style is not None:
                style = style + cursor_style
            if column.right and cell_len(value) <= w:
                text = " " * (w - cell_len(value)) + value
            else:
                text = set_cell_size(value, w)
            if i:
                segments.append(Segment(" ", base + cursor_style if cursor_style else base))
            segments.append(Segment(text, style))
        fill = base + cursor_style if cursor_style else base
        return Strip(segments).adjust_cell_length(width, fill)
