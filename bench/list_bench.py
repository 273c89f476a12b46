"""Headless and client benchmarks (issues: clients, core and headless; a faster HTTP transport
and WAN-sized concurrency). Prints figures, each beside its floor from the same run and the
ratio to it; asserts nothing.

1. ``joytui list --format json`` of 10,000 Joy machines, the simulator in its own process:
   wall time (target <= 3 s). Floor: the simulator's own cost, one machine_list plus 10,000
   machine_info at the rate wrk gets from it (bench/sim_bench.py).
2. The same with ``--faults joy.latency_ms=20`` (target <= 5 s), at the default
   ``max_concurrency`` (64), at 32 and at 128. Floor: also 10,000 x 20 ms / max_concurrency, the
   least any client keeping that many requests in flight can take (Little's law).
3. Client CPU per machine_info (``JoyClient.machine_info``, 32 in flight; target <= 0.3 ms):
   the client as it is, and the same client forced through httpx (httpx-aiohttp's transport,
   what an event hook makes it do). Floor: bare aiohttp posting the same request in the same
   process.
4. Peak RSS of that ``list`` (target <= 100 MiB). Floor: the interpreter with the modules
   ``list`` imports, before any data.
5. The dashboard's catch-up: polls (back to back) until no machine's status is unknown, at
   10,000 machines. Floor: one poll.
6. Requests per second the poller sustains, four accounts polling as fast as they can.

``--src DIR`` runs another source tree's joytui (an export of an older commit, for a
before/after table) for 1-5; the simulator is always this tree's. ``--only list,cpu,...``
picks parts (list, latency, cpu, catchup, poller).

Run: .venv/bin/python bench/list_bench.py [--src DIR] [--only PARTS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _simproc import sim_process  # noqa: E402
from sim_bench import JOY_HEADERS, bench_machine_info_wrk  # noqa: E402

MACHINES = 10_000
LIST_MODULES = "import joytui.cli, joytui.headless, joytui.providers.joy"


def ratio(value: float, floor: float | None) -> str:
    """``value`` as a multiple of ``floor``."""
    return f"{value / floor:.2f}x floor" if floor else "no floor"


def env_for(src: Path | None) -> dict[str, str]:
    """The environment that makes ``python`` import joytui from ``src`` (None: this tree)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str, str, int]:
    """Run ``cmd``; (seconds, its own peak RSS in MiB, stdout, stderr, exit status).

    The peak comes from GNU time when there is one: a child forked from this (bigger)
    process would report this process's RSS as its own peak (Linux keeps the high-water mark
    of the image it replaced at exec).
    """
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
            wrapped = [gnu_time, "-f", "%M", "-o", rss_file.name, *cmd] if gnu_time else cmd
            start = time.perf_counter()
            # Not from this tree: python -m puts the working directory first on sys.path.
            where = tempfile.gettempdir()
            proc = subprocess.Popen(wrapped, stdout=out, stderr=err, env=env, cwd=where)
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            lines = rss_file.read().split()
            kib = float(lines[-1]) if gnu_time and lines else usage.ru_maxrss
        out.seek(0)
        err.seek(0)
        return elapsed, kib / 1024, out.read().decode(), err.read().decode(), proc.returncode


def write_config(base_url: str, max_concurrency: int | None = None) -> Path:
    """The simulator's config, optionally with ``max_concurrency`` on every account."""
    from joytui.sim.app import Simulator

    text = Simulator().config_toml(base_url)
    if max_concurrency is not None:
        text = re.sub(r"(?m)^(base_url = .*)$", rf"\1\nmax_concurrency = {max_concurrency}", text)
    path = Path(tempfile.mktemp(suffix=".toml"))
    path.write_text(text)
    path.chmod(0o600)
    return path


def machine_list_seconds(base_url: str) -> float:
    """One machine_list over HTTP, warm (part of the simulator's floor)."""
    import httpx

    with httpx.Client(base_url=base_url, headers=JOY_HEADERS, timeout=30) as client:
        client.post("/api/connect/", json={"type": "machine_list"})
        start = time.perf_counter()
        client.post("/api/connect/", json={"type": "machine_list"}).raise_for_status()
        return time.perf_counter() - start


def sim_floor(base_url: str, pid: int, connections: int = 32) -> float | None:
    """Seconds the simulator itself needs for a list: machine_list + 10,000 machine_info with
    ``connections`` in flight (at wrk's rate)."""
    rate = bench_machine_info_wrk(base_url, pid, connections=connections, seconds=3)
    time.sleep(1.0)  # let the simulator settle before what is measured against it
    return machine_list_seconds(base_url) + MACHINES / rate if rate else None


def list_once(
    base_url: str, src: Path | None, floor: float | None, label: str, **config: int
) -> None:
    path = write_config(base_url, **config)
    try:
        cmd = [sys.executable, "-m", "joytui", "list", "--format", "json", "--config", str(path)]
        elapsed, rss, out, err, status = run_measured(cmd, env_for(src))
    finally:
        path.unlink(missing_ok=True)
    rows = json.loads(out) if status == 0 else []
    joy = [r for r in rows if r["provider"] == "joy"]
    unknown = sum(1 for r in joy if r["status"] == "unknown")
    print(
        f"{label}: {elapsed:.2f} s ({ratio(elapsed, floor)}, floor {floor or 0:.2f} s), peak RSS "
        f"{rss:.0f} MiB, {len(rows):,} rows ({len(joy):,} Joy, {unknown} without status), exit "
        f"{status}"
    )
    if status != 0:
        print("  " + err.strip()[:500])


def rss_floor(src: Path | None) -> float:
    """Peak RSS of the interpreter with the modules ``list`` imports."""
    _, rss, *_ = run_measured([sys.executable, "-c", LIST_MODULES], env_for(src))
    return rss


def bench_list(src: Path | None, parts: set[str]) -> None:
    sim_args = ("--machines", str(MACHINES), "--seed", "1", "--no-incidents")
    if "list" in parts:
        with sim_process(*sim_args) as (url, proc):
            floor = sim_floor(url, proc.pid)
            list_once(url, src, floor, f"joytui list --format json, {MACHINES:,} Joy machines")
        floor_rss = rss_floor(src)
        print(f"  RSS floor (the modules list imports): {floor_rss:.0f} MiB")
    if "latency" in parts:
        import joytui.config

        default_width = getattr(joytui.config, "DEFAULT_MAX_CONCURRENCY", 32)  # older trees: 32
        with sim_process(*sim_args, "--faults", "joy.latency_ms=20") as (url, proc):
            for concurrency in (None, 32, 128) if src is None else (None,):
                width = concurrency or default_width
                floor = max(sim_floor(url, proc.pid, width) or 0.0, MACHINES * 0.020 / width)
                label = f"  the same, joy.latency_ms=20, max_concurrency {width}"
                if src is not None:  # an older tree has its own idea of concurrency
                    label = "  the same, joy.latency_ms=20, the tree's own concurrency"
                extra = {} if concurrency is None else {"max_concurrency": concurrency}
                list_once(url, src, floor, label, **extra)


# -- client CPU per machine_info ------------------------------------------------------------------


async def client_cpu(base_url: str, mode: str, calls: int = 6000, width: int = 32) -> float:
    """CPU milliseconds per machine_info of ``mode``: joy (the client as it is), joy-httpx (the
    client through httpx, as with an event hook), aiohttp (bare aiohttp: the floor)."""
    from pydantic import SecretStr

    from joytui.config import JoyAccount
    from joytui.providers.joy import JoyClient
    from joytui.sim.joy import DEMO_KEY, DEMO_TOKEN

    account = JoyAccount(name="bench", base_url=base_url, api_token="t", api_key="k")
    secrets = {"api_token": SecretStr(DEMO_TOKEN), "api_key": SecretStr(DEMO_KEY)}
    client = JoyClient(account, secrets)
    ids = [m.ihash for m in await client.machine_list()]
    session = None
    if mode == "joy-httpx":

        async def hook(_request: object) -> None:
            pass

        client.http.event_hooks["request"].append(hook)
    if mode == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(base_url, headers=JOY_HEADERS)

        async def call(ihash: str) -> None:
            body = {"type": "machine_info", "instance_token": ihash}
            async with session.post("/api/connect/", json=body) as answer:
                await answer.read()
    else:
        call = client.machine_info  # type: ignore[assignment]

    async def run(n: int) -> float:
        todo = iter(range(n))

        async def worker() -> None:
            for i in todo:
                await call(ids[i % len(ids)])

        cpu = time.process_time()
        await asyncio.gather(*(worker() for _ in range(width)))
        return (time.process_time() - cpu) / n * 1000

    await run(500)  # warm up: connections, caches
    per_call = await run(calls)
    await client.aclose()
    if session is not None:
        await session.close()
    return per_call


def cpu_in(src: Path | None, base_url: str, mode: str) -> float:
    """:func:`client_cpu` in a fresh process importing joytui from ``src``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--client-cpu", base_url, mode]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env_for(src))
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip()[-500:])
    return float(done.stdout.strip().splitlines()[-1])


def bench_cpu(src: Path | None) -> None:
    with sim_process("--machines", str(MACHINES), "--seed", "1", "--no-incidents") as (url, _):
        floor = cpu_in(None, url, "aiohttp")
        modes = ("joy", "joy-httpx") if src is None else ("joy",)
        for mode in modes:
            cpu = cpu_in(src, url, mode)
            how = "as it is" if mode == "joy" else "through httpx (httpx-aiohttp transport)"
            print(
                f"client CPU per machine_info, {how}: {cpu:.3f} ms ({ratio(cpu, floor)}, "
                f"floor {floor:.3f} ms: bare aiohttp)"
            )


# -- the dashboard's catch-up --------------------------------------------------------------------


async def catch_up(base_url: str, most: int = 120) -> tuple[int, float, int]:
    """Polls back to back (the first 40 rows visible) until no status is unknown: (polls,
    seconds, machine_info calls)."""
    from pydantic import SecretStr

    from joytui.config import JoyAccount
    from joytui.model import PollHints, Status
    from joytui.providers.joy import JoyClient
    from joytui.sim.joy import DEMO_KEY, DEMO_TOKEN

    account = JoyAccount(name="bench", base_url=base_url, api_token="t", api_key="k")
    secrets = {"api_token": SecretStr(DEMO_TOKEN), "api_key": SecretStr(DEMO_KEY)}
    async with JoyClient(account, secrets) as client:
        calls = 0
        machine_info = client.machine_info

        async def counted(ihash: str) -> Any:
            nonlocal calls
            calls += 1
            return await machine_info(ihash)

        visible: tuple[str, ...] = ()
        start = time.perf_counter()
        for polls in range(1, most + 1):
            if polls == 2:  # count from the second poll: the first is the same either way
                # Not an event hook: that would send through httpx, slower than the client is.
                client.machine_info = counted  # type: ignore[method-assign]
            snap = await client.snapshot(PollHints(priority_ids=visible))
            visible = tuple(r.id for r in snap.resources[:40])
            if all(r.status is not Status.UNKNOWN for r in snap.resources):
                break
        return polls, time.perf_counter() - start, calls


def bench_catch_up(src: Path | None) -> None:
    with sim_process("--machines", str(MACHINES), "--seed", "1", "--no-incidents") as (url, _):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--catch-up", url]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env_for(src))
    if done.returncode != 0:
        print("catch-up: failed: " + done.stderr.strip()[-300:])
        return
    polls, seconds, calls = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"dashboard catch-up, {MACHINES:,} machines: no status unknown after {polls} polls "
        f"({ratio(polls, 1)}, floor 1 poll; {seconds:.1f} s of polling back to back, "
        f"{calls:,} machine_info after the first poll)"
    )


# -- the poller ----------------------------------------------------------------------------------


async def bench_poller(seconds: float = 5.0) -> None:
    from joytui.config import Config, parse_config, resolve_account_secrets
    from joytui.core.poller import Poller, PollTarget
    from joytui.core.store import Store
    from joytui.providers import make_client
    from joytui.sim.app import Simulator

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
        f"{(p1 - p0) / (t1 - t0):,.1f} polls/s (through httpx: the request counter is a hook)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, help="import joytui from this source tree")
    parser.add_argument("--only", default="list,latency,cpu,catchup,poller")
    parser.add_argument("--client-cpu", nargs=2, metavar=("URL", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--catch-up", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_cpu:
        print(asyncio.run(client_cpu(*args.client_cpu)))
        return
    if args.catch_up:
        print(json.dumps(asyncio.run(catch_up(args.catch_up))))
        return
    src = args.src.resolve() if args.src else None
    parts = set(args.only.split(","))
    if src is not None:
        print(f"joytui from {src}")
    bench_list(src, parts)
    if "cpu" in parts:
        bench_cpu(src)
    if "catchup" in parts:
        bench_catch_up(src)
    if "poller" in parts and src is None:
        asyncio.run(bench_poller())


if __name__ == "__main__":
    main()
