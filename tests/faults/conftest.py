"""The fault matrix's bed: one simulator per module, faults cleared after every case, and a
config whose timeouts are short so a hanging server costs a second, not ten."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from joytui.config import Config
from joytui.headless import cmd_list, cmd_totals
from joytui.sim.base import SimOptions
from joytui.sim.cockpit import DEMO_PASSWORD
from joytui.sim.instances import DEMO_API_KEY
from joytui.sim.jamsocket import DEMO_TOKEN as JAMSOCKET_TOKEN
from joytui.sim.joy import DEMO_KEY, DEMO_TOKEN
from joytui.sim.server import SimServer

SECRETS = (DEMO_PASSWORD, DEMO_API_KEY, JAMSOCKET_TOKEN, DEMO_KEY, DEMO_TOKEN)
PROVIDERS = ("joy", "cockpit", "jamsocket", "instances")
CONTROL = {chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]} - {"\n"}
"""Characters that must never reach a terminal (a newline ends a line of our own)."""


@pytest.fixture(scope="module")
def fault_sim() -> Iterator[SimServer]:
    with SimServer(SimOptions(seed=7, machines=40, speed=0.0, incidents=False)) as server:
        yield server


@pytest.fixture
def sim(fault_sim: SimServer) -> Iterator[SimServer]:
    yield fault_sim
    httpx.delete(f"{fault_sim.base_url}/__sim__/faults").raise_for_status()


def config_data(sim: SimServer, timeout: float = 1.0, **changes: Any) -> dict[str, Any]:
    data = sim.simulator.config(sim.base_url)
    for provider in PROVIDERS:
        for account in data[provider]:
            account["timeout_seconds"] = timeout
    data.update(changes)
    return data


def make_config(sim: SimServer, **changes: Any) -> Config:
    return Config.model_validate(config_data(sim, **changes))


def set_faults(sim: SimServer, faults: dict[str, dict[str, Any]]) -> None:
    httpx.post(f"{sim.base_url}/__sim__/faults", json=faults).raise_for_status()


def run_headless(config: Config, command: str = "list", fmt: str = "table") -> tuple[int, str, str]:
    """``joytui list``/``totals`` in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    if command == "list":
        status = cmd_list(config, fmt=fmt, out=out, err=err)
    else:
        status = cmd_totals(config, fmt=fmt, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def assert_clean(*texts: str) -> None:
    """No secret and no control character in anything we printed."""
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, "a secret was printed"
        bad = CONTROL & set(text)
        assert not bad, f"control characters reached the output: {sorted(map(ord, bad))}"
