"""The detail of one resource: its fields, grouped and readable; live charts of what its API
measures; the state of its streams; a Jamsocket backend's status timeline; the actions it
offers now (``a`` opens them, as in the table).

While it shows a resource it holds a :class:`~joytui.core.detail.DetailWatch` (its own poll
and streams); :meth:`DetailPane.close` stops it. Charts redraw at most four times a second,
and not at all while paused, hidden or while the terminal has lost focus.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.widgets import Static

from joytui.core.actions import Offer
from joytui.core.detail import DetailWatch
from joytui.core.history import rates, values
from joytui.core.session import Session
from joytui.model import Resource
from joytui.safe_text import printable
from joytui.ui.formatting import (
    STATUS_GLYPHS,
    human_bytes,
    human_duration,
    human_rate,
    local_time,
)
from joytui.ui.screens.actions import run_action_flow
from joytui.ui.widgets.chart import BrailleChart

WINDOWS = (60.0, 300.0, 900.0)
"""The time windows ``+``/``-`` step through (1, 5, 15 minutes)."""
NO_METRICS = {
    "host": "Cockpit hosts report no metrics of their own: nothing to chart.",
    "service": "A Jamsocket service has no metrics of its own: see its backends.",
}
BYTE_FIELDS = ("disk", "memory", "mem", "bytes", "size")
TIME_FIELDS = ("_at", "time", "heartbeat")


def _percent(v: float) -> str:
    return f"{v:.0f}%"


class DetailPane(VerticalScroll, can_focus=True):
    """What joytui knows of one resource, live."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "logs", "Logs", id="detail_logs"),
        Binding("y", "raw", "Raw JSON", id="detail_raw"),
        Binding("a", "actions", "Actions", id="detail_actions"),
        Binding("p", "pause", "Pause charts", id="detail_pause"),
        Binding("plus", "window(1)", "Wider window", id="detail_wider"),
        Binding("minus", "window(-1)", "Narrower window", id="detail_narrower"),
        Binding("escape", "close_detail", "Close detail", id="detail_close"),
    ]

    class Closed(Message):
        """The user closed the detail (Escape)."""

    class OpenLogs(Message):
        """The user asked for the resource's logs (l)."""

        def __init__(self, resource: Resource) -> None:
            super().__init__()
            self.resource = resource

    class ShowRaw(Message):
        """The user asked for the raw JSON (y)."""

        def __init__(self, resource: Resource) -> None:
            super().__init__()
            self.resource = resource

    def __init__(
        self, session: Session, *, clock: Callable[[], float], id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.session = session
        self.clock = clock
        self.resource: Resource | None = None
        self.watch: DetailWatch | None = None
        self.paused = False
        self.window = WINDOWS[1]
        self.related: dict[str, list[str]] = {}
        self.offers: list[Offer] = []
        """The actions the resource offers now (shown, and opened with ``a``)."""
        self._dirty = False
        self._focused_app = True
        self._stream_words = ""
        self._drawn_at = 0.0
        self.redraws = 0

    def compose(self) -> ComposeResult:
        # What moves first (status, streams, charts), then the fields, which scroll.
        yield Static(id="detail-live")
        with Grid(id="detail-charts"):
            yield BrailleChart("CPU", _percent, fixed_max=100.0, id="chart-cpu")
            yield BrailleChart("MEM", human_bytes, id="chart-mem")
            yield BrailleChart("NET IN", human_rate, id="chart-net_in")
            yield BrailleChart("NET OUT", human_rate, id="chart-net_out")
            yield BrailleChart("DISK READ", human_rate, id="chart-disk_read")
            yield BrailleChart("DISK WRITE", human_rate, id="chart-disk_write")
        yield Static(id="detail-fields")

    def on_mount(self) -> None:
        # At most four redraws a second, whatever the data rate; paused while nothing shows.
        self._timer = self.set_interval(0.25, self._redraw_if_dirty, pause=True)

    async def on_unmount(self) -> None:
        await self.close()  # however the detail goes away, its poll and streams stop

    # -- open and close ---------------------------------------------------------------------

    async def show(self, resource: Resource) -> None:
        """Show ``resource``: stop the last one's watch, start this one's."""
        if self.resource is not None and self.resource.key == resource.key and self.watch:
            self.resource = resource
            self._dirty = True
            return
        await self.close()
        self.resource = resource
        self.related = {}
        self.offers = []
        self.watch = self.session.watch(resource, self._mark_dirty)
        self._timer.resume()
        self.run_worker(self._fetch_related(resource), group="detail", exit_on_error=False)
        self.refresh_actions()
        self._redraw()

    async def close(self) -> None:
        """Stop the watch: no poll, stream or task of this detail goes on."""
        self.workers.cancel_group(self, "detail")
        if getattr(self, "_timer", None) is not None:
            self._timer.pause()
        if self.watch is not None:
            watch, self.watch = self.watch, None
            await watch.aclose()

    async def _fetch_related(self, resource: Resource) -> None:
        client = self.session.client_for((resource.provider, resource.account))
        if client is None:
            return
        try:
            related = await client.related(resource)
        except Exception as exc:  # the detail says so; nothing else depends on it
            related = {"images": [f"could not be read: {exc}"]}
        if self.resource is not None and self.resource.key == resource.key:
            self.related = related
            self._mark_dirty()

    def update_resource(self, resource: Resource) -> None:
        """The poll brought news of the shown resource (its status, say)."""
        if self.resource is not None and resource.key == self.resource.key:
            moved = (resource.status, resource.raw_status) != (
                self.resource.status,
                self.resource.raw_status,
            )
            self.resource = resource
            if moved:
                self.refresh_actions()  # what it offers follows its status
            self._mark_dirty()

    def refresh_actions(self) -> None:
        """Ask again which actions the shown resource offers (its status or an action moved)."""
        if self.resource is not None:
            worker = self._fetch_offers(self.resource)
            self.run_worker(worker, group="detail-actions", exclusive=True, exit_on_error=False)

    async def _fetch_offers(self, resource: Resource) -> None:
        offers = await self.session.actions.offered(resource)
        if self.resource is not None and self.resource.key == resource.key:
            self.offers = offers
            self._mark_dirty()

    # -- redraws ----------------------------------------------------------------------------

    def _mark_dirty(self) -> None:
        self._dirty = True
        if time.monotonic() - self._drawn_at >= 0.25:
            # Nothing drawn for a quarter second (the first sample, say): draw now, not at
            # the next tick; the rate stays at four frames a second at most.
            self.call_later(self._redraw_if_dirty)

    def on_app_blur(self, event: events.AppBlur) -> None:
        self._focused_app = False

    def on_app_focus(self, event: events.AppFocus) -> None:
        self._focused_app = True
        self._dirty = True

    def _redraw_if_dirty(self) -> None:
        if self.watch is not None and self.watch.stream_words() != self._stream_words:
            self._dirty = True  # a stream connected or dropped, with no item to say so
        if self._dirty and not self.paused and self._focused_app and self.display:
            self._redraw()

    def _redraw(self) -> None:
        self._dirty = False
        self._drawn_at = time.monotonic()
        self._stream_words = self.watch.stream_words() if self.watch is not None else ""
        self.redraws += 1
        resource = self.resource
        if resource is None:
            return
        now = self.clock()
        self.query_one("#detail-fields", Static).update(self._fields(resource, now))
        self.query_one("#detail-live", Static).update(self._live(resource))
        self._charts(resource, now)

    def _fields(self, r: Resource, now: float) -> Table:
        per_row = 3 if self.size.width >= 150 else 2
        table = Table.grid(padding=(0, 2), expand=True)
        for _ in range(per_row):
            table.add_column(style="bold", no_wrap=True)
            table.add_column(ratio=1, overflow="ellipsis", no_wrap=True)
        pairs: list[tuple[str, str]] = [
            ("name", r.name),
            ("status", f"{STATUS_GLYPHS[r.status]} {r.status.value}  ({r.raw_status or '-'})"),
            ("kind", f"{r.provider} {r.kind}"),
            ("account", r.account),
            ("id", r.id),
        ]
        if r.ip:
            pairs.append(("ip", r.ip))
        if r.location:
            pairs.append(("where", r.location))
        if r.parent:
            pairs.append(("parent", r.parent))
        if r.cpu_percent is not None:
            pairs.append(("cpu", f"{r.cpu_percent:.1f}%"))
        if r.memory_used is not None or r.memory_total is not None:
            used = human_bytes(r.memory_used) or "?"
            pairs.append(("memory", f"{used} of {human_bytes(r.memory_total) or '?'}"))
        if r.vcpus is not None:
            pairs.append(("vcpus", str(r.vcpus)))
        if r.created_at is not None:
            pairs.append(("created", local_time(r.created_at, now)))
        for key, value in sorted(r.detail.items()):
            if value is None or value == "":
                continue
            pairs.append((key.replace("_", " "), _field_value(key, value, now)))
        for i in range(0, len(pairs), per_row):
            row: list[Any] = []
            for label, value in pairs[i : i + per_row]:
                row += [Text(label), Text(printable(value))]
            table.add_row(*row)
        return table

    def _live(self, r: Resource) -> Text:
        text = Text()
        text.append(f"{r.kind} {printable(r.name)}  ", style="bold")
        text.append(f"{STATUS_GLYPHS[r.status]} {r.status.value}", style="bold")
        text.append(f"  {r.provider} {printable(r.account)}  ")
        text.append("(Esc back, a actions, l logs, y JSON)\n")
        text.append_text(self._actions_line(r))
        watch = self.watch
        if r.kind in NO_METRICS:
            text.append(NO_METRICS[r.kind] + "\n", style="italic")
        if r.kind == "service":
            backends = [
                b
                for b in self.session.store.resources()
                if b.kind == "backend" and b.parent == r.id and b.account == r.account
            ]
            text.append(f"backends ({len(backends)}): ", style="bold")
            text.append(
                ", ".join(f"{printable(b.name)} {b.status.value}" for b in backends) or "none"
            )
            text.append("\n")
        for title, lines in self.related.items():
            text.append(f"{title} ({len(lines)}):\n", style="bold")
            for line in lines[:8]:
                text.append(f"  {printable(line)}\n")
        if watch is not None:
            if watch.streams:
                text.append("streams: ", style="bold")
                text.append(printable(watch.stream_words()) + "\n")
            if watch.poll_error:
                text.append(f"metrics poll failed: {printable(watch.poll_error)}\n", style="bold")
            if watch.timeline:
                text.append("status: ", style="bold")
                steps = [
                    f"{_clock(e.time)} {printable(e.raw_status or e.status.value)}"
                    for e in watch.timeline[-8:]
                ]
                text.append(" → ".join(steps) + "\n")
            if watch.ended:
                text.append(f"ended: {printable(watch.ended)}\n", style="bold")
        window = f"{self.window / 60:.0f} min"
        state = "paused (p resumes)" if self.paused else "live"
        text.append(f"charts: {state}, window {window} (+/- change it)", style="dim")
        return text

    def _actions_line(self, r: Resource) -> Text:
        """``actions (a): Shut down, Pause…``; a pending one; why they are refused."""
        text = Text()
        pending = self.session.actions.pending.get(r.key)
        if pending is not None:
            text.append("action: ", style="bold")
            text.append(f"◐ {pending.label}: {pending.words} (until a poll reports it)\n")
        if not self.offers:
            return text
        text.append("actions (a): ", style="bold")
        text.append(", ".join(o.action.label for o in self.offers))
        refused = {o.disabled for o in self.offers if o.disabled}
        if refused:
            text.append(f"  — refused: {printable('; '.join(sorted(refused)))}", style="italic")
        text.append("\n")
        return text

    def _charts(self, r: Resource, now: float) -> None:
        start = now - self.window
        # Readings in the window (and one window before, for the first rate); none newer than
        # the clock says is now.
        samples = [
            x
            for x in self.session.history.samples(r.key, since=start - self.window)
            if x.time <= now
        ]
        grid = self.query_one("#detail-charts")
        offered = self.watch is not None and self.watch.offers_metrics
        grid.display = offered or bool(samples)
        if not grid.display:
            return
        max_gap = max(3 * self.session.config.detail.poll_seconds, 10.0)
        series: dict[str, list[tuple[float, float | None]]] = {
            "cpu": values(samples, "cpu_percent"),
            "mem": values(samples, "memory_used"),
        }
        for counter in ("net_in", "net_out", "disk_read", "disk_write"):
            series[counter] = rates(samples, counter, max_gap)
        totals = [s.memory_total for s in samples if s.memory_total]
        for name, points in series.items():
            chart = self.query_one(f"#chart-{name}", BrailleChart)
            has_data = any(v is not None for _, v in points)
            chart.display = has_data or name in ("cpu", "mem")
            if name == "mem":
                chart.fixed_max = float(totals[-1]) if totals else None
                chart.title = f"MEM of {human_bytes(totals[-1])}" if totals else "MEM"
            chart.set_points(points, start, now)

    # -- keys -------------------------------------------------------------------------------

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._redraw()
        self.notify("Charts paused" if self.paused else "Charts live", timeout=1.5)

    def action_window(self, step: int) -> None:
        index = WINDOWS.index(self.window) if self.window in WINDOWS else 1
        self.window = WINDOWS[max(0, min(len(WINDOWS) - 1, index + step))]
        self._redraw()

    def action_logs(self) -> None:
        if self.resource is not None:
            self.post_message(self.OpenLogs(self.resource))

    def action_actions(self) -> None:
        """The action menu of the shown resource (the same as ``a`` in the table)."""
        if self.resource is not None:
            flow = run_action_flow(self.app, self.session, [self.resource])
            self.run_worker(flow, group="detail-flow", exit_on_error=False)

    def action_raw(self) -> None:
        if self.resource is not None:
            self.post_message(self.ShowRaw(self.resource))

    def action_close_detail(self) -> None:
        self.post_message(self.Closed())


def raw_json(resource: Resource) -> str:
    """The resource as indented JSON (the normalized model holds no secret)."""
    return json.dumps(resource.model_dump(mode="json"), indent=2, ensure_ascii=True)


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def _field_value(key: str, value: Any, now: float) -> str:
    if isinstance(value, str):
        try:  # some APIs send numbers as strings
            value = float(value) if "." in value else int(value)
        except ValueError:
            return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    lowered = key.lower()
    if "uptime" in lowered or lowered.endswith("_seconds"):
        return human_duration(value)
    if lowered.endswith("_mb"):
        return human_bytes(value * 1024 * 1024)
    if lowered.endswith(("_gb",)):
        return human_bytes(value * 1024**3)
    if any(word in lowered for word in BYTE_FIELDS):
        return human_bytes(value)
    if any(word in lowered for word in TIME_FIELDS) and value > 1e9:
        return local_time(value, now)
    return f"{value:g}" if isinstance(value, float) else str(value)
