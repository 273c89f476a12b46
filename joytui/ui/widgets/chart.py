"""A live chart drawn in braille (2x4 dots a cell) on the Line API.

Chosen by ``bench/chart_bench.py`` over Textual's Sparkline, textual-plot and
textual-plotext: the same data and size cost a fraction of a millisecond here. It draws a
filled area of the values over a time window, with a title line (the current, min and max
values, with units) and a scale on the left that grows at once but shrinks only when the
data has fallen well below it, so it does not jump on every sample. A missing value (None)
is a gap, never a zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

Point = tuple[float, float | None]

_LEFT = (0x40, 0x04, 0x02, 0x01)  # braille dots of the left column, bottom to top
_RIGHT = (0x80, 0x20, 0x10, 0x08)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above ``value``."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value * (1 - 1e-9):
            return candidate
    return 10 ** (exponent + 1)


class BrailleChart(Widget):
    """One series over a time window: ``set_points(points, start, end)``."""

    COMPONENT_CLASSES = {"chart--title", "chart--plot", "chart--axis", "chart--gap"}

    def __init__(
        self,
        title: str,
        fmt: Callable[[float], str],
        *,
        fixed_max: float | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.title = title
        self.fmt = fmt
        self.fixed_max = fixed_max
        self.scale_max = fixed_max or 1.0
        self.note = ""
        """Said instead of a plot (``no metrics from this API``) when there are no points."""
        self._points: list[Point] = []
        self._start = 0.0
        self._end = 1.0
        self._lines: list[Strip] | None = None
        self._built_for = (-1, -1)
        self.draws = 0
        self._held = False
        """New points arrived while the terminal had lost focus: drawn when it comes back."""

    def on_mount(self) -> None:
        # The terminal reports focus lost (AppBlur) and regained: no redraws in between.
        self.watch(self.app, "app_focus", self._app_focus_changed, init=False)

    def _app_focus_changed(self, focused: bool) -> None:
        if focused and self._held:
            self._held = False
            self._lines = None
            self.refresh()

    def set_points(self, points: Sequence[Point], start: float, end: float) -> None:
        """Show ``points`` (time, value or None) between ``start`` and ``end``; while the
        terminal has lost focus they are kept, and drawn once it is back."""
        self._points = list(points)
        self._start, self._end = start, max(end, start + 1e-9)
        self._rescale()
        if self.is_mounted and not self.app.app_focus:
            self._held = True
            return
        self._lines = None
        self.refresh()

    def _rescale(self) -> None:
        if self.fixed_max is not None:
            self.scale_max = self.fixed_max
            return
        known = [v for _, v in self._points if v is not None]
        peak = max(known, default=0.0)
        if peak > self.scale_max or peak < self.scale_max * 0.4:
            self.scale_max = nice_ceiling(peak * 1.1) if peak > 0 else 1.0

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, self.size.height
        if self._lines is None or self._built_for != (width, height):
            self._lines = self._build(width, height)
            self._built_for = (width, height)
            self.draws += 1
        return self._lines[y] if y < len(self._lines) else Strip.blank(width)

    def _title(self, width: int) -> Strip:
        style = self.get_component_rich_style("chart--title")
        known = [v for _, v in self._points if v is not None]
        if known:
            now = next((v for _, v in reversed(self._points) if v is not None), None)
            figures = (
                f"   now {self.fmt(now) if now is not None else '—'}"
                f"  min {self.fmt(min(known))}  max {self.fmt(max(known))}"
            )
        else:
            figures = f"   {self.note}" if self.note else "   waiting for the first reading…"
        return Strip(
            [Segment(self.title, style + Style(bold=True)), Segment(figures, style)]
        ).crop_extend(0, width, style)

    def _build(self, width: int, height: int) -> list[Strip]:
        lines = [self._title(width)]
        rows = max(1, height - 2)
        axis_style = self.get_component_rich_style("chart--axis")
        plot_style = self.get_component_rich_style("chart--plot")
        top_label = self.fmt(self.scale_max)
        label_width = max(len(top_label), len(self.fmt(0))) + 1
        plot_width = max(1, width - label_width)
        heights = self._column_heights(plot_width * 2, rows * 4)
        for r in range(rows):
            label = top_label if r == 0 else (self.fmt(0) if r == rows - 1 else "")
            base = (rows - 1 - r) * 4
            cells = []
            for c in range(plot_width):
                left, right = heights[2 * c], heights[2 * c + 1]
                bits = 0
                for k in range(4):
                    if left is not None and left > base + k:
                        bits |= _LEFT[k]
                    if right is not None and right > base + k:
                        bits |= _RIGHT[k]
                cells.append(chr(0x2800 + bits))
            lines.append(
                Strip(
                    [
                        Segment(label.rjust(label_width - 1) + "┤", axis_style),
                        Segment("".join(cells), plot_style),
                    ]
                ).crop_extend(0, width, axis_style)
            )
        span = self._end - self._start
        left_time = f"-{_span_words(span)}"
        axis = " " * label_width + left_time.ljust(max(0, plot_width - 3)) + "now"
        lines.append(Strip([Segment(axis[:width], axis_style)]).crop_extend(0, width, axis_style))
        return lines

    def _column_heights(self, columns: int, dots: int) -> list[int | None]:
        """Per dot column, the filled height in dots (None: no reading there, or a gap)."""
        unset, gap = -1, -2
        heights = [unset] * columns
        span = self._end - self._start
        scale = self.scale_max or 1.0
        newest_x = -1
        for t, v in self._points:
            if t < self._start or t > self._end:
                continue
            x = min(columns - 1, int((t - self._start) / span * columns))
            newest_x = max(newest_x, x)
            if v is None:
                heights[x] = gap
            else:
                heights[x] = max(1 if v > 0 else 0, min(dots, round(v / scale * dots)))
        # Readings are further apart than dot columns: hold each value until the next one,
        # but never across a gap or past the newest reading.
        filled: list[int | None] = []
        last: int | None = None
        for x, h in enumerate(heights):
            if h == gap:
                last = None
            elif h != unset:
                last = h
            filled.append(last if h != gap and x <= newest_x else None)
        return filled


def _span_words(seconds: float) -> str:
    if seconds >= 60:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.0f}s"
