"""The chart renderers side by side: one 100x20 chart of 240 points, redrawn with new data
each frame, in the same app harness; a bare app that redraws one number is the floor.

    .venv/bin/python bench/chart_bench.py [--frames 60]

Candidates: joytui's braille chart (ui/widgets/chart.py), Textual's Sparkline, and, when
installed, textual-plotext and textual-plot. Prints ms per frame (median) and the ratio to
the floor. The budget for the detail: four live charts at 4 fps within 5 % of a core, i.e.
about 12 ms per chart frame at most.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from joytui.ui.widgets.chart import BrailleChart

POINTS = 240


def series(frame: int) -> tuple[list[float], list[float]]:
    xs = [float(i) for i in range(POINTS)]
    ys = [50 + 40 * math.sin((i + frame) / 9) for i in range(POINTS)]
    return xs, ys


class Harness(App[None]):
    CSS = "Screen { layout: vertical; } #chart { width: 100; height: 20; }"

    def __init__(self, make: Callable[[], Widget]) -> None:
        super().__init__()
        self.make = make

    def compose(self) -> ComposeResult:
        yield self.make()


def braille() -> tuple[Callable[[], Widget], Callable[[Widget, int], None]]:
    def make() -> Widget:
        return BrailleChart("CPU", lambda v: f"{v:.0f}%", fixed_max=100.0, id="chart")

    def update(w: Widget, frame: int) -> None:
        xs, ys = series(frame)
        assert isinstance(w, BrailleChart)
        w.set_points(list(zip(xs, ys, strict=True)), 0.0, float(POINTS - 1))

    return make, update


def sparkline() -> tuple[Callable[[], Widget], Callable[[Widget, int], None]]:
    def make() -> Widget:
        return Sparkline([], id="chart")

    def update(w: Widget, frame: int) -> None:
        assert isinstance(w, Sparkline)
        w.data = series(frame)[1]

    return make, update


def plotext() -> tuple[Callable[[], Widget], Callable[[Widget, int], None]] | None:
    try:
        from textual_plotext import PlotextPlot
    except ImportError:
        return None

    def make() -> Widget:
        return PlotextPlot(id="chart")

    def update(w: Widget, frame: int) -> None:
        xs, ys = series(frame)
        w.plt.clear_data()  # type: ignore[attr-defined]
        w.plt.plot(xs, ys)  # type: ignore[attr-defined]
        w.refresh()

    return make, update


def textual_plot() -> tuple[Callable[[], Widget], Callable[[Widget, int], None]] | None:
    try:
        from textual_plot import PlotWidget
    except ImportError:
        return None

    def make() -> Widget:
        return PlotWidget(id="chart")

    def update(w: Widget, frame: int) -> None:
        xs, ys = series(frame)
        w.clear()  # type: ignore[attr-defined]
        w.plot(xs, ys)  # type: ignore[attr-defined]

    return make, update


def bare() -> tuple[Callable[[], Widget], Callable[[Widget, int], None]]:
    def make() -> Widget:
        return Static("0", id="chart")

    def update(w: Widget, frame: int) -> None:
        assert isinstance(w, Static)
        w.update(str(frame))

    return make, update


async def measure(candidate, frames: int) -> float:
    make, update = candidate
    app = Harness(make)
    times = []
    async with app.run_test(size=(120, 30)) as pilot:
        widget = app.query_one("#chart")
        await pilot.pause()
        for frame in range(frames + 5):
            start = time.perf_counter()
            update(widget, frame)
            await pilot.pause()  # the frame is composed and written before this returns
            if frame >= 5:  # warm-up
                times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    floor = await measure(bare(), args.frames)
    print(f"bare app (one Static)        {floor:7.2f} ms/frame   1.00x  (floor)")
    candidates = {
        "joytui braille chart": braille(),
        "textual Sparkline": sparkline(),
        "textual-plotext": plotext(),
        "textual-plot": textual_plot(),
    }
    for name, candidate in candidates.items():
        if candidate is None:
            print(f"{name:28} not installed (pip install {name})")
            continue
        ms = await measure(candidate, args.frames)
        print(
            f"{name:28} {ms:7.2f} ms/frame  {ms / floor:5.2f}x  "
            f"+{ms - floor:5.2f} ms over the floor  (100x20, {POINTS} points)"
        )


if __name__ == "__main__":
    asyncio.run(main())
