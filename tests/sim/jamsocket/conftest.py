"""Fixtures of these tests: the Jamsocket simulator over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from joytui.sim.base import SimOptions
from tests.sim.jamsocket.support import (
    AUTH,
)


@pytest.fixture
def sim_options() -> SimOptions:
    return SimOptions(
        seed=7, speed=1.0, incidents=False, metrics_interval=0.05, keepalive_seconds=0.2
    )


@pytest.fixture
def api(sim):
    """A client that sends the demo token."""
    with httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=5) as client:
        yield client


# -- helpers ----------------------------------------------------------------------------------
