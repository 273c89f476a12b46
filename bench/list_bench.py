"""Headless and core benchmarks (issue: clients, core and headless commands). Prints figures.

1. `joytui list --format json` against the simulator with 10,000 Joy machines: wall time and
   peak RSS, every machine_info included (target under 5 s and 150 MiB).
2. Requests per second the poller sustains against the simulator, four accounts polling as
   fast as they can through the real clients.

Run: .venv/bin/python bench/list_bench.py
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _simproc import sim_process  # noqa: E402

from joytui.config import Config, parse_config, resolve_account_secrets  # noqa: E402
from joytui.core.poller import Poller, PollTarget  # noqa: E402
from joytui.core.store import Store  # noqa: E402
from joytui.providers import make_client  # noqa: E402
from joytui.sim.app import Simulator  # noqa: E402


def write_config(base_url: str) -> Path:
    path = Path(tempfile.mktemp(suffix=".toml"))
    path.write_text(Simulator().config_toml(base_url))
    path.chmod(0o600)
    return path


def bench_list(machines: int = 10_000) -> None:
    with sim_process("--machines", str(machines), "--seed", "1", "--no-incidents") as (url, _):
        config = write_config(url)
        try:
            start = time.perf_counter()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "joytui",
                    "list",
                    "--format",
                    "json",
                    "--config",
                    str(config),
                ],
                capture_output=True,
                text=True,
            )
            elapsed = time.perf_counter() - start
        finally:
            config.unlink(missing_ok=True)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows = json.loads(done.stdout) if done.returncode == 0 else []
    joy = sum(1 for r in rows if r["provider"] == "joy")
    unknown = sum(1 for r in rows if r["provider"] == "joy" and r["status"] == "unknown")
    print(
        f"joytui list --format json, {machines:,} Joy machines: {elapsed:.2f} s, peak RSS "
        f"{rss:.0f} MiB, {len(rows):,} rows ({joy:,} Joy, {unknown} without status), exit "
        f"{done.returncode} (targets: < 5 s, < 150 MiB)"
    )
    if done.returncode != 0:
        print(done.stderr.strip()[:500])


async def bench_poller(seconds: float = 5.0) -> None:
    with sim_process("--seed", "1", "--no-incidents") as (url, _):
        text = Simulator().config_toml(url)
        config: Config = parse_config(text, Path("bench.toml"))
        requests = 0

        async def count(_request: object) -> None:
            nonlocal requests
            requests += 1

        clients = []
        targets = []
        for provider, account in config.accounts():
            client = make_client(provider, account, resolve_account_secrets(provider, account))
            client.http.event_hooks["request"].append(count)
            clients.append(client)
            targets.append(PollTarget(provider, account.name, 0.0, client.snapshot))
        store = Store()
        poller = Poller(store, targets, max_concurrent=4)
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(1.0)  # warm up: logins, first polls
        r0, p0, t0 = requests, poller.polls, time.perf_counter()
        await asyncio.sleep(seconds)
        r1, p1, t1 = requests, poller.polls, time.perf_counter()
        poller.stop()
        await task
        for client in clients:
            await client.aclose()
    print(
        f"poller, 4 accounts polling back to back: {(r1 - r0) / (t1 - t0):,.0f} requests/s, "
        f"{(p1 - p0) / (t1 - t0):,.1f} polls/s"
    )


if __name__ == "__main__":
    bench_list()
    asyncio.run(bench_poller())
