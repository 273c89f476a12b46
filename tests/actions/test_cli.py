"""``joytui action``, ``joytui actions`` and ``joytui audit`` against a running simulator:
every action of every API, exit statuses, --wait, the terminal prompt (a real pty), read-only,
and what the simulator saw sent."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from joytui.cli import main
from joytui.sim.base import SimOptions
from tests.actions.conftest import audit_lines, writes, writes_to

SPEED = 30.0


@pytest.fixture
def sim_options() -> SimOptions:
    # Time runs 30x: a shutdown settles in well under a second, so --wait has something to see.
    return SimOptions(seed=7, machines=40, speed=SPEED, incidents=False)


@pytest.fixture
def config_path(tmp_path, sim):
    sim.simulator.faults.update({"joy": {"quirk_rate": 0.0}})
    path = tmp_path / "config.toml"
    path.write_text(sim.simulator.config_toml(sim.base_url))
    path.chmod(0o600)
    return str(path)


@pytest.fixture
def no_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def run(capsys, config_path, *args):
    code = main(["--config", config_path, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def joy_machine(sim, status):
    return next(m for m in sim.simulator.providers["joy"].machines if m.status == status)


def test_stop_and_start_a_joy_machine_and_wait(capsys, config_path, sim, no_terminal):
    machine = joy_machine(sim, "running")
    target = f"joy/sim-joy/{machine.ihash}"
    code, out, err = run(capsys, config_path, "action", target, "shutdown", "--yes", "--wait")
    assert code == 0, err
    assert machine.status == "stopped"
    assert "graceful shutdown accepted (shutdown_success)" in out and "stopped" in out
    assert "waiting for joy to report it" in err and "now stopped" in err
    code, out, err = run(
        capsys, config_path, "action", target, "start", "--yes", "--wait", "--format", "json"
    )
    assert code == 0, err
    row = json.loads(out)
    assert (row["outcome"], row["status"], row["action"]) == ("ok", "running", "start")
    assert machine.status == "running"
    assert writes_to(sim, machine.ihash) == 2


def test_every_joy_state_through_the_command_line(capsys, config_path, sim, no_terminal):
    states = {
        "shutdown": "running",
        "force_shutdown": "running",
        "reboot": "running",
        "force_reboot": "running",
        "pause": "running",
        "hibernate": "running",
        "start": "stopped",
    }
    machines = sim.simulator.providers["joy"].machines
    used = set()
    for state, before in states.items():
        machine = next(m for m in machines if m.status == before and m.ihash not in used)
        used.add(machine.ihash)
        code, out, err = run(
            capsys, config_path, "action", f"joy/sim-joy/{machine.ihash}", state, "--yes"
        )
        assert code == 0, (state, err)
        assert "accepted (" in out
        assert writes_to(sim, machine.ihash) == 1
    paused = next(m for m in machines if m.status == "paused")
    code, out, err = run(
        capsys, config_path, "action", f"joy/sim-joy/{paused.ihash}", "resume", "--yes"
    )
    assert code == 0 and "resume accepted" in out


def test_cockpit_actions_and_a_migration_through_the_command_line(
    capsys, config_path, sim, no_terminal
):
    cockpit = sim.simulator.providers["cockpit"]
    vm = next(v for v in cockpit.vms.values() if v.status == "running")
    target = f"cockpit/sim-cockpit/{vm.id}"
    for action, after in [
        ("pause", "paused"),
        ("resume", "running"),
        ("restart", "running"),
        ("force_restart", "running"),
        ("force_stop", "stopped"),
        ("start", "running"),
    ]:
        code, _, err = run(capsys, config_path, "action", target, action, "--yes", "--wait")
        assert code == 0, (action, err)
        assert vm.status == after, action
    dest = next(h for h in cockpit.hosts.values() if h.id != vm.host_id and h.status == "connected")
    code, _out, err = run(
        capsys,
        config_path,
        "action",
        target,
        "migrate",
        "--param",
        f"destination_host_id={dest.id}",
        "--param",
        "copy_storage=none",
        "--yes",
        "--wait",
    )
    assert code == 0, err
    assert f"moved to {dest.hostname}" in err and vm.host_id == dest.id
    code, _, err = run(capsys, config_path, "action", target, "stop", "--yes", "--wait")
    assert code == 0 and vm.status == "stopped"
    assert writes_to(sim, vm.id) == 8


def test_jamsocket_and_instances_actions_through_the_command_line(
    capsys, config_path, sim, no_terminal, audit_file
):
    js = sim.simulator.providers["jamsocket"]
    service = sorted(js.services)[0]
    tag = js.services[service].images[-1].tag
    code, out, err = run(
        capsys,
        config_path,
        "action",
        f"jamsocket/sim-jamsocket/{service}",
        "spawn",
        "--param",
        "key=room-1",
        "--param",
        f"tag={tag}",
        "--param",
        "env=TOKEN_FOR_APP=s3cr3t-value",
        "--param",
        "env=MODE=x",
        "--param",
        "lifetime_limit_seconds=600",
        "--yes",
        "--format",
        "json",
    )
    assert code == 0, err
    row = json.loads(out)
    backend_id = row["message"].split()[2]
    backend = js.backends[backend_id]
    assert backend.env["TOKEN_FOR_APP"] == "s3cr3t-value" and backend.lifetime == 600
    assert "s3cr3t-value" not in out + err + audit_file.read_text()
    assert backend.secret_token not in out + err + audit_file.read_text()
    code, _, err = run(
        capsys, config_path, "action", f"jamsocket/sim-jamsocket/{backend_id}", "terminate", "--yes"
    )
    assert code == 0, err
    code, out, err = run(
        capsys, config_path, "action", f"jamsocket/sim-jamsocket/{service}", "spawn", "--yes"
    )
    second = out.split("spawned backend ")[1].split()[0]
    code, _, err = run(
        capsys,
        config_path,
        "action",
        f"jamsocket/sim-jamsocket/{second}",
        "terminate_hard",
        "--yes",
    )
    assert code == 0, err
    assert js.backends[backend_id].status in ("terminating", "terminated")
    assert js.backends[second].status in ("hard-terminating", "terminated")
    code, _, err = run(
        capsys,
        config_path,
        "action",
        f"jamsocket/sim-jamsocket/{service}",
        "update_image",
        "--param",
        f"image_tag={tag}",
        "--yes",
    )
    assert code == 0, err
    code, _, err = run(
        capsys,
        config_path,
        "action",
        "jamsocket/sim-jamsocket",
        "create_service",
        "--param",
        "name=cli-made",
        "--yes",
    )
    assert code == 0 and "cli-made" in js.services
    code, _, err = run(
        capsys, config_path, "action", "jamsocket/sim-jamsocket/cli-made", "delete", "--yes"
    )
    assert code == 0 and "cli-made" not in js.services

    instances = sim.simulator.providers["instances"].instances
    code, out, err = run(
        capsys,
        config_path,
        "action",
        "instances/sim-instances",
        "create",
        "--param",
        "name=cli-bot",
        "--param",
        "region=ap-south-1",
        "--yes",
        "--wait",
    )
    assert code == 0, err
    assert "new: 'cli-bot'" in err
    made = next(i for i in instances.values() if i.name == "cli-bot")
    assert made.region == "ap-south-1"
    for action in ("pause", "restart", "delete"):
        code, _, err = run(
            capsys, config_path, "action", f"instances/sim-instances/{made.id}", action, "--yes"
        )
        assert code == 0, (action, err)
    assert made.id not in instances


def test_without_yes_and_no_terminal_nothing_is_sent(
    capsys, config_path, sim, no_terminal, audit_file
):
    machine = joy_machine(sim, "running")
    code, out, err = run(capsys, config_path, "action", f"joy/sim-joy/{machine.ihash}", "shutdown")
    assert code == 2 and out == ""
    assert "no terminal to ask on" in err and "nothing was sent" in err
    assert writes(sim) == {} and audit_lines(audit_file) == []


def test_read_only_refuses_with_exit_2_and_is_logged(
    capsys, config_path, sim, no_terminal, audit_file
):
    machine = joy_machine(sim, "running")
    target = f"joy/sim-joy/{machine.ihash}"
    code, _, err = run(capsys, config_path, "--read-only", "action", target, "pause", "--yes")
    assert code == 2 and "read-only" in err
    code, out, _ = run(capsys, config_path, "actions", target, "--read-only", "--format", "json")
    assert code == 0 and all("read-only" in a["disabled"] for a in json.loads(out))
    assert writes(sim) == {}
    assert [line["outcome"] for line in audit_lines(audit_file)] == ["refused"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["joy/nope/abc", "start"], "no joy account named so"),
        (["mars/x/abc", "start"], "PROVIDER one of"),
        (["joy/sim-joy/not-a-machine", "start"], "no such resource"),
        (["joy/sim-joy/{running}", "start"], "not an action of machine"),
        (["joy/sim-joy/{running}", "pause", "--param", "when=now"], "takes no parameters"),
        (["joy/sim-joy/{running}", "pause", "--param", "novalue"], "expected KEY=VALUE"),
        (["cockpit/sim-cockpit/{vm}", "migrate"], "needs destination_host_id"),
    ],
)
def test_bad_usage_unknown_resource_or_action_exit_2(
    capsys, config_path, sim, no_terminal, args, words
):
    running = joy_machine(sim, "running").ihash
    vm = next(iter(sim.simulator.providers["cockpit"].vms))
    args = [a.format(running=running, vm=vm) for a in args]
    code, out, err = run(capsys, config_path, "action", *args, "--yes")
    assert code == 2 and words in err and out == ""
    assert writes(sim) == {}


def test_a_provider_failure_exits_1_naming_the_account(
    capsys, config_path, sim, no_terminal, audit_file
):
    instance = next(
        i for i in sim.simulator.providers["instances"].instances.values() if i.status == "running"
    )
    sim.simulator.faults.update({"instances": {"status_code": 503, "status_rate": 1.0}})
    try:
        # The poll before the action fails too: it is told, and nothing is sent.
        code, _, err = run(
            capsys,
            config_path,
            "action",
            f"instances/sim-instances/{instance.id}",
            "pause",
            "--yes",
        )
    finally:
        sim.simulator.faults.reset()
    assert code == 1 and "instances 'sim-instances'" in err
    assert writes(sim) == {}
    # A write that fails: the provider's words on stderr, and no retry.
    vm = next(v for v in sim.simulator.providers["cockpit"].vms.values() if v.status == "running")
    sim.simulator.providers["cockpit"].hosts[vm.host_id].status = "disconnected"
    code, _, err = run(
        capsys, config_path, "action", f"cockpit/sim-cockpit/{vm.id}", "stop", "--yes"
    )
    assert code == 1
    assert err.startswith("error: cockpit 'sim-cockpit': refused:") and "disconnected" in err
    assert writes_to(sim, vm.id) == 1
    assert audit_lines(audit_file)[-1]["outcome"] == "error"


def test_a_write_timeout_is_outcome_unknown_exit_1(tmp_path, sim, no_terminal, capsys, audit_file):
    path = tmp_path / "c.toml"
    text = sim.simulator.config_toml(sim.base_url)
    path.write_text(
        text.replace('name = "sim-instances"', 'name = "sim-instances"\ntimeout_seconds = 0.5')
    )
    path.chmod(0o600)
    instance = next(
        i for i in sim.simulator.providers["instances"].instances.values() if i.status == "running"
    )
    sim.simulator.hang_writes = True  # polls are answered; the write never is
    try:
        code, out, err = run(
            capsys,
            str(path),
            "action",
            f"instances/sim-instances/{instance.id}",
            "restart",
            "--yes",
        )
    finally:
        sim.simulator.hang_writes = False
    assert code == 1 and out == ""
    assert err.startswith("error: instances 'sim-instances': outcome unknown: refresh to see")
    assert "failed" not in err
    assert audit_lines(audit_file)[-1]["outcome"] == "unknown"
    assert writes_to(sim, instance.id) == 1


def test_wait_gives_up_with_exit_1(capsys, config_path, sim, no_terminal):
    cockpit = sim.simulator.providers["cockpit"]
    vm = next(v for v in cockpit.vms.values() if v.status == "running")
    dest = next(h for h in cockpit.hosts.values() if h.id != vm.host_id and h.status == "connected")
    code, _out, err = run(
        capsys,
        config_path,
        "action",
        f"cockpit/sim-cockpit/{vm.id}",
        "migrate",
        "--param",
        f"destination_host_id={dest.id}",
        "--param",
        "copy_storage=all",
        "--yes",
        "--wait",
        "--timeout",
        "0.3",
    )
    assert code == 1
    assert "no new state reported within 0.3 s (the action was sent: refresh to see)" in err
    assert "cockpit 'sim-cockpit'" in err


def test_actions_lists_what_is_valid_now(capsys, config_path, sim):
    stopped = joy_machine(sim, "stopped")
    code, out, _ = run(capsys, config_path, "actions", f"joy/sim-joy/{stopped.ihash}")
    assert code == 0 and out.split("\n")[1].split()[0] == "start" and len(out.splitlines()) == 2
    code, out, _ = run(
        capsys, config_path, "actions", "instances/sim-instances", "--format", "json"
    )
    assert json.loads(out) == [
        {
            "id": "create",
            "label": "Create instance",
            "destructive": False,
            "params": ["name", "region"],
            "disabled": None,
        }
    ]
    code, _, err = run(capsys, config_path, "actions", "joy/sim-joy/zzz")
    assert code == 2 and "no such resource" in err


def test_audit_prints_the_log(capsys, config_path, sim, no_terminal, audit_file):
    machine = joy_machine(sim, "running")
    run(capsys, config_path, "action", f"joy/sim-joy/{machine.ihash}", "pause", "--yes")
    other = next(
        m
        for m in sim.simulator.providers["joy"].machines
        if m.status == "running" and m is not machine
    )
    run(
        capsys, config_path, "--read-only", "action", f"joy/sim-joy/{other.ihash}", "pause", "--yes"
    )
    code, out, _ = run(capsys, config_path, "audit")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["TIME", "USER", "PROVIDER"]
    assert "pause" in lines[1] and " ok " in lines[1] and "refused" in lines[2]
    code, out, _ = run(capsys, config_path, "audit", "--since", "5m", "--format", "json")
    entries = json.loads(out)
    assert [e["outcome"] for e in entries] == ["ok", "refused"]
    assert entries[0]["id"] == machine.ihash and entries[0]["duration_ms"] >= 0
    code, out, _ = run(capsys, config_path, "audit", "--since", "0s", "--format", "json")
    assert json.loads(out) == []
    code, _, err = run(capsys, config_path, "audit", "--since", "soon")
    assert code == 2 and "duration" in err


def _in_a_terminal(command: list[str], answer: str, env: dict) -> tuple[int, str]:
    """Run ``command`` with a pty as its stdin; type ``answer`` once it asks."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        command, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    os.close(slave)
    try:
        # Wait for the question on stderr, then answer it on the terminal.
        err = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not err.rstrip().endswith(("[y/N]", "confirm:")):
            ready, _, _ = select.select([proc.stderr], [], [], 0.2)
            if ready:
                err += os.read(proc.stderr.fileno(), 4096).decode()
        os.write(master, (answer + "\n").encode())
        _rest_out, rest_err = proc.communicate(timeout=30)
    finally:
        os.close(master)
    return proc.returncode, err + rest_err


def test_asks_on_a_terminal_and_a_destructive_action_needs_the_name(
    config_path, sim, tmp_path, audit_file
):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    base = [sys.executable, "-m", "joytui", "--config", config_path, "action"]
    machine = joy_machine(sim, "running")
    code, err = _in_a_terminal([*base, f"joy/sim-joy/{machine.ihash}", "pause"], "y", env)
    assert code == 0, err
    assert "Pause machine" in err and f"(id {machine.ihash}) in joy account 'sim-joy'" in err
    other = next(
        m
        for m in sim.simulator.providers["joy"].machines
        if m.status == "running" and m is not machine
    )
    code, err = _in_a_terminal(
        [*base, f"joy/sim-joy/{other.ihash}", "force_shutdown"], "wrong-name", env
    )
    assert code == 2 and "equivalent to pulling the power cord" in err and "nothing was sent" in err
    assert writes_to(sim, other.ihash) == 0
    name = sim.simulator.providers["joy"]._name(other)
    code, err = _in_a_terminal([*base, f"joy/sim-joy/{other.ihash}", "force_shutdown"], name, env)
    assert code == 0, err
    assert writes_to(sim, other.ihash) == 1 and writes_to(sim, machine.ihash) == 1
