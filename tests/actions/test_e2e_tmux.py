"""End to end in a real terminal (tmux): `joytui demo`, stop and start a Joy machine by keys,
then mark three rows for a bulk pause; the simulator's write counter and the audit log say
what was sent."""

from __future__ import annotations

import json
import re
import shutil
import sys

import httpx
import pytest

from tests.e2e.test_tmux import Tmux, table_rows

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

DEMO = f"{sys.executable} -m joytui demo --seed 7"


def sim_url(tmux: Tmux) -> str:
    """The demo's simulator, as the help screen names it."""
    tmux.keys("?")
    screen = tmux.wait_for("simulator at http://")
    tmux.keys("Escape")
    found = re.search(r"http://127\.0\.0\.1:\d+", screen)
    assert found, screen
    return found.group(0)


def writes(url: str) -> dict[str, int]:
    return httpx.get(f"{url}/__sim__/").json()["writes"]


def filter_to(tmux: Tmux, text: str) -> None:
    tmux.keys("Escape", "Escape", "/")
    tmux.keys(text, literal=True)
    tmux.keys("Enter")


def test_stop_start_and_a_bulk_pause_in_tmux(tmp_path):
    env = {
        "TEXTUAL_ANIMATIONS": "none",
        "TERM": "tmux-256color",
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    tmux = Tmux(DEMO, (120, 40), env, tmp_path)
    try:
        tmux.wait_for("sim-instances")
        tmux.wait_for("running")
        url = sim_url(tmux)
        tmux.keys("3")  # the Joy machines
        filter_to(tmux, "status:running")
        screen = tmux.wait_until(
            lambda s: table_rows(s) and all("running" in line for line in table_rows(s)),
            "only running machines",
        )
        name = table_rows(screen)[0].split()[1]
        filter_to(tmux, name)  # one machine, whatever its status becomes
        tmux.wait_until(lambda s: len(table_rows(s)) == 1 and name in s, f"only {name}")

        tmux.keys("a")
        tmux.wait_for("Actions: machine")
        tmux.keys("s")  # Shut down
        screen = tmux.wait_for("Shut down machine")
        assert "account 'sim-joy' (joy)" in screen and "y/Enter confirms" in screen
        tmux.keys("y")
        tmux.wait_for("stopping…")
        tmux.wait_for("✔ stopped", timeout=40)

        tmux.keys("a")
        tmux.wait_for("Actions: machine")
        tmux.keys("s")  # a stopped machine offers Start only: the same key
        tmux.wait_for("Start machine")
        tmux.keys("Enter")
        tmux.wait_for("✔ running", timeout=40)
        sent = writes(url)
        assert sum(sent.values()) == 2 and len(sent) == 1  # one machine, two requests

        filter_to(tmux, "status:running")
        tmux.wait_until(lambda s: len(table_rows(s)) > 3, "running machines")
        tmux.keys("Space", "Down", "Space", "Down", "Space")
        screen = tmux.wait_for("3 marked")
        marked = [line for line in table_rows(screen) if "◆" in line]
        assert len(marked) == 3
        names = [line.split("◆")[1].split()[0] for line in marked]
        tmux.keys("a")
        tmux.wait_for("Actions: 3 marked resources")
        tmux.keys("p")  # Pause
        tmux.wait_for("Pause 3 resources")
        tmux.keys("y")
        tmux.wait_for("Pause: 3 of 3 accepted")
        sent = writes(url)
        assert sum(sent.values()) == 5  # one pause each, nothing sent twice

        tmux.keys("Escape", "Escape", "q")
        assert tmux.wait_exit() == 0
    finally:
        tmux.kill()
    lines = [
        json.loads(x)
        for x in (tmp_path / "state" / "joytui" / "audit.jsonl").read_text().splitlines()
    ]
    assert [(x["action"], x["outcome"]) for x in lines] == [("shutdown", "ok"), ("start", "ok")] + [
        ("pause", "ok")
    ] * 3
    assert {x["name"] for x in lines[2:]} == set(names)
    assert len({x["id"] for x in lines[2:]}) == 3
