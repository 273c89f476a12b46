"""Snapshots of every screen at 80x24 and 120x40: fixed seed, frozen sim and app clocks.

Regenerate after a deliberate change with ``pytest tests/ui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.ui.conftest import make_app, settle

SCREENS = {
    "totals": ["1"],
    "all": ["2"],
    "joy": ["3"],
    "hosts": ["4"],
    "vms": ["5"],
    "services": ["6"],
    "backends": ["7"],
    "instances": ["8"],
    "help": ["question_mark"],
    "filter": ["slash", *"status:running"],
    "detail-machine": ["3", "down", "enter"],
    "detail-host": ["4", "enter"],
    "detail-vm": ["5", "enter"],
    "detail-service": ["6", "enter"],
    "detail-backend": ["7", "down", "down", "down", "enter"],
    "detail-instance": ["8", "enter"],
}


def freeze_latency(app) -> None:
    """Poll latency is measured, not simulated: a frame with a fixed clock shows a fixed one."""
    for state in app.session.store.accounts.values():
        if state.latency_ms is not None:
            state.latency_ms = 42.0


async def _detail_settled(app, pilot) -> None:
    """Wait until what the detail frame shows has arrived: its first poll, its streams
    connected, a service's images; then one redraw of it all."""
    from joytui.ui.widgets.detail_pane import DetailPane

    panes = list(app.screen.query(DetailPane))
    pane = next((p for p in panes if p.resource is not None), None)
    if pane is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15

    def ready() -> bool:
        watch = pane.watch
        if watch is None:
            return False
        polled = watch.polls >= 1 or not watch.offers_metrics or watch.streams
        streams = all(i.state in ("live", "ended") for i in watch.streams.values())
        related = pane.resource.kind != "service" or "images" in pane.related
        return bool(polled and streams and related)

    while not ready():
        assert loop.time() < deadline, "the detail never settled"
        await pilot.pause(0.05)
    pane._redraw()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare, demo_config, screen, size):
    app = make_app(demo_config)

    async def run_before(pilot) -> None:
        await settle(app, pilot)
        freeze_latency(app)
        await pilot.press(*SCREENS[screen])
        await pilot.pause()
        if screen.startswith("detail"):
            await _detail_settled(app, pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_overview_with_an_account_down_and_an_instance_in_error(snap_compare, sim, size):
    from joytui.config import Config
    from tests.ui.conftest import set_sim_faults

    async def refresh(app, pilot) -> None:
        # As r does, without its toast, which would cover the frame.
        target = app.session.poller.polls + len(app.session.poller.targets)
        app.session.refresh_now()
        await settle(app, pilot, target=target)

    sim.simulator.faults.update({"joy": {"quirk_rate": 0.0}})
    data = sim.simulator.config(sim.base_url)
    data["refresh_seconds"] = 3600
    data["alerts"] = {"notify": False, "bell": False}  # toasts would cover the frame
    app = make_app(Config.model_validate(data))

    async def run_before(pilot) -> None:
        await settle(app, pilot)
        instances = app.session.store.accounts[("instances", "sim-instances")].resources
        running = sorted(k[3] for k, r in instances.items() if r.status.value == "running")
        async with __import__("httpx").AsyncClient(base_url=sim.base_url) as http:
            (await http.post(f"/__sim__/instances/fail/{running[0]}")).raise_for_status()
        await refresh(app, pilot)
        await set_sim_faults(sim, {"joy": {"error_rate": 1.0}})
        for _ in range(3):  # down after three failed polls in a row
            await refresh(app, pilot)
        freeze_latency(app)
        await pilot.press("1")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
