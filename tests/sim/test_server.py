"""Serving the simulator: an idle server wakes once a second, and still stops at once."""

from __future__ import annotations

import time

import httpx

from joytui.sim.base import SimOptions
from joytui.sim.server import IdleServer, SimServer


def test_idle_server_ticks_once_a_second_and_stops_at_once():
    server = SimServer(SimOptions(seed=3, machines=5))
    assert isinstance(server._server, IdleServer)
    ticks: list[int] = []
    on_tick = server._server.on_tick

    async def counted(counter: int) -> bool:
        ticks.append(counter)
        return await on_tick(counter)

    server._server.on_tick = counted
    server.start()
    try:
        with httpx.Client(base_url=server.base_url) as client:
            first = client.get("/__sim__/clock").headers["date"]
            time.sleep(2.2)
            second = client.get("/__sim__/clock").headers["date"]
    finally:
        stopping = time.monotonic()
        server.stop()
    assert time.monotonic() - stopping < 0.6  # woken by should_exit, not by the next tick
    assert 2 <= len(ticks) <= 5  # uvicorn's own loop would have ticked about 22 times
    assert all(t % 10 == 0 for t in ticks)  # so each tick refreshes the Date header
    assert first != second
