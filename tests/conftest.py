"""Shared fixtures: a real simulator on a free loopback port."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from joytui.sim.base import SimOptions
from joytui.sim.server import SimServer

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


@pytest.fixture
def sim_options() -> SimOptions:
    """Override in a test module to change the simulator's settings (seed, size, speed)."""
    return SimOptions(seed=7, machines=40, speed=1.0, incidents=False)


@pytest.fixture
def sim(sim_options: SimOptions) -> Iterator[SimServer]:
    """A fresh simulator for one test, served over HTTP on 127.0.0.1."""
    with SimServer(sim_options) as server:
        yield server


@pytest.fixture
def sim_http(sim: SimServer) -> Iterator[httpx.Client]:
    """A plain httpx client pointed at the simulator."""
    with httpx.Client(base_url=sim.base_url, timeout=10) as client:
        yield client


def set_faults(client: httpx.Client, **providers: dict) -> dict:
    """Merge fault knobs through the simulator's control endpoint."""
    response = client.post("/__sim__/faults", json=providers)
    response.raise_for_status()
    return response.json()


def advance(client: httpx.Client, seconds: float) -> dict:
    """Jump the simulated clock forward."""
    response = client.post("/__sim__/clock", json={"advance": seconds})
    response.raise_for_status()
    return response.json()
