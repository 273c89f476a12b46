"""A dashboard on a frozen, seeded simulator, with a frozen clock: what snapshot tests need."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from joytui.config import Config
from joytui.sim.base import SimOptions
from joytui.ui.app import JoyTuiApp

FROZEN_EPOCH = 1_795_000_000.0  # 2026-11-18, so dates on screen never move
FROZEN_NOW = FROZEN_EPOCH + 3600


@pytest.fixture
def sim_options() -> SimOptions:
    return SimOptions(seed=7, machines=40, speed=0.0, epoch=FROZEN_EPOCH, incidents=False)


@pytest.fixture
def demo_config(sim) -> Config:
    """The simulator's own config, Joy quirks off so answers are byte-for-byte repeatable."""
    sim.simulator.faults.update({"joy": {"quirk_rate": 0.0}})
    data = sim.simulator.config(sim.base_url)
    data["refresh_seconds"] = 3600  # tests poll with `r`, never by the clock
    return Config.model_validate(data)


def make_app(config: Config, **kwargs) -> JoyTuiApp:
    return JoyTuiApp(config, clock=lambda: FROZEN_NOW, **kwargs)


async def refresh(app: JoyTuiApp, pilot) -> None:
    """Press r and wait until every account has been polled again."""
    assert app.session.poller is not None
    target = app.session.poller.polls + len(app.session.poller.targets)
    await pilot.press("r")
    await settle(app, pilot, target=target)


async def settle(app: JoyTuiApp, pilot, target: int | None = None, limit: float = 15.0) -> None:
    """Wait until every account has been polled once (or ``target`` polls ran in all)."""
    polls = target
    deadline = asyncio.get_running_loop().time() + limit
    while asyncio.get_running_loop().time() < deadline:
        await pilot.pause(0.05)
        states = app.session.store.accounts.values()
        first_round = all(s.updated_at is not None or s.error is not None for s in states)
        if first_round and (
            polls is None or (app.session.poller and app.session.poller.polls >= target)
        ):
            await pilot.pause()
            return
    raise AssertionError("the dashboard never finished polling")


async def set_sim_faults(sim, faults: dict | None) -> None:
    """Turn faults on (a dict of knobs) or off (None) through the simulator's endpoint."""
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        if faults is None:
            (await client.delete("/__sim__/faults")).raise_for_status()
        else:
            (await client.post("/__sim__/faults", json=faults)).raise_for_status()
