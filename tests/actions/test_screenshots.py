"""Screenshots of the action menu, a destructive confirmation and marked rows, as
bench/screenshots.py makes the others: a fixed seed, a frozen simulator and app clock.

The test makes them in a temporary dir and checks what they show; to refresh the ones in
screenshots/: ``.venv/bin/python -m tests.actions.test_screenshots``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from joytui.config import Config
from joytui.sim.base import SimOptions
from joytui.sim.server import SimServer
from joytui.ui.app import JoyTuiApp
from joytui.ui.screens.actions import ActionMenu, ConfirmAction
from joytui.ui.widgets.resource_table import ResourceTable

ROOT = Path(__file__).resolve().parents[2]
EPOCH = 1_795_000_000.0
SIZES = [(120, 40), (80, 24)]


async def _wait(pilot, predicate) -> None:
    for _ in range(200):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("the screen never got there")


async def shoot(config: Config, size: tuple[int, int], out: Path) -> list[Path]:
    """Menu, destructive confirmation and marked rows of one size, saved in ``out``."""
    app = JoyTuiApp(config, clock=lambda: EPOCH + 3600)
    saved = []
    async with app.run_test(size=size) as pilot:
        await _wait(
            pilot, lambda: all(s.updated_at or s.error for s in app.session.store.accounts.values())
        )
        problems = [str(s.error) for s in app.session.store.accounts.values() if s.error]
        assert not problems, problems
        await pilot.press("3")
        table = app.query_one(ResourceTable)
        keys = table.ordered_keys()
        running = next(
            i for i, k in enumerate(keys) if app.session.store.get(k).raw_status == "running"
        )
        table.action_cursor(running - table.cursor_row)
        await pilot.press("a")
        await _wait(pilot, lambda: isinstance(app.screen, ActionMenu))
        await pilot.pause(0.2)
        saved.append(_save(app, out, "menu", size))
        key = next(k for k, o in app.screen.keys.items() if o.action.id == "force_shutdown")
        await pilot.press(key)
        await _wait(pilot, lambda: isinstance(app.screen, ConfirmAction))
        await pilot.press(*"db")  # half the name typed: the button stays off
        await pilot.pause(0.2)
        saved.append(_save(app, out, "destructive", size))
        await pilot.press("escape")
        await _wait(pilot, lambda: not isinstance(app.screen, ConfirmAction))
        await pilot.press("space", "down", "space", "down", "space")
        await pilot.pause(0.2)
        saved.append(_save(app, out, "marked", size))
    return saved


def _save(app: JoyTuiApp, out: Path, name: str, size: tuple[int, int]) -> Path:
    path = out / f"actions-{name}-{size[0]}x{size[1]}.svg"
    app.save_screenshot(filename=path.name, path=str(out))
    return path


async def make_all(out: Path) -> list[Path]:
    options = SimOptions(seed=7, machines=40, speed=0.0, epoch=EPOCH, incidents=False)
    with SimServer(options) as sim:
        sim.simulator.faults.update({"joy": {"quirk_rate": 0.0}})
        data = sim.simulator.config(sim.base_url)
        data["refresh_seconds"] = 3600
        config = Config.model_validate(data)
        return [p for size in SIZES for p in await shoot(config, size, out)]


def test_the_action_screenshots(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    paths = asyncio.run(make_all(tmp_path))
    assert [p.name for p in paths] == [
        f"actions-{n}-{w}x{h}.svg" for w, h in SIZES for n in ("menu", "destructive", "marked")
    ]
    text = {p.name: p.read_text() for p in paths}
    for w, h in SIZES:
        assert "Force&#160;shutdown" in text[f"actions-menu-{w}x{h}.svg"]
        assert "pulling&#160;the&#160;power&#160;cord" in text[f"actions-destructive-{w}x{h}.svg"]
        assert text[f"actions-marked-{w}x{h}.svg"].count("◆") == 3


if __name__ == "__main__":
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp()  # nothing is sent, but never the real log
    for path in asyncio.run(make_all(ROOT / "screenshots")):
        print(path.relative_to(ROOT))
