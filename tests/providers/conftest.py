"""A simulator shared by the tests of one module that change nothing in it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from joytui.sim.base import SimOptions
from joytui.sim.server import SimServer


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[SimServer]:
    """One simulator for the module; its clock is frozen (speed 0) so nothing moves between
    a read and the check of it."""
    with SimServer(SimOptions(seed=7, machines=40, speed=0.0, incidents=False)) as server:
        yield server


@pytest.fixture
def shared(shared_sim: SimServer) -> Iterator[SimServer]:
    """The shared simulator, its faults cleared after each test."""
    yield shared_sim
    httpx.delete(f"{shared_sim.base_url}/__sim__/faults").raise_for_status()


@pytest.fixture
def shared_http(shared: SimServer) -> Iterator[httpx.Client]:
    """A plain httpx client on the shared simulator."""
    with httpx.Client(base_url=shared.base_url, timeout=10) as client:
        yield client
