"""Fixtures of these tests: the Jamsocket client against the simulated v2 API (a recording transport, a client on the simulator, reads of the simulator's own state)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from joytui.providers.jamsocket import (
    JamsocketClient,
)
from joytui.sim.base import SimOptions
from tests.providers.jamsocket.support import (
    AUTH,
    Recorder,
    build,
)


@pytest.fixture
def sim_options() -> SimOptions:
    # A frozen clock: only advance() moves the fleet, so every status is where a test put it.
    return SimOptions(
        seed=7, speed=0.0, incidents=False, metrics_interval=0.05, keepalive_seconds=0.2
    )


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    yield rec
    await rec.aclose()


@pytest.fixture
async def client(sim, recorder) -> AsyncIterator[JamsocketClient]:
    c = build(sim, recorder)
    yield c
    await c.aclose()


@pytest.fixture
def api(sim):
    with httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=5) as c:
        yield c
