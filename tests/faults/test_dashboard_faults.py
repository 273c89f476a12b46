"""The fault matrix in the dashboard: a fault shows as the account's error (its rows kept,
marked stale), nothing crashes, nothing hostile reaches the terminal, and the account
recovers by itself once the fault clears."""

from __future__ import annotations

import pytest

from joytui.config import Config
from joytui.core.store import Health
from joytui.ui.app import JoyTuiApp
from joytui.ui.widgets.resource_table import ResourceTable
from tests.faults.conftest import CONTROL, SECRETS, config_data
from tests.ui.conftest import refresh, set_sim_faults, settle

FAULTS = [
    ("joy", {"error_rate": 1.0}),
    ("cockpit", {"status_code": 503, "status_rate": 1.0}),
    ("jamsocket", {"truncate_rate": 1.0}),
    ("instances", {"hang": True}),
    ("joy", {"nested_rate": 1.0}),
    ("cockpit", {"auth_fail": True}),
    ("instances", {"redirect_rate": 1.0}),
]


def _screen_text(app: JoyTuiApp) -> str:
    return app.export_screenshot()


def _drawn(table: ResourceTable) -> str:
    return "\n".join(
        "".join(seg.text for seg in table.render_line(y)) for y in range(table.size.height)
    )


def _app(sim, **changes) -> JoyTuiApp:
    data = config_data(sim, refresh_seconds=3600, **changes)
    return JoyTuiApp(Config.model_validate(data), clock=lambda: 1_800_000_000.0)


@pytest.mark.parametrize("provider,faults", FAULTS, ids=[f"{p}-{next(iter(f))}" for p, f in FAULTS])
async def test_fault_in_the_dashboard_then_recovery(sim, provider, faults):
    app = _app(sim)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one(ResourceTable)
        key = (provider, f"sim-{provider}")
        rows_before = [k for k in table.ordered_keys() if k[:2] == key]
        assert rows_before
        await set_sim_faults(sim, {provider: faults})
        await refresh(app, pilot)
        state = app.session.store.accounts[key]
        assert state.error is not None and state.health in (Health.DEGRADED, Health.DOWN)
        assert [k for k in table.ordered_keys() if k[:2] == key] == rows_before  # kept
        drawn = _drawn(table)
        assert "~" in drawn  # marked stale
        bar = "".join(s.text for s in app.console.render(app.screen.query_one("#accounts").content))
        assert f"sim-{provider}" in bar and "—" in bar  # the problem in words
        for secret in SECRETS:
            assert secret not in bar and secret not in drawn
        await set_sim_faults(sim, None)  # all clear
        await refresh(app, pilot)
        assert app.session.store.accounts[key].health is Health.OK
        assert "~" not in _drawn(table)


async def test_markup_in_an_account_name_never_crashes(sim):
    data = config_data(sim, refresh_seconds=3600)
    data["instances"][0]["name"] = "bots[/red]"
    app = JoyTuiApp(Config.model_validate(data), clock=lambda: 1_800_000_000.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("1")
        await pilot.pause()
        await pilot.press("8")
        await pilot.pause()
        assert app.is_running
        assert "bots[/red]" in _screen_text(app).replace("&#160;", " ")


async def test_hostile_names_are_drawn_visibly(sim):
    await set_sim_faults(
        sim, {"instances": {"hostile_names": True}, "cockpit": {"hostile_names": True}}
    )
    app = _app(sim)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one(ResourceTable)
        for view in ("8", "5", "2"):
            await pilot.press(view)
            await pilot.pause()
            drawn = _drawn(table)
            assert not (CONTROL & set(drawn)), "a control character reached the terminal"
        await pilot.press("8")
        await pilot.pause()
        assert "\\x1b" in _drawn(table)
