"""Actions against a real, frozen simulator: the audit log in a temporary state dir, the
simulator's own write counter (``/__sim__/`` ``writes``) to count what was sent."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from joytui.config import Config
from joytui.core.session import Session
from joytui.sim.base import SimOptions
from tests.ui.conftest import FROZEN_EPOCH


@pytest.fixture(autouse=True)
def audit_file(tmp_path, monkeypatch) -> Path:
    """Every test's audit log goes to its own state dir (platformdirs reads XDG_STATE_HOME)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("JOYTUI_AUDIT_LOG", raising=False)
    return tmp_path / "state" / "joytui" / "audit.jsonl"


@pytest.fixture
def sim_options() -> SimOptions:
    # Frozen: nothing settles until a test moves the clock (advance()).
    return SimOptions(seed=7, machines=40, speed=0.0, epoch=FROZEN_EPOCH, incidents=False)


@pytest.fixture
def config_data(sim) -> dict:
    sim.simulator.faults.update({"joy": {"quirk_rate": 0.0}})
    data = sim.simulator.config(sim.base_url)
    data["refresh_seconds"] = 3600  # polls come when a test (or an action) asks
    return data


@pytest.fixture
def config(config_data) -> Config:
    return Config.model_validate(config_data)


@pytest.fixture
async def session(config):
    """A session with every account polled once (no poll loop running)."""
    s = Session(config)
    await s.poll_all_once()
    yield s
    await s.aclose()


def writes(sim) -> dict[str, int]:
    """What the simulator has counted of state-changing requests (its /__sim__/ summary)."""
    return httpx.get(f"{sim.base_url}/__sim__/").json()["writes"]


def writes_to(sim, resource_id: str) -> int:
    """State-changing requests that named ``resource_id``."""
    return sum(n for key, n in writes(sim).items() if resource_id in key)


async def advance(sim, seconds: float) -> None:
    """Move the simulated clock on, so transitions settle."""
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        (await client.post("/__sim__/clock", json={"advance": seconds})).raise_for_status()


async def set_faults(sim, faults: dict | None) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        if faults is None:
            (await client.delete("/__sim__/faults")).raise_for_status()
        else:
            (await client.post("/__sim__/faults", json=faults)).raise_for_status()


def audit_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def sim_joy(sim):
    return sim.simulator.providers["joy"]


def pick(session: Session, **fields):
    """The first resource (in store order) whose fields match."""
    for r in session.store.resources():
        if all(getattr(r, k) == v for k, v in fields.items()):
            return r
    raise AssertionError(f"no resource with {fields}")
