"""The exporter's bed: the simulator, a config pointing at it, and ``joytui exporter`` as a
real process on a free loopback port, always stopped (Ctrl-C) or killed at the end."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from joytui.config import dump_config
from joytui.sim.base import SimOptions
from joytui.sim.cockpit import DEMO_PASSWORD
from joytui.sim.instances import DEMO_API_KEY
from joytui.sim.jamsocket import DEMO_TOKEN as JAMSOCKET_TOKEN
from joytui.sim.joy import DEMO_KEY, DEMO_TOKEN
from joytui.sim.server import SimServer

SECRETS = (DEMO_PASSWORD, DEMO_API_KEY, JAMSOCKET_TOKEN, DEMO_KEY, DEMO_TOKEN)
ACCOUNTS = {
    ("joy", "sim-joy"),
    ("cockpit", "sim-cockpit"),
    ("jamsocket", "sim-jamsocket"),
    ("instances", "sim-instances"),
}


@pytest.fixture
def sim_options() -> SimOptions:
    return SimOptions(seed=7, machines=40, speed=1.0, incidents=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(sim: SimServer, path: Path, **changes: Any) -> Path:
    """The simulator's config with a 1 s poll and a 2 s timeout (so a fault shows at once)."""
    data = sim.simulator.config(sim.base_url)
    data["refresh_seconds"] = 1
    for provider in ("joy", "cockpit", "jamsocket", "instances"):
        for account in data[provider]:
            account["timeout_seconds"] = 2
    data.update(changes)
    path.write_text(dump_config(data))
    path.chmod(0o600)
    return path


@dataclass
class Exporter:
    """A running ``joytui exporter`` process."""

    process: subprocess.Popen[str]
    url: str
    stderr: str = ""
    exit_code: int | None = None
    _scrapes: list[str] = field(default_factory=list)

    def text(self) -> str:
        response = httpx.get(self.url, timeout=5)
        response.raise_for_status()
        self._scrapes.append(response.text)
        return response.text

    def families(self) -> dict[str, Any]:
        return {f.name: f for f in text_string_to_metric_families(self.text())}

    def wait_for(self, check: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict:
        """Scrape until ``check(families)`` holds; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            families = self.families()
            if check(families):
                return families
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not seen within {timeout}s; last scrape:\n{self._scrapes[-1]}"
                )
            time.sleep(0.2)

    @property
    def scrapes(self) -> list[str]:
        return self._scrapes

    def stop(self) -> int:
        """Ctrl-C, then the exit status (killed if it does not stop in 10 s)."""
        if self.exit_code is None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
            try:
                _, self.stderr = self.process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                _, self.stderr = self.process.communicate(timeout=10)
            self.exit_code = self.process.returncode
        return self.exit_code


def start_exporter(config: Path, *, listen: str | None = None, port: int | None = None) -> Exporter:
    """``joytui exporter --listen ...`` as a process; returns once /metrics answers."""
    port = port or free_port()
    listen = listen or f"127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "joytui", "exporter", "--config", str(config), "--listen", listen],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    exporter = Exporter(process, f"http://127.0.0.1:{port}/metrics")
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            exporter.stop()
            raise AssertionError(f"the exporter exited {process.returncode}: {exporter.stderr}")
        try:
            httpx.get(exporter.url, timeout=2)
            return exporter
        except httpx.TransportError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)


@pytest.fixture
def exporters() -> Iterator[Callable[..., Exporter]]:
    """Start exporters with ``exporters(config_path, ...)``; every one is stopped at the end."""
    started: list[Exporter] = []

    def start(config: Path, **kwargs: Any) -> Exporter:
        exporter = start_exporter(config, **kwargs)
        started.append(exporter)
        return exporter

    yield start
    for exporter in started:
        exporter.stop()


def samples(families: dict[str, Any], name: str) -> list[Any]:
    """The samples of metric family ``name`` (empty if absent)."""
    family = families.get(name)
    return [] if family is None else list(family.samples)


def by_account(families: dict[str, Any], name: str) -> dict[tuple[str, str], float]:
    """``name``'s value per (provider, account)."""
    return {(s.labels["provider"], s.labels["account"]): s.value for s in samples(families, name)}
