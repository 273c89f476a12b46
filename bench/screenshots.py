"""Save SVG screenshots of every screen at 120x40 and 80x24 into screenshots/.

A fixed seed, a frozen simulator clock and a frozen app clock, like the snapshot tests, so the
pictures only change when the product does. Run: .venv/bin/python bench/screenshots.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from joytui.config import Config  # noqa: E402
from joytui.sim.base import SimOptions  # noqa: E402
from joytui.sim.server import SimServer  # noqa: E402
from joytui.ui.app import JoyTuiApp  # noqa: E402

EPOCH = 1_795_000_000.0
SCREENS = {
    "totals": ["1"],
    "all": ["2"],
    "joy": ["3"],
    "hosts": ["4"],
    "vms": ["5"],
    "services": ["6"],
    "backends": ["7"],
    "instances": ["8"],
    "filter": ["slash", *"status:running", "enter"],
    "help": ["question_mark"],
}
LIVE = {
    # On a living simulator, after the detail has polled for a while, so the charts move.
    "detail-machine": (
        ["3", "down", "down", "down", "down", "down", "down", "down", "down", "enter"],
        20.0,
    ),
    "detail-backend": (["7", "down", "down", "down", "enter"], 12.0),
    "logs": (["7", "down", "down", "down", "enter", "l"], 6.0),
}


async def first_poll(app: JoyTuiApp, pilot: object) -> None:
    """Wait until every account has answered (or failed) once."""
    for _ in range(200):
        await pilot.pause(0.05)  # type: ignore[attr-defined]
        if all(s.updated_at or s.error for s in app.session.store.accounts.values()):
            return


async def shoot(config: Config, name: str, keys: list[str], size: tuple[int, int]) -> Path:
    app = JoyTuiApp(config, clock=lambda: EPOCH + 3600)
    async with app.run_test(size=size) as pilot:
        await first_poll(app, pilot)
        await pilot.press(*keys)
        await pilot.pause(0.2)
        path = ROOT / "screenshots" / f"{name}-{size[0]}x{size[1]}.svg"
        app.save_screenshot(filename=path.name, path=str(path.parent))
    return path


async def shoot_live(
    config: Config, name: str, keys: list[str], wait: float, size: tuple[int, int]
) -> Path:
    app = JoyTuiApp(config)
    async with app.run_test(size=size) as pilot:
        await first_poll(app, pilot)
        await pilot.press(*keys)
        await pilot.pause(wait)
        path = ROOT / "screenshots" / f"{name}-{size[0]}x{size[1]}.svg"
        app.save_screenshot(filename=path.name, path=str(path.parent))
    return path


async def main() -> None:
    options = SimOptions(seed=7, machines=40, speed=0.0, epoch=EPOCH, incidents=False)
    with SimServer(options) as sim:
        sim.simulator.faults.update({"joy": {"quirk_rate": 0.0}})
        data = sim.simulator.config(sim.base_url)
        data["refresh_seconds"] = 3600
        config = Config.model_validate(data)
        for size in [(120, 40), (80, 24)]:
            for name, keys in SCREENS.items():
                print(await shoot(config, name, keys, size))
    with SimServer(SimOptions(seed=7, machines=40, speed=5.0, incidents=False)) as sim:
        data = sim.simulator.config(sim.base_url)
        data["refresh_seconds"] = 3600
        data["detail"] = {"poll_seconds": 0.5}
        config = Config.model_validate(data)
        for size in [(120, 40), (80, 24)]:
            for name, (keys, wait) in LIVE.items():
                print(await shoot_live(config, name, keys, wait, size))


if __name__ == "__main__":
    asyncio.run(main())
