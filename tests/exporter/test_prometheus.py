"""A real Prometheus (Debian's package) scrapes a real exporter every second and evaluates the
README's alert rules against it."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from joytui.sim.base import SimOptions

from .conftest import ACCOUNTS, free_port, write_config

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="no prometheus binary (apt-get install prometheus; .ci/run does)"
)


@pytest.fixture
def sim_options() -> SimOptions:
    # Frozen simulated time: the fleet's resources in error stay in error.
    return SimOptions(seed=7, machines=40, speed=0.0, incidents=False)


def readme_rules() -> str:
    text = (ROOT / "README.md").read_text()
    (rules,) = [
        block for block in re.findall(r"```yaml\n(.+?)```", text, re.S) if "groups:" in block
    ]
    return rules


@pytest.fixture
def prometheus(tmp_path) -> Iterator[Callable[[str], str]]:
    """Start Prometheus with ``prometheus(target)``; it is always killed at the end."""
    started: list[subprocess.Popen] = []

    def start(target: str) -> str:
        port = free_port()
        (tmp_path / "rules.yml").write_text(readme_rules())
        (tmp_path / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            'rule_files: ["rules.yml"]\n'
            "scrape_configs:\n  - job_name: joytui\n    scrape_interval: 1s\n"
            f'    static_configs:\n      - targets: ["{target}"]\n'
        )
        log = (tmp_path / "prometheus.log").open("w")
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        started.append(process)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def query(base: str, expr: str) -> list[dict]:
    try:
        response = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=5)
    except httpx.TransportError:
        return []  # still starting
    if response.status_code != 200:
        return []
    return response.json()["data"]["result"]


def wait_for(check, timeout: float = 60, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Prometheus did not see {what} within {timeout}s")
        time.sleep(0.5)


def alerts(base: str) -> list[dict]:
    response = httpx.get(f"{base}/api/v1/alerts", timeout=5)
    return response.json()["data"]["alerts"]


@pytest.mark.skipif(PROMTOOL is None, reason="no promtool")
def test_the_readme_rules_are_valid(tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text(readme_rules())
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 rules found" in done.stdout


def test_prometheus_scrapes_the_exporter_and_alerts(sim, sim_http, tmp_path, exporters, prometheus):
    port = free_port()
    exporter = exporters(write_config(sim, tmp_path / "config.toml"), port=port)
    base = prometheus(f"127.0.0.1:{port}")

    def four_up():
        result = query(base, "joytui_account_up")
        seen = {(r["metric"]["provider"], r["metric"]["account"]): r["value"][1] for r in result}
        return seen if set(seen) == ACCOUNTS and set(seen.values()) == {"1"} else None

    wait_for(four_up, what="four accounts up")
    (job,) = query(base, 'up{job="joytui"}')
    assert job["value"][1] == "1"
    assert query(base, "sum(joytui_resources)")[0]["value"][1] != "0"
    assert query(base, 'count(joytui_resource_status{provider="joy"})')[0]["value"][1] == "40"

    # The README's rules, evaluated by Prometheus itself: resources in error are pending...
    in_error = {
        (r["metric"]["provider"], r["metric"]["account"], r["metric"]["kind"])
        for r in query(base, 'joytui_resources{status="error"} > 0')
    }
    assert in_error, "the seeded fleet has resources in error"

    def pending(name):
        return {
            (a["labels"]["provider"], a["labels"]["account"], a["labels"].get("kind"))
            for a in alerts(base)
            if a["labels"]["alertname"] == name and a["state"] in ("pending", "firing")
        }

    assert (
        wait_for(lambda: pending("JoytuiResourcesInError"), what="resources in error") == in_error
    )

    # ... and an account that fails is down, in Prometheus too.
    sim_http.post("/__sim__/faults", json={"cockpit": {"error_rate": 1.0}}).raise_for_status()
    down = wait_for(lambda: pending("JoytuiAccountDown"), what="cockpit down")
    assert down == {("cockpit", "sim-cockpit", None)}
    assert exporter.stop() == 0
