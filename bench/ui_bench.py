"""Dashboard benchmarks (issue: the dashboard). Prints figures; asserts nothing.

Each app runs in its own process under a pseudo-terminal (120x40, xterm-256color), so what is
measured is what a user's terminal would receive. Compared in the same run:
- joytui's Line-API ResourceTable against a bare Textual DataTable holding the same rows;
- key-to-frame latency against a bare Textual app that redraws one line per key.

Figures: first paint at 10k and 50k rows, UI-loop time to apply a refresh with 1 % of rows
changed, bytes written to the terminal for a one-row change, key-to-frame latency, RSS at 50k,
and idle CPU of the dashboard with four accounts polling every 5 s against `joytui sim`.

Run: .venv/bin/python bench/ui_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

COLS, ROWS = 120, 40


# -- the child side: an app that loads N rows and reports what it measured ----------------------


def synthetic(n: int, seed: int = 1) -> list:
    from joytui.model import Resource, Status

    statuses = list(Status)
    return [
        Resource(
            provider="joy",
            account="bench",
            kind="machine",
            id=f"m{i:06d}",
            name=f"machine-{i:06d}",
            status=statuses[(i * 7 + seed) % len(statuses)],
            raw_status="running",
            ip=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
            location=f"node-{i % 17}",
            cpu_percent=float((i * 13) % 100),
            memory_used=(i % 8 + 1) * 2**29,
            memory_total=8 * 2**30,
            vcpus=i % 8 + 1,
        )
        for i in range(n)
    ]


def child(kind: str, n: int, report: str) -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable, Static

    events: list[dict] = []

    def note(**data: object) -> None:
        events.append(data)
        Path(report).write_text(json.dumps(events))

    resources = synthetic(n)

    if kind == "bare":

        class Bare(App[None]):
            BINDINGS = [("j", "down", "down"), ("q", "quit", "quit")]

            def compose(self) -> ComposeResult:
                yield Static("row 0", id="line")

            def on_mount(self) -> None:
                self.count = 0
                self.call_after_refresh(lambda: note(event="ready"))

            def action_down(self) -> None:
                self.count += 1
                self.query_one("#line", Static).update(f"row {self.count}")

        Bare().run()
        return

    if kind == "datatable":

        class Table(App[None]):
            BINDINGS = [("q", "quit", "quit")]

            def compose(self) -> ComposeResult:
                yield DataTable(id="t")

            def on_mount(self) -> None:
                table = self.query_one(DataTable)
                for title in ("NAME", "STATUS", "CPU", "MEM", "IP", "WHERE", "ID"):
                    table.add_column(title, key=title)
                # Rows arrive once the app is up, as a first poll's do.
                self.set_timer(0.5, self.load)

            def load(self) -> None:
                table = self.query_one(DataTable)
                start = time.perf_counter()
                for r in resources:
                    table.add_row(
                        r.name,
                        r.status.value,
                        f"{r.cpu_percent:.0f}%",
                        str(r.memory_used),
                        r.ip,
                        r.location,
                        r.id,
                        key=r.id,
                    )
                self.call_after_refresh(
                    lambda: note(event="painted", seconds=time.perf_counter() - start)
                )
                self.set_timer(1.5, self.change_some)
                self.set_timer(3.0, self.change_one)
                self.set_timer(4.0, lambda: note(event="ready"))

            def change_some(self) -> None:
                table = self.query_one(DataTable)
                start = time.perf_counter()
                for r in resources[::100]:
                    table.update_cell(r.id, "CPU", "99%")
                elapsed = time.perf_counter() - start
                self.call_after_refresh(
                    lambda: note(
                        event="changed_1pct", seconds=elapsed, to_frame=time.perf_counter() - start
                    )
                )

            def change_one(self) -> None:
                table = self.query_one(DataTable)
                note(event="change_one", at=time.time())
                table.update_cell(resources[2].id, "CPU", "42%")

        Table().run()
        return

    from joytui.config import Config
    from joytui.ui.app import JoyTuiApp
    from joytui.ui.widgets.resource_table import ResourceTable

    class Bench(JoyTuiApp):
        def on_mount(self) -> None:
            super().on_mount()
            self.call_after_refresh(lambda: self.dashboard.action_view("machines"))
            self.set_timer(0.5, self.load)

        def load(self) -> None:
            table = self.query_one(ResourceTable)
            start = time.perf_counter()
            table.replace_all(resources)
            self.call_after_refresh(
                lambda: note(event="painted", seconds=time.perf_counter() - start)
            )
            self.set_timer(1.5, self.change_some)
            self.set_timer(3.0, self.change_one)
            self.set_timer(4.0, lambda: note(event="ready"))  # after load

        def change_some(self) -> None:
            table = self.query_one(ResourceTable)
            changed = [
                r.model_copy(update={"cpu_percent": (r.cpu_percent or 0) + 1})
                for r in resources[::100]
            ]
            start = time.perf_counter()
            table.apply_changes(changed=changed)
            elapsed = time.perf_counter() - start
            self.call_after_refresh(
                lambda: note(
                    event="changed_1pct", seconds=elapsed, to_frame=time.perf_counter() - start
                )
            )

        def change_one(self) -> None:
            table = self.query_one(ResourceTable)
            # A change the row shows, of the same width: its memory (the rows on top sort
            # there as errors, whose CPU cell is blank, and a change the table does not show
            # rightly costs nothing).
            visible = table.visible_keys()[2]
            r = next(x for x in resources if x.key == visible)
            note(event="change_one", at=time.time())
            table.apply_changes(changed=[r.model_copy(update={"memory_total": 7 * 2**30})])

    Bench(Config(), poll=False, debug_tracebacks=True).run()


# -- the parent side: a pty, a clock and a byte counter ------------------------------------------


class Pty:
    """A child process on a pseudo-terminal, with its output timestamped."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        pid, fd = pty.fork()
        if pid == 0:
            os.execvpe(argv[0], argv, {**os.environ, **(env or {})})
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.chunks: list[tuple[float, int]] = []

    def pump(self, seconds: float) -> None:
        end = time.time() + seconds
        while (left := end - time.time()) > 0:
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    return
                if not data:
                    return
                self.chunks.append((time.time(), len(data)))

    def bytes_between(self, start: float, end: float) -> int:
        return sum(n for t, n in self.chunks if start <= t < end)

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def close(self) -> None:
        try:
            self.send("q")
            self.pump(1.0)
        finally:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")


ENV = {"TERM": "xterm-256color", "TEXTUAL_ANIMATIONS": "none", "COLUMNS": str(COLS)}


def run_child(kind: str, n: int, keys: int = 0) -> dict:
    report = tempfile.mktemp(suffix=".json")
    proc = Pty([sys.executable, __file__, "--child", kind, str(n), report], ENV)
    result: dict = {}
    try:
        deadline = time.time() + 120
        events: list[dict] = []
        want = "ready"
        while time.time() < deadline:
            proc.pump(0.2)
            if Path(report).exists():
                try:
                    events = json.loads(Path(report).read_text())
                except ValueError:
                    continue
                if any(e["event"] == want for e in events):
                    break
        proc.pump(0.5)
        result["rss_mib"] = proc.rss_mib()
        for e in events:
            result[e["event"]] = e
        if "change_one" in result:
            at = result["change_one"]["at"]
            result["one_row_bytes"] = proc.bytes_between(at, at + 0.5)
        if keys:
            latencies = []
            for _ in range(keys):
                proc.pump(0.15)
                quiet_deadline = time.time() + 5
                while time.time() < quiet_deadline:  # the last frame fully out: a quiet pty
                    before = len(proc.chunks)
                    proc.pump(0.1)
                    if len(proc.chunks) == before:
                        break
                before = len(proc.chunks)
                sent = time.time()
                proc.send("j")
                while len(proc.chunks) == before and time.time() - sent < 2:
                    proc.pump(0.005)
                if len(proc.chunks) > before:
                    latencies.append((proc.chunks[before][0] - sent) * 1000)
            result["key_ms"] = statistics.median(latencies) if latencies else float("nan")
    finally:
        proc.close()
        Path(report).unlink(missing_ok=True)
    return result


def idle_cpu(seconds: float) -> float:
    """CPU share of the dashboard (not the simulator) with four accounts polling every 5 s."""
    from _simproc import cpu_seconds, sim_process

    with sim_process("--seed", "1") as (base_url, _sim):
        config = Path(tempfile.mktemp(suffix=".toml"))
        out = subprocess.run(
            [sys.executable, "-c", "import sys;print(sys.argv[1])", base_url], capture_output=True
        )
        del out
        from joytui.sim.app import Simulator

        text = Simulator().config_toml(base_url)
        config.write_text(text)
        config.chmod(0o600)
        proc = Pty([sys.executable, "-m", "joytui", "--config", str(config)], ENV)
        try:
            proc.pump(8)  # first polls and paint
            cpu0, t0 = cpu_seconds(proc.pid), time.time()
            proc.pump(seconds)
            share = (cpu_seconds(proc.pid) - cpu0) / (time.time() - t0) * 100
        finally:
            proc.close()
            config.unlink(missing_ok=True)
    return share


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=3, metavar=("KIND", "N", "REPORT"))
    parser.add_argument("--quick", action="store_true", help="skip 50k and shorten idle CPU")
    args = parser.parse_args()
    if args.child:
        kind, n, report = args.child
        child(kind, int(n), report)
        return

    sizes = [10_000] if args.quick else [10_000, 50_000]
    for n in sizes:
        ours = run_child("joytui", n, keys=20 if n == 10_000 else 0)
        bare = run_child("datatable", n)
        paint, paint_dt = ours["painted"]["seconds"], bare["painted"]["seconds"]
        print(f"rows {n:,}:")
        print(
            f"  first paint        {paint * 1000:8.1f} ms   DataTable {paint_dt * 1000:8.1f} ms"
            f"   ratio {paint / paint_dt:.3f}   (target <= 100 ms at 10k)"
        )
        ch, ch_dt = ours["changed_1pct"], bare["changed_1pct"]
        print(
            f"  1% rows changed    {ch['seconds'] * 1000:8.2f} ms   DataTable "
            f"{ch_dt['seconds'] * 1000:8.2f} ms   ratio {ch['seconds'] / ch_dt['seconds']:.3f}"
            f"   (UI-loop time; target <= 20 ms; to next frame {ch['to_frame'] * 1000:.1f} ms)"
        )
        b, b_dt = ours["one_row_bytes"], bare["one_row_bytes"]
        print(
            f"  one-row change     {b:8,d} B    DataTable {b_dt:8,d} B    "
            f"ratio {b / max(b_dt, 1):.3f}   (target <= 2 KiB)"
        )
        print(
            f"  RSS                {ours['rss_mib']:8.1f} MiB DataTable {bare['rss_mib']:8.1f} MiB"
            f"   (target <= 150 MiB at 50k)"
        )
        if "key_ms" in ours:
            base = run_child("bare", 0, keys=20)
            print(
                f"  key-to-frame       {ours['key_ms']:8.2f} ms   bare app {base['key_ms']:8.2f} ms"
                f"   ratio {ours['key_ms'] / base['key_ms']:.2f}   (target <= 1.2x)"
            )
    seconds = 10 if args.quick else 30
    print(
        f"idle CPU, four accounts polling every 5 s: {idle_cpu(seconds):.2f} % of a core "
        f"over {seconds} s (target <= 0.5 %)"
    )


if __name__ == "__main__":
    main()
