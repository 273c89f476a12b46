"""Soak: the dashboard on a fast-living simulator with faults flipping, RSS sampled.

    .venv/bin/python bench/soak.py [--minutes 20] [--machines 2000]

The simulator runs in its own process at ``--speed 20`` (incidents on); the dashboard runs
headless in another, polling every 2 s. Every 30 s the soak flips a fault on one provider
(500s, hangs, truncation, rate limits, dropped streams) or clears them all, and samples the
dashboard's RSS. It prints each sample and, after a warm-up of a quarter of the run, the
least-squares slope in MiB per hour: flat means no leak.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _simproc import sim_process

APP = """
import sys
from pathlib import Path
from joytui.config import parse_config
from joytui.ui.app import JoyTuiApp
config = parse_config(Path(sys.argv[1]).read_text(), Path(sys.argv[1]))
JoyTuiApp(config).run(headless=True, size=(120, 40))
"""

FLIPS = [
    {"joy": {"error_rate": 1.0}},
    {"cockpit": {"hang": True}},
    {"jamsocket": {"truncate_rate": 0.5, "sse_drop_after": 3}},
    {"instances": {"rate_limit": 1.0}},
    {"*": {"latency_ms": 300}},
    None,
]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_r = sum(r for _, r in samples) / n
    num = sum((t - mean_t) * (r - mean_r) for t, r in samples)
    den = sum((t - mean_t) ** 2 for t, _ in samples) or 1.0
    return num / den * 3600


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--machines", type=int, default=2000)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    args = parser.parse_args()
    from joytui.sim.app import Simulator

    with sim_process("--seed", "7", "--speed", "20", "--machines", str(args.machines)) as (
        url,
        _,
    ):
        text = Simulator().config_toml(url).replace("refresh_seconds = 5", "refresh_seconds = 2")
        config = Path(f"/tmp/joytui-soak-{os.getpid()}.toml")
        config.write_text(text)
        config.chmod(0o600)
        env = {**os.environ, "TEXTUAL_ANIMATIONS": "none"}
        app = subprocess.Popen(
            [sys.executable, "-c", APP, str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        samples: list[tuple[float, float]] = []
        start = time.monotonic()
        try:
            flip = 0
            while time.monotonic() - start < args.minutes * 60:
                time.sleep(args.every)
                if app.poll() is not None:
                    raise SystemExit(f"the dashboard exited with {app.returncode}")
                faults = FLIPS[flip % len(FLIPS)]
                flip += 1
                httpx.delete(f"{url}/__sim__/faults")
                if faults is not None:
                    httpx.post(f"{url}/__sim__/faults", json=faults)
                elapsed = time.monotonic() - start
                rss = rss_mib(app.pid)
                samples.append((elapsed, rss))
                print(f"{elapsed:7.0f}s  rss {rss:7.1f} MiB  faults {faults}", flush=True)
        finally:
            app.terminate()
            app.wait(timeout=10)
            config.unlink(missing_ok=True)
    warm = [s for s in samples if s[0] >= args.minutes * 60 / 4]
    first, last = warm[0][1] if warm else 0.0, warm[-1][1] if warm else 0.0
    print(
        f"soak {args.minutes:g} min, {args.machines} machines: RSS after warm-up "
        f"{first:.1f} -> {last:.1f} MiB, slope {slope_per_hour(warm):+.1f} MiB/hour "
        f"(flat: |slope| well under the {first:.0f} MiB held)"
    )


if __name__ == "__main__":
    main()
