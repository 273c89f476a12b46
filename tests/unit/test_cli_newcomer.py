"""The command line as a new user met it (issue 12): real processes, real simulator."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from joytui.cli import build_parser
from joytui.sim.base import SimOptions


@pytest.fixture
def sim_options() -> SimOptions:
    return SimOptions(seed=7, machines=40, speed=0.0, incidents=False)


@pytest.fixture
def config_file(sim, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(sim.simulator.config_toml(sim.base_url))
    path.chmod(0o600)
    return path


def joytui(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "joytui", *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "X", "--theme", "joy-light", "--read-only", "--debug", "list"],
        ["list", "--config", "X", "--theme", "joy-light", "--read-only", "--debug"],
        ["--config", "X", "demo"],
        ["--theme", "joy-light", "config", "check"],
    ],
)
def test_common_flags_before_or_after_the_subcommand(argv):
    args = build_parser().parse_args(argv)
    if "--config" in argv:
        assert args.config == "X"
    if "--theme" in argv:
        assert args.theme == "joy-light"
    if "--read-only" in argv:
        assert args.read_only and args.debug


def test_config_before_the_subcommand_is_used(config_file):
    done = joytui("--config", str(config_file), "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert '"provider": "joy"' in done.stdout


def test_unknown_theme_before_the_subcommand_is_refused():
    done = joytui("--theme", "bogus", "demo")
    assert done.returncode == 2
    assert "unknown theme" in done.stderr


def test_a_closed_pipe_ends_output_quietly(config_file):
    # `joytui list | head -1`: head exits after one line; joytui must not complain.
    shell = f"{sys.executable} -m joytui list --config {config_file} | head -1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.startswith("PROVIDER")
    assert "BrokenPipe" not in done.stderr and "internal error" not in done.stderr
    assert done.stderr == ""
    assert done.returncode == 0


def test_sim_config_out_is_private_and_warning_free(tmp_path):
    out = tmp_path / "sim.toml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "joytui", "sim", "--config-out", str(out), "--no-incidents"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(200):
            if out.exists() and out.stat().st_size:
                break
            time.sleep(0.05)
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        done = joytui("totals", "--config", str(out))
        assert done.returncode == 0, done.stderr
        assert "warning" not in done.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def test_unknown_account_or_provider_filter_is_an_error(config_file):
    done = joytui("list", "--config", str(config_file), "--account", "nope")
    assert done.returncode == 2
    assert "--account nope: no such account" in done.stderr and "sim-joy" in done.stderr
    assert done.stdout == ""
    config_file.write_text(
        "\n".join(line for line in config_file.read_text().split("\n[[instances]]")[0].splitlines())
    )
    done = joytui("totals", "--config", str(config_file), "--provider", "instances")
    assert done.returncode == 2 and "no instances account" in done.stderr


def test_unknown_keymap_id_fails_config_check(config_file):
    config_file.write_text(config_file.read_text() + '\n[keymap]\nrefreshh = "f5"\n')
    os.chmod(config_file, 0o600)
    done = joytui("config", "check", "--config", str(config_file))
    assert done.returncode == 2
    assert "unknown binding id refreshh" in done.stderr and "refresh" in done.stderr
