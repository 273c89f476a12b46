"""A log on the Line API over a bounded ring of lines: memory and CPU stay flat however
long it follows. Lines are text: ANSI escapes and markup from the server are shown, never
obeyed. Search highlights matches; wrap and timestamps toggle."""

from __future__ import annotations

import time
from collections import deque
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from joytui.model import LogLine
from joytui.safe_text import printable


class LogView(ScrollView, can_focus=True):
    """The last ``limit`` lines of a log, newest at the bottom."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"log-view--match", "log-view--time"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "scroll_up", "Up", show=False, id="logs_up"),
        Binding("down,j", "scroll_down", "Down", show=False, id="logs_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="logs_page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="logs_page_down"),
    ]

    def __init__(self, limit: int = 10_000, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: deque[LogLine] = deque(maxlen=limit)
        self.follow = True
        self.wrap = False
        self.timestamps = False
        self.search = ""
        self.match_index = -1
        self.dropped = 0
        """Lines pushed out of the ring since the view opened."""
        self._rows: list[tuple[int, int]] | None = None
        """Wrapped mode: (line index, start column) per screen row."""

    # -- data -------------------------------------------------------------------------------

    def add(self, lines: list[LogLine]) -> None:
        """Append ``lines``; in follow mode, stay at the bottom."""
        if not lines:
            return
        overflow = max(0, len(self.lines) + len(lines) - (self.lines.maxlen or 0))
        self.dropped += overflow
        self.lines.extend(lines)
        self._rows = None
        self._resize()
        if self.follow:
            self.scroll_end(animate=False, immediate=True)
        self.refresh()

    def _text(self, line: LogLine) -> str:
        text = printable(line.text)
        if self.timestamps and line.time is not None:
            stamp = time.strftime("%H:%M:%S", time.localtime(line.time))
            return f"{stamp} {text}"
        return text

    def _row_map(self) -> list[tuple[int, int]]:
        if self._rows is None:
            width = max(1, self.scrollable_content_region.width)
            rows: list[tuple[int, int]] = []
            for i, line in enumerate(self.lines):
                length = len(self._text(line))
                rows.extend((i, start) for start in range(0, max(1, length), width))
            self._rows = rows
        return self._rows

    def _resize(self) -> None:
        height = len(self._row_map()) if self.wrap else len(self.lines)
        width = (
            max((len(self._text(line)) for line in self.lines), default=0) if not self.wrap else 0
        )
        self.virtual_size = Size(max(width, self.size.width), height)

    def on_resize(self) -> None:
        self._rows = None
        self._resize()

    # -- toggles and search -----------------------------------------------------------------

    def set_wrap(self, wrap: bool) -> None:
        self.wrap = wrap
        self._rows = None
        self._resize()
        self.refresh()

    def set_timestamps(self, on: bool) -> None:
        self.timestamps = on
        self._rows = None
        self._resize()
        self.refresh()

    def find(self, text: str, step: int = 1) -> int | None:
        """Move to the next (``step`` 1) or previous (-1) line containing ``text``."""
        self.search = text
        if not text:
            self.refresh()
            return None
        needle = text.lower()
        count = len(self.lines)
        start = self.match_index if self.match_index >= 0 else (count - 1 if step < 0 else -1)
        for offset in range(1, count + 1):
            i = (start + step * offset) % count
            if needle in self.lines[i].text.lower():
                self.match_index = i
                self.follow = False
                self._scroll_to_line(i)
                self.refresh()
                return i
        self.refresh()
        return None

    def _scroll_to_line(self, index: int) -> None:
        row = index
        if self.wrap:
            row = next((r for r, (i, _) in enumerate(self._row_map()) if i == index), 0)
        top = max(0, row - self.size.height // 2)
        self.scroll_to(y=top, animate=False, immediate=True)

    # -- drawing ----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        row = int(self.scroll_offset.y) + y
        if self.wrap:
            rows = self._row_map()
            if row >= len(rows):
                return Strip.blank(width, self.rich_style)
            index, start = rows[row]
            text = self._text(self.lines[index])[start : start + width]
        else:
            if row >= len(self.lines):
                return Strip.blank(width, self.rich_style)
            index = row
            x = int(self.scroll_offset.x)
            text = self._text(self.lines[index])[x : x + width]
        return self._highlight(text, index == self.match_index).adjust_cell_length(
            width, self.rich_style
        )

    def _highlight(self, text: str, current: bool) -> Strip:
        base = self.rich_style
        if not self.search:
            return Strip([Segment(text, base)])
        match = self.get_component_rich_style("log-view--match")
        if current:
            match = match + Style(reverse=True)
        segments = []
        lowered, needle = text.lower(), self.search.lower()
        pos = 0
        while True:
            found = lowered.find(needle, pos)
            if found < 0:
                segments.append(Segment(text[pos:], base))
                break
            segments.append(Segment(text[pos:found], base))
            segments.append(Segment(text[found : found + len(needle)], match))
            pos = found + len(needle)
        return Strip(segments)
