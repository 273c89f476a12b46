"""Idle CPU, cold start and key-to-frame of the dashboard, each beside a bare Textual app.

Every app runs in its own process under a pseudo-terminal (120x40, xterm-256color). CPU is
process CPU time (user + system, from /proc) of the measured process tree over the window,
so other load on the machine barely moves it. The three idle measurements of a round run at
once (each in its own process and pty); the figure is the median over ``--rounds`` rounds.

- idle CPU of the dashboard alone: four accounts polling every 5 s against ``joytui sim``
  in a separate process (not counted);
- idle CPU of ``joytui demo``: the dashboard and its simulator thread, the whole tree;
- peer: a bare Textual app (one Static) idling under the same kind of pty;
- cold start to the first frame with data from all four accounts (imports, config, secret
  resolution, first polls, paint) vs a bare Textual app's first frame, both from spawn;
- key-to-frame latency (bench/ui_bench.py's, at 10,000 rows) vs a bare app.

Run: .venv/bin/python bench/idle_bench.py [--seconds 60] [--rounds 3] [--only idle,start,keys]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _simproc import cpu_seconds, sim_process  # noqa: E402
from ui_bench import ENV, Pty, run_child  # noqa: E402

# -- children ------------------------------------------------------------------------------------


LIBRARIES = ("pydantic", "httpx", "aiohttp", "httpx_aiohttp")
"""What joytui needs beyond Textual to show data (config and wire models, the client, its
transport): the floor of a cold start with data is a bare app that imports them too."""


def child_bare(report: str, libraries: bool = False) -> None:
    """A bare Textual app (importing :data:`LIBRARIES` first, if ``libraries``): notes when
    its first frame is out."""
    if libraries:
        import importlib

        for name in LIBRARIES:
            importlib.import_module(name)
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Bare(App[None]):
        BINDINGS = [("q", "quit", "quit")]

        def compose(self) -> ComposeResult:
            yield Static("bare")

        def on_mount(self) -> None:
            self.call_after_refresh(
                lambda: Path(report).write_text(json.dumps({"frame": time.time()}))
            )

    Bare().run()


def child_dashboard(config_path: str, report: str) -> None:
    """The dashboard on ``config_path``: notes the first frame after all accounts have data."""
    from joytui.config import load_config
    from joytui.ui.app import JoyTuiApp

    class Timed(JoyTuiApp):
        _done = False
        _first: float | None = None

        def on_mount(self) -> None:
            super().on_mount()

            def first() -> None:
                self._first = time.time()

            self.call_after_refresh(first)

        def _on_session_event(self, event: object) -> None:
            super()._on_session_event(event)  # type: ignore[arg-type]
            states = self.session.accounts
            if (
                not self._done
                and states
                and all(s.updated_at is not None and s.resources for s in states)
            ):
                self._done = True
                self.call_after_refresh(
                    lambda: Path(report).write_text(
                        json.dumps({"frame": time.time(), "first": self._first})
                    )
                )

    Timed(load_config(Path(config_path))).run()


# -- the parent ----------------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu(pid: int) -> float:
    total = 0.0
    for p in tree(pid):
        try:
            total += cpu_seconds(p)
        except OSError:
            pass
    return total


def pump_all(ptys: list[Pty], seconds: float) -> None:
    """Drain every pty for ``seconds`` (a terminal that is not read would block its app)."""
    end = time.time() + seconds
    by_fd = {p.fd: p for p in ptys}
    while (left := end - time.time()) > 0 and by_fd:
        ready, _, _ = select.select(list(by_fd), [], [], left)
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                del by_fd[fd]
                continue
            by_fd[fd].chunks.append((time.time(), len(data)))


def write_config(base_url: str) -> Path:
    from joytui.sim.app import Simulator

    config = Path(tempfile.mktemp(suffix=".toml"))
    text = Simulator().config_toml(base_url)
    assert "refresh_seconds = 5" in text
    config.write_text(text)
    config.chmod(0o600)
    return config


def idle_round(base_url: str, config: Path, seconds: float, warmup: float) -> dict[str, float]:
    """One round: the dashboard, ``joytui demo`` and a bare app idling side by side."""
    report = tempfile.mktemp(suffix=".json")
    procs = {
        "dashboard": Pty([sys.executable, "-m", "joytui", "--config", str(config)], ENV),
        "demo": Pty([sys.executable, "-m", "joytui", "demo"], ENV),
        "bare": Pty([sys.executable, __file__, "--child", "bare", report], ENV),
    }
    try:
        pump_all(list(procs.values()), warmup)  # imports, first polls, first paints
        cpu0 = {k: tree_cpu(p.pid) for k, p in procs.items()}
        t0 = time.time()
        pump_all(list(procs.values()), seconds)
        elapsed = time.time() - t0
        share = {k: (tree_cpu(p.pid) - cpu0[k]) / elapsed * 100 for k, p in procs.items()}
        for k, p in procs.items():
            share[f"{k}_bytes_per_s"] = p.bytes_between(t0, t0 + elapsed) / elapsed
        return share
    finally:
        for p in procs.values():
            p.close()
        Path(report).unlink(missing_ok=True)


def first_frame(argv: list[str], report: str, key: str = "frame") -> float:
    """Seconds from spawn to the frame the child reports (``key``: which of its frames)."""
    Path(report).unlink(missing_ok=True)
    start = time.time()
    proc = Pty(argv, ENV)
    try:
        deadline = start + 60
        while time.time() < deadline:
            proc.pump(0.02)
            if Path(report).exists():
                try:
                    return json.loads(Path(report).read_text())[key] - start
                except ValueError:
                    continue
        return float("nan")
    finally:
        proc.close()
        Path(report).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs="+")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="idle,start,keys")
    args = parser.parse_args()
    if args.child:
        if args.child[0] in ("bare", "libs"):
            child_bare(args.child[1], libraries=args.child[0] == "libs")
        else:
            child_dashboard(args.child[1], args.child[2])
        return
    only = set(args.only.split(","))
    with sim_process("--seed", "1") as (base_url, _sim):
        config = write_config(base_url)
        try:
            if "start" in only:
                report = tempfile.mktemp(suffix=".json")
                ours, first, bare, libs = [], [], [], []
                dash = [sys.executable, __file__, "--child", "dash", str(config), report]
                for _ in range(3):
                    bare.append(
                        first_frame([sys.executable, __file__, "--child", "bare", report], report)
                    )
                    libs.append(
                        first_frame([sys.executable, __file__, "--child", "libs", report], report)
                    )
                    ours.append(first_frame(dash, report))
                    first.append(first_frame(dash, report, key="first"))
                o, b = statistics.median(ours), statistics.median(bare)
                lib, f = statistics.median(libs), statistics.median(first)
                print(
                    f"cold start to first frame with data (4 accounts): {o * 1000:7.0f} ms   "
                    f"bare app's first frame {b * 1000:7.0f} ms   ratio {o / b:.2f}   "
                    f"(target <= 1.5x; median of 3)\n"
                    f"  floor: a bare app importing {', '.join(LIBRARIES)} first "
                    f"{lib * 1000:.0f} ms (ratio {lib / b:.2f}); ours {o / lib:.2f}x that floor\n"
                    f"  our first frame (accounts still opening): {f * 1000:.0f} ms "
                    f"(ratio {f / b:.2f})",
                    flush=True,
                )
            if "keys" in only:
                ours_k = run_child("joytui", 10_000, keys=20)["key_ms"]
                bare_k = run_child("bare", 0, keys=20)["key_ms"]
                print(
                    f"key-to-frame (10,000 rows):   {ours_k:7.2f} ms   bare app {bare_k:7.2f} ms"
                    f"   ratio {ours_k / bare_k:.2f}   (target <= 1.1x; median of 20 keys)",
                    flush=True,
                )
            if "idle" in only:
                rounds = [
                    idle_round(base_url, config, args.seconds, args.warmup)
                    for _ in range(args.rounds)
                ]
                for r in rounds:
                    print(
                        "  round: "
                        + "  ".join(
                            f"{k} {v:.2f}" + ("%" if "bytes" not in k else "") for k, v in r.items()
                        ),
                        flush=True,
                    )
                med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
                print(
                    f"idle CPU, dashboard alone (4 accounts, every 5 s): {med['dashboard']:.2f} % "
                    f"of a core   bare app {med['bare']:.2f} %   "
                    f"ratio {med['dashboard'] / max(med['bare'], 1e-9):.1f}   (target <= 0.5 %)"
                )
                print(
                    f"idle CPU, joytui demo (process tree):             {med['demo']:.2f} % "
                    f"of a core   bare app {med['bare']:.2f} %   "
                    f"ratio {med['demo'] / max(med['bare'], 1e-9):.1f}   (target <= 2 %)"
                )
                print(
                    f"  bytes to the terminal per second: dashboard "
                    f"{med['dashboard_bytes_per_s']:.0f}, demo {med['demo_bytes_per_s']:.0f}, "
                    f"bare {med['bare_bytes_per_s']:.0f}; process CPU time over "
                    f"{args.seconds:.0f} s, median of {args.rounds}"
                )
        finally:
            config.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
