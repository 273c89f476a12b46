"""End to end: `joytui demo` in a real terminal (tmux), keys in, screen text out."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


class Tmux:
    """A private tmux server running one command in one pane."""

    def __init__(
        self, command: str, size: tuple[int, int], env: dict[str, str], workdir: Path
    ) -> None:
        self.socket = f"joytui-e2e-{uuid.uuid4().hex[:8]}"
        width, height = size
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        self.pid_file = workdir / "pid"
        self.code_file = workdir / "code"
        # The inner shell records the pid, then becomes the program (exec keeps the pid); the
        # outer shell records its exit status (tmux's own pane status is unreliable here).
        inner = f"echo $$ > {self.pid_file}; exec env -u COLUMNS -u LINES {exports} {command}"
        wrapped = f"sh -c {shlex.quote(inner)}; echo $? > {self.code_file}"
        self.run(
            "-f",
            os.devnull,
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            str(width),
            "-y",
            str(height),
            f"sh -c {shlex.quote(wrapped)}",
        )
        # With no client attached tmux may fall back to its 80x24 default size: pin ours.
        self.run("set-option", "-t", "t", "window-size", "manual")
        self.run("resize-window", "-t", "t", "-x", str(width), "-y", str(height))
        self.run("set-option", "-t", "t", "remain-on-exit", "on")
        self.run("set-option", "-t", "t", "status", "off")

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return done.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t")

    def keys(self, *keys: str, literal: bool = False) -> None:
        for key in keys:
            self.run("send-keys", "-t", "t", *(["-l"] if literal else []), key)
            time.sleep(0.15)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")

    def wait_until(self, predicate, what: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.2)
        size = self.pane("#{window_width}x#{window_height}")
        raise AssertionError(f"never saw {what} at {size}; the screen shows:\n{self.screen()}")

    def pane(self, fmt: str) -> str:
        return self.run("display-message", "-p", "-t", "t", fmt).strip()

    def wait_exit(self, timeout: float = 15.0) -> int:
        """The program's exit status, once it has exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.code_file.read_text().strip() if self.code_file.exists() else ""
            if text:
                return int(text)
            time.sleep(0.2)
        raise AssertionError(f"joytui did not exit; the screen shows:\n{self.screen()}")

    @property
    def program_pid(self) -> int:
        return int(self.pid_file.read_text())

    def kill(self) -> None:
        self.run("kill-server")


def table_rows(screen: str) -> list[str]:
    """The table's rows: below the tabs and column header, above the bars at the bottom."""
    return [line for line in screen.splitlines()[3:-3] if line.strip()]


DEMO = f"{sys.executable} -m joytui demo --seed 7"


@pytest.mark.parametrize(
    "size,env",
    [
        ((120, 40), {"TERM": "tmux-256color"}),
        ((80, 24), {"TERM": "screen"}),
        ((80, 24), {"TERM": "xterm-256color", "NO_COLOR": "1"}),
    ],
    ids=["120x40-tmux", "80x24-screen", "80x24-no-color"],
)
def test_demo_in_tmux(size, env, tmp_path):
    tmux = Tmux(DEMO, size, {"TEXTUAL_ANIMATIONS": "none", **env}, tmp_path)
    try:
        screen = tmux.wait_for("sim-instances")
        tmux.wait_for("running")
        assert "NAME" in screen and "STATUS" in screen  # the column header is drawn
        pid = tmux.program_pid

        tmux.keys("1")
        screen = tmux.wait_for("HEALTH")
        assert "sim-cockpit" in screen and "ok" in screen

        width = int(tmux.pane("#{window_width}"))
        assert width == size[0]
        tmux.keys("5")
        tmux.wait_until(
            lambda screen: (
                table_rows(screen) and all("sim-cockpit" in line for line in table_rows(screen))
            ),
            "only Cockpit VMs in the VMs view",
        )

        tmux.keys("2", "/")
        tmux.keys("status:stopped", literal=True)
        tmux.wait_until(
            lambda screen: (
                table_rows(screen) and all("stopped" in line for line in table_rows(screen))
            ),
            "only stopped rows after filtering",
        )
        tmux.keys("Escape")

        tmux.keys("?")
        tmux.wait_for("Keys")
        tmux.keys("Escape")

        tmux.keys("q")
        assert tmux.wait_exit() == 0
        time.sleep(0.5)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # nothing left behind
    finally:
        tmux.kill()


def test_an_account_going_down_rings_the_bell_in_tmux(tmp_path):
    # The dashboard in window 0, another window in front: tmux flags window 0 when the
    # bell rings there (monitor-bell), as an on-call user's status line would show.
    command = f"{sys.executable} -m joytui demo --seed 7 --faults cockpit.error_rate=1"
    tmux = Tmux(command, (120, 40), {"TEXTUAL_ANIMATIONS": "none"}, tmp_path)
    try:
        tmux.run("set-option", "-g", "monitor-bell", "on")
        tmux.run("set-option", "-g", "bell-action", "any")
        tmux.wait_for("sim-instances")
        tmux.run("new-window", "-d", "-t", "t:1", "sleep 600")
        tmux.run("select-window", "-t", "t:1")
        deadline = time.monotonic() + 45
        flag = ""
        while time.monotonic() < deadline:
            flag = tmux.run("display-message", "-p", "-t", "t:0", "#{window_bell_flag}").strip()
            if flag == "1":
                break
            time.sleep(0.3)
        assert flag == "1", "the bell never rang in the dashboard's window"
        tmux.run("select-window", "-t", "t:0")
        screen = tmux.wait_for("down")
        assert "sim-cockpit" in screen
    finally:
        tmux.kill()
