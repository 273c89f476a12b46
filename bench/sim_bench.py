"""Simulator benchmarks (issue: foundation). Prints figures; asserts nothing.

1. Joy machine_list at 10,000 machines: ms per call over HTTP (target < 200 ms).
2. Joy machine_info throughput with 16 concurrent clients (target >= 1,000 requests/s).
3. CPU of the simulator serving 200 open Jamsocket metrics streams (target < 50 % of a core).

Run: .venv/bin/python bench/sim_bench.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _simproc import cpu_seconds, sim_process

from joytui.sim.jamsocket import DEMO_ACCOUNT, DEMO_TOKEN
from joytui.sim.joy import DEMO_KEY
from joytui.sim.joy import DEMO_TOKEN as JOY_TOKEN

JOY_HEADERS = {"x-api-token": JOY_TOKEN, "x-api-key": DEMO_KEY}


def bench_machine_list(base_url: str) -> None:
    with httpx.Client(base_url=base_url, headers=JOY_HEADERS, timeout=30) as client:
        client.post("/api/connect/", json={"type": "machine_list"})  # warm the cache
        times = []
        for _ in range(20):
            start = time.perf_counter()
            r = client.post("/api/connect/", json={"type": "machine_list"})
            r.raise_for_status()
            times.append((time.perf_counter() - start) * 1000)
        size = len(r.content)
    print(
        f"joy machine_list, 10,000 machines: median {statistics.median(times):.1f} ms, "
        f"max {max(times):.1f} ms per call ({size / 1e6:.1f} MB; target < 200 ms)"
    )


async def bench_machine_info(base_url: str, seconds: float = 5.0, workers: int = 16) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers=JOY_HEADERS, timeout=30) as client:
        listing = (await client.post("/api/connect/", json={"type": "machine_list"})).json()
        if isinstance(listing, str):
            import json

            listing = json.loads(listing)
        tokens = [m["ihash"] for m in listing["value"]]
        count = 0
        deadline = time.perf_counter() + seconds

        async def worker(offset: int) -> None:
            nonlocal count
            i = offset
            while time.perf_counter() < deadline:
                body = {"type": "machine_info", "instance_token": tokens[i % len(tokens)]}
                r = await client.post("/api/connect/", json=body)
                r.raise_for_status()
                count += 1
                i += workers

        start = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(workers)))
        elapsed = time.perf_counter() - start
    print(
        f"joy machine_info, {workers} concurrent httpx clients in one Python process: "
        f"{count / elapsed:,.0f} requests/s (bound by the client's CPU, not the simulator)"
    )


async def bench_streams(base_url: str, pid: int, streams: int = 200, seconds: float = 10.0) -> None:
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
    limits = httpx.Limits(max_connections=streams + 10)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=None, limits=limits
    ) as client:
        running = (await client.get(f"/v2/account/{DEMO_ACCOUNT}/backends")).json()
        ids = [b["id"] for b in running["running_backends"]]
        events = 0

        async def reader(backend_id: str) -> None:
            nonlocal events
            async with client.stream("GET", f"/v2/backend/{backend_id}/metrics/stream") as r:
                async for line in r.aiter_lines():
                    if line.startswith("data:"):
                        events += 1

        tasks = [asyncio.create_task(reader(ids[i % len(ids)])) for i in range(streams)]
        await asyncio.sleep(2)  # let every stream open
        cpu0, wall0, events0 = cpu_seconds(pid), time.perf_counter(), events
        await asyncio.sleep(seconds)
        cpu1, wall1, events1 = cpu_seconds(pid), time.perf_counter(), events
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    share = (cpu1 - cpu0) / (wall1 - wall0) * 100
    print(
        f"jamsocket metrics streams: {streams} open, {(events1 - events0) / (wall1 - wall0):,.0f} "
        f"events/s, simulator CPU {share:.1f} % of a core (target < 50 %)"
    )


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-token"] = "%(token)s"
wrk.headers["x-api-key"] = "%(key)s"
tokens = {%(tokens)s}
counter = 0
request = function()
  counter = counter + 1
  local token = tokens[(counter %% #tokens) + 1]
  return wrk.format(nil, "/api/connect/", nil,
    '{"type":"machine_info","instance_token":"' .. token .. '"}')
end
"""


def bench_machine_info_wrk(
    base_url: str, pid: int, connections: int = 16, seconds: int = 5
) -> float | None:
    """The server's own throughput, driven by wrk (C) so the client is not the bottleneck:
    machine_info requests per second (None without wrk). bench/list_bench.py takes it as the
    floor of ``joytui list``."""
    import json
    import re
    import shutil
    import subprocess
    import tempfile

    if shutil.which("wrk") is None:
        print("joy machine_info with wrk: skipped (apt-get install wrk)")
        return None
    with httpx.Client(base_url=base_url, headers=JOY_HEADERS, timeout=30) as client:
        listing = client.post("/api/connect/", json={"type": "machine_list"}).json()
        if isinstance(listing, str):
            listing = json.loads(listing)
    tokens = ",".join(f'"{m["ihash"]}"' for m in listing["value"][:2000])
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"token": JOY_TOKEN, "key": DEMO_KEY, "tokens": tokens})
    cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script.name, base_url],
        capture_output=True,
        text=True,
    )
    share = (cpu_seconds(pid) - cpu0) / (time.perf_counter() - wall0) * 100
    Path(script.name).unlink()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    print(
        f"joy machine_info, {connections} concurrent connections (wrk): "
        f"{float(rate.group(1)) if rate else float('nan'):,.0f} requests/s, simulator CPU "
        f"{share:.0f} % of a core, non-2xx {errors.group(1) if errors else 0} (target >= 1,000)"
    )
    return float(rate.group(1)) if rate else None


def main() -> None:
    with sim_process("--machines", "10000", "--seed", "1", "--no-incidents") as (url, proc):
        bench_machine_list(url)
        bench_machine_info_wrk(url, proc.pid)
        asyncio.run(bench_machine_info(url))
    with sim_process("--seed", "1", "--no-incidents") as (url, proc):
        asyncio.run(bench_streams(url, proc.pid))


if __name__ == "__main__":
    main()
