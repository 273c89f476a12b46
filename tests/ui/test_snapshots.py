"""Snapshots of every screen at 80x24 and 120x40: fixed seed, frozen sim and app clocks.

Regenerate after a deliberate change with ``pytest tests/ui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

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
}


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare, demo_config, screen, size):
    app = make_app(demo_config)

    async def run_before(pilot) -> None:
        await settle(app, pilot)
        await pilot.press(*SCREENS[screen])
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
