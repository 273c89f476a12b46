"""The detail's cost, each figure next to the idle dashboard (or a bare app) in the same run.

    .venv/bin/python bench/detail_bench.py [--seconds 30]

The simulator runs in its own process; the dashboard runs headless in this one, so process
CPU time is the dashboard's alone. Measured:
- CPU with the detail open on a Joy machine polled every 2 s, and on a Jamsocket backend
  streaming metrics, against the idle dashboard: target at most 5 % of a core above it;
- the logs view following 1,000 lines/s: target at most 20 % of a core, RSS flat once the
  ring is full;
- open to first chart: from the first sample in the history to the chart drawn with it:
  target at most 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _simproc import sim_process

from joytui.config import parse_config
from joytui.model import LogLine
from joytui.sim.app import Simulator
from joytui.ui.app import JoyTuiApp
from joytui.ui.screens.logs import LogsScreen
from joytui.ui.widgets.detail_pane import DetailPane
from joytui.ui.widgets.resource_table import ResourceTable


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


async def cpu_over(pilot, seconds: float) -> float:
    """Share of a core this process used over ``seconds`` of the app running."""
    c0, t0 = time.process_time(), time.perf_counter()
    await pilot.pause(seconds)
    return (time.process_time() - c0) / (time.perf_counter() - t0) * 100


class FastLog:
    """A log stream of ``rate`` lines a second (the UI's cost, not a server's)."""

    state, attempt, problem = "live", 0, None

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.sent = 0

    def __aiter__(self) -> FastLog:
        return self

    async def __anext__(self) -> LogLine:
        if self.sent % (self.rate // 50) == 0:
            await asyncio.sleep(0.02)  # 50 batches a second
        self.sent += 1
        return LogLine(
            time=time.time(), text=f"line {self.sent} GET /healthz 200 {self.sent % 97}ms"
        )

    async def aclose(self) -> None:
        return None


async def open_row(app, pilot, view: str, kind: str) -> None:
    await pilot.press(view)
    table = app.screen.query_one(ResourceTable)
    store = app.session.store
    target = next(
        k for k in table.ordered_keys() if k[2] == kind and store.get(k).status.value == "running"
    )
    table.move_cursor(table.ordered_keys().index(target))
    await pilot.press("enter")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with sim_process("--seed", "7", "--no-incidents") as (url, _):
        text = Simulator().config_toml(url).replace("refresh_seconds = 5", "refresh_seconds = 5")
        config = parse_config(text, Path("bench.toml"))
        app = JoyTuiApp(config)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(3)
            idle = await cpu_over(pilot, args.seconds)
            print(f"idle dashboard                      {idle:5.2f} % of a core (the floor)")

            await open_row(app, pilot, "3", "machine")
            pane = app.screen.query_one("#detail", DetailPane)
            key = pane.resource.key
            before = len(app.session.history.samples(key))
            chart = pane.query_one("#chart-cpu")
            first_sample = None
            while first_sample is None:
                await pilot.pause(0.005)
                if len(app.session.history.samples(key)) > before:
                    first_sample = time.perf_counter()
            newest = app.session.history.latest(key).time
            while not any(t >= newest for t, _ in chart._points):  # drawn with that sample
                await pilot.pause(0.002)
            first_chart = (time.perf_counter() - first_sample) * 1000
            joy = await cpu_over(pilot, args.seconds)
            print(
                f"detail, Joy machine polled every 2 s {joy:5.2f} % "
                f"(+{joy - idle:.2f} over idle; target +5)"
            )
            print(
                f"open to first chart                 {first_chart:5.1f} ms "
                "after the first sample (target 100; measured in 2-5 ms steps)"
            )
            await pilot.press("escape")

            await open_row(app, pilot, "7", "backend")
            await pilot.pause(2)
            backend = await cpu_over(pilot, args.seconds)
            print(
                f"detail, backend streaming metrics   {backend:5.2f} % "
                f"(+{backend - idle:.2f} over idle; target +5)"
            )
            await pilot.press("escape")

            session = app.session
            row = next(r for r in session.store.resources() if r.kind == "backend")
            original = session.log_stream
            session.log_stream = lambda r: FastLog(1000)  # type: ignore[method-assign]
            app.push_screen(LogsScreen(session, row))
            await pilot.pause(12)  # the 10,000-line ring fills in 10 s
            rss0 = rss_mib()
            logs = await cpu_over(pilot, args.seconds * 2)
            rss1 = rss_mib()
            session.log_stream = original  # type: ignore[method-assign]
            print(
                f"logs following 1,000 lines/s        {logs:5.2f} % (target 20); "
                f"RSS {rss0:.1f} -> {rss1:.1f} MiB with the ring full"
            )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
