"""`joytui list` / `totals` as scripts use them: real processes against the simulator."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import httpx
import pytest

from joytui.sim.base import SimOptions
from joytui.sim.cockpit import DEMO_PASSWORD
from joytui.sim.jamsocket import DEMO_TOKEN as JAMSOCKET_TOKEN
from joytui.sim.joy import DEMO_KEY, DEMO_TOKEN

SECRETS = [DEMO_PASSWORD, JAMSOCKET_TOKEN, DEMO_KEY, DEMO_TOKEN]


@pytest.fixture
def sim_options() -> SimOptions:
    return SimOptions(seed=7, machines=40, speed=0.0, incidents=False)


@pytest.fixture
def config_file(sim, tmp_path):
    text = sim.simulator.config_toml(sim.base_url)
    text += (
        f'\n[[cockpit]]\nname = "broken"\nbase_url = "{sim.base_url}"\n'
        'username = "admin"\npassword = "wrong-password"\n'
    )
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def joytui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "joytui", *args], capture_output=True, text=True, timeout=120
    )


def test_list_json_with_one_account_broken(sim, config_file):
    before = httpx.get(f"{sim.base_url}/__sim__/").json()["providers"]
    done = joytui("list", "--format", "json", "--config", str(config_file))
    assert done.returncode == 1
    rows = json.loads(done.stdout)
    assert {r["account"] for r in rows} == {
        "sim-joy",
        "sim-cockpit",
        "sim-jamsocket",
        "sim-instances",
    }
    assert sum(r["provider"] == "joy" for r in rows) == 40
    for row in rows:
        assert {"provider", "account", "kind", "id", "name", "status", "raw_status"} <= set(row)
        assert row["status"] in {"running", "pending", "paused", "stopped", "error", "unknown"}
    assert all(r["status"] != "unknown" for r in rows if r["provider"] == "joy")  # machine_info
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and "cockpit 'broken'" in err[0] and "401" in err[0]
    assert "Traceback" not in done.stderr
    for secret in [*SECRETS, "wrong-password"]:
        assert secret not in done.stdout + done.stderr
    after = httpx.get(f"{sim.base_url}/__sim__/").json()["providers"]
    assert after == before  # list changed nothing


def test_list_filters_and_formats(sim, config_file):
    done = joytui(
        "list",
        "--config",
        str(config_file),
        "--provider",
        "joy",
        "--status",
        "running",
        "--format",
        "csv",
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows and all(r["provider"] == "joy" and r["status"] == "running" for r in rows)
    names = [r["name"].lower() for r in rows]
    assert names == sorted(names)  # a stable order
    table = joytui("list", "--config", str(config_file), "--account", "sim-cockpit", "--kind", "vm")
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["PROVIDER", "ACCOUNT", "KIND", "NAME"]
    assert len(lines) == 15 and all(" vm " in line for line in lines[1:])


def test_totals_json(sim, config_file):
    done = joytui("totals", "--format", "json", "--config", str(config_file), "--provider", "joy")
    assert done.returncode == 0, done.stderr
    [joy] = json.loads(done.stdout)
    assert sum(joy["counts"]["machine"].values()) == 40
    assert joy["figures"]["instances"] == 40 and isinstance(joy["figures"]["amount"], float)


def test_bad_usage_exits_2():
    done = joytui("list", "--format", "yaml")
    assert done.returncode == 2
