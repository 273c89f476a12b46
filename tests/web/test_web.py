"""``joytui web`` in a real headless Chromium: the page loads, the dashboard runs behind it and
shows the four demo accounts; a screenshot goes to screenshots/web-1280x800.png."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from joytui.web import dashboard_command

from .chromium import CHROMIUM, Chromium

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = ("sim-joy", "sim-cockpit", "sim-jamsocket", "sim-instances")
ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-B]")

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium (apt-get install chromium; .ci/run does)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def joytui(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "joytui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class WebServer:
    """``joytui web ...`` in a session of its own, so it and every dashboard it starts can be
    killed together."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.err_path = tmp_path / "web.err"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "joytui", "web", "--port", str(self.port), *args],
            stdout=(tmp_path / "web.out").open("w"),
            stderr=self.err_path.open("w"),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"joytui web exited {self.process.returncode}: {self.stderr}")
            try:
                response = httpx.get(self.url, timeout=5)
                if response.status_code == 200:
                    return response.text
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"joytui web did not answer in {timeout}s: {self.stderr}")
            time.sleep(0.1)

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def stop(self) -> int | None:
        """Ctrl-C; then kill whatever of its process group is left."""
        code = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                code = self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        else:
            code = self.process.returncode
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # its dashboards, if any linger
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        return code


@pytest.fixture
def web(tmp_path) -> Iterator[Callable[..., WebServer]]:
    servers: list[WebServer] = []

    def start(*args: str) -> WebServer:
        server = WebServer(tmp_path, *args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


async def wait_for_accounts(browser: Chromium, seconds: float = 60) -> str:
    """The terminal's text once it shows every account name, and has stopped changing."""
    text, last_size, steady_since = "", -1, time.monotonic()
    try:
        async with asyncio.timeout(seconds):
            while True:
                raw = await browser.evaluate("(window.__terminalOutput || []).join('')") or ""
                text = ESCAPES.sub("", raw)
                if len(raw) != last_size:
                    last_size, steady_since = len(raw), time.monotonic()
                steady = time.monotonic() - steady_since > 1.0
                if steady and all(name in text for name in ACCOUNTS):
                    return text
                await asyncio.sleep(0.25)
    except TimeoutError:
        missing = [name for name in ACCOUNTS if name not in text]
        raise AssertionError(
            f"the page never showed {missing}; it showed: {text[-2000:]!r}"
        ) from None


@needs_chromium
def test_the_dashboard_in_a_real_browser(tmp_path, web):
    server = web("--demo")
    page = server.wait_ready()
    assert 'class="textual-terminal"' in page
    assert "googleapis" not in page and "/static/fonts/RobotoMono" in page  # nothing remote

    async def browse() -> tuple[str, bytes]:
        async with Chromium(tmp_path / "chromium", 1280, 800) as browser:
            await browser.send("Page.navigate", url=server.url)
            text = await wait_for_accounts(browser)
            assert await browser.evaluate("document.querySelector('.xterm') !== null")
            assert "-first-byte" in await browser.evaluate("document.body.className")
            return text, await browser.screenshot()

    text, png = asyncio.run(browse())
    # The README's screenshot is refreshed on request only: a test run leaves the tree clean.
    shots = ROOT / "screenshots" if os.environ.get("JOYTUI_SAVE_SCREENSHOTS") else tmp_path
    (shots / "web-1280x800.png").write_bytes(png)
    assert "Totals" in text and "error" in text
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 1280
    assert server.stop() == 0  # Ctrl-C stops it cleanly
    assert "Traceback" not in server.stderr


def test_a_remote_host_is_refused_without_allow_remote():
    done = joytui("web", "--demo", "--host", "0.0.0.0", "--port", str(free_port()))
    assert done.returncode == 2
    assert "--allow-remote" in done.stderr and "no login" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_allow_remote_serves_with_a_warning(web):
    server = web("--demo", "--host", "0.0.0.0", "--allow-remote")
    server.wait_ready()
    assert server.stop() == 0
    assert "warning" in server.stderr and "no login of its own" in server.stderr


def test_a_bad_config_fails_before_serving(tmp_path):
    done = joytui("web", "--config", str(tmp_path / "missing.toml"), "--port", str(free_port()))
    assert done.returncode == 2 and "no config file" in done.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        done = joytui("web", "--demo", "--port", str(sock.getsockname()[1]))
    assert done.returncode == 2 and "cannot listen" in done.stderr


def test_the_served_command_carries_the_flags():
    command = dashboard_command(config="/tmp/my config.toml", theme="joy-light", read_only=True)
    assert shlex.split(command) == [
        sys.executable,
        "-m",
        "joytui",
        "--config",
        "/tmp/my config.toml",
        "--theme",
        "joy-light",
        "--read-only",
    ]
    assert shlex.split(dashboard_command(demo=True, config="/x"))[-1] == "demo"
