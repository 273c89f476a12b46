"""The config contract: validation messages, secrets, permissions, init/check/path."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from joytui.cli import main
from joytui.config import (
    CommandSecret,
    ConfigError,
    EnvSecret,
    SecretError,
    config_path,
    load_config,
    parse_config,
    permission_warning,
    resolve_secret,
)

GOOD = """
refresh_seconds = 5
theme = "joy-dark"

[[joy]]
name = "joy-london"
base_url = "https://api.joy.services"
api_token = { env = "JOY_TOKEN" }
api_key = { command = ["pass", "show", "joy/key"] }

[[cockpit]]
name = "lab"
base_url = "https://cockpit.example.net"
username = "admin"
password = { env = "COCKPIT_PASSWORD" }

[[jamsocket]]
name = "prod"
base_url = "https://api.jamsocket.com"
account = "taylor"
token = { env = "JAMSOCKET_TOKEN" }

[[instances]]
name = "bots"
base_url = "http://localhost:3000"
api_key = "literal-keys-work-too"
"""


def test_the_design_example_is_valid():
    config = parse_config(GOOD, Path("c.toml"))
    assert [(p, a.name) for p, a in config.accounts()] == [
        ("joy", "joy-london"),
        ("cockpit", "lab"),
        ("jamsocket", "prod"),
        ("instances", "bots"),
    ]
    assert isinstance(config.joy[0].api_token, EnvSecret)
    assert isinstance(config.joy[0].api_key, CommandSecret)
    assert isinstance(config.instances[0].api_key, SecretStr)
    assert "literal-keys-work-too" not in repr(config)


def test_problems_name_file_account_and_field():
    bad = GOOD.replace('base_url = "https://cockpit.example.net"', 'base_url = "nope"')
    bad = bad.replace('api_key = "literal-keys-work-too"', 'api_key = "x"\ncolour = "red"')
    bad += '\nbogus = 1\n[[cockpit]]\nname = "lab2"\nbase_url = "http://x"\nusername = "u"\npassword = { enx = "P" }\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(bad, Path("/etc/c.toml"))
    problems = caught.value.problems
    assert "/etc/c.toml: cockpit[0] 'lab': base_url: not a URL" in problems[0]
    assert any("instances[0] 'bots': colour: unknown key" in p for p in problems)
    assert any("cockpit[1] 'lab2': password: expected a string" in p for p in problems)
    assert all(p.startswith("/etc/c.toml: ") for p in problems)


def test_duplicate_names_and_bad_toml():
    dup = GOOD + '\n[[instances]]\nname = "bots"\nbase_url = "http://y"\napi_key = "k"\n'
    with pytest.raises(ConfigError, match="name: used twice"):
        parse_config(dup, Path("c.toml"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("this is = = not toml", Path("c.toml"))


def test_secrets_resolve_and_never_show(monkeypatch):
    monkeypatch.setenv("SOME_TOKEN", "s3cret-value")
    value = resolve_secret(EnvSecret(env="SOME_TOKEN"))
    assert value.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(value) and "s3cret-value" not in str(value)
    with pytest.raises(SecretError, match="MISSING_VAR is not set"):
        resolve_secret(EnvSecret(env="MISSING_VAR"))
    printed = resolve_secret(CommandSecret(command=[sys.executable, "-c", "print('from-cmd')"]))
    assert printed.get_secret_value() == "from-cmd"


def test_failed_secret_command_shows_stderr_never_stdout():
    script = "import sys; print('LEAKED-STDOUT'); sys.stderr.write('vault locked'); sys.exit(3)"
    with pytest.raises(SecretError) as caught:
        resolve_secret(CommandSecret(command=[sys.executable, "-c", script]))
    assert "exited 3: vault locked" in str(caught.value)
    assert "LEAKED-STDOUT" not in str(caught.value)


def test_secret_command_timeout():
    slow = CommandSecret(
        command=[sys.executable, "-c", "import time; time.sleep(5)"], timeout_seconds=0.2
    )
    with pytest.raises(SecretError, match="took longer"):
        resolve_secret(slow)


def test_permission_warning(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    path.chmod(0o644)
    assert "chmod 600" in permission_warning(path)
    path.chmod(0o600)
    assert permission_warning(path) is None


def test_config_path_order(monkeypatch, tmp_path):
    monkeypatch.setenv("JOYTUI_CONFIG", str(tmp_path / "env.toml"))
    assert config_path(tmp_path / "flag.toml") == tmp_path / "flag.toml"
    assert config_path(None) == tmp_path / "env.toml"
    monkeypatch.delenv("JOYTUI_CONFIG")
    assert config_path(None).name == "config.toml"


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="joytui config init"):
        load_config(tmp_path / "absent.toml")


def test_bad_config_exits_2_with_one_line_per_problem(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text(GOOD.replace('"https://api.jamsocket.com"', '"ftp://x"') + "\nextra = 1\n")
    path.chmod(0o600)
    assert main(["list", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert any("jamsocket[0] 'prod': base_url: not a URL" in line for line in err)


def test_config_init_writes_0600_and_never_overwrites(tmp_path, capsys):
    path = tmp_path / "sub" / "config.toml"
    args = [
        "config",
        "init",
        "--config",
        str(path),
        "--no-input",
        "--provider",
        "cockpit",
        "--name",
        "lab",
        "--base-url",
        "https://cockpit.example.net",
        "--set",
        "username=admin",
        "--secret",
        "password=env:COCKPIT_PASSWORD",
    ]
    assert main(args) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = load_config(path)
    assert config.cockpit[0].password == EnvSecret(env="COCKPIT_PASSWORD")
    assert main(args) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


def test_config_init_without_terminal_names_what_is_missing(tmp_path, capsys):
    path = tmp_path / "config.toml"
    assert main(["config", "init", "--config", str(path), "--no-input", "--provider", "joy"]) == 2
    assert "is missing" in capsys.readouterr().err
    assert not path.exists()


def test_config_path_command(tmp_path, capsys):
    assert main(["config", "path", "--config", str(tmp_path / "x.toml")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "x.toml")


def test_sim_prints_only_a_config_on_stdout_and_stops_cleanly_on_ctrl_c(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "joytui", "sim", "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        serving = proc.stderr.readline()  # printed once the config is flushed to stdout
        proc.send_signal(2)  # SIGINT, as Ctrl-C
        out = proc.stdout.read()
        proc.wait(timeout=15)
    finally:
        proc.kill()
    path = tmp_path / "sim.toml"
    path.write_text(out)
    config = load_config(path)
    assert {p for p, _ in config.accounts()} == {"joy", "cockpit", "jamsocket", "instances"}
    assert proc.returncode == 0
    assert "serving http://127.0.0.1:" in serving


def test_config_check_probes_every_account(sim, tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text(sim.simulator.config_toml(sim.base_url))
    path.chmod(0o600)
    os.environ.pop("JOYTUI_CONFIG", None)
    assert main(["config", "check", "--config", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and all(line.startswith("ok ") for line in out)
    assert any("machines" in line and " ms" in line for line in out)
