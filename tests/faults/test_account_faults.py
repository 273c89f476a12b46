"""Faults that live in the config or the network rather than in an answer: nothing listens,
no such host, TLS to a plain port, a bad file, secret commands that fail or hang, markup in
a name, Cockpit tokens that expire mid-poll."""

from __future__ import annotations

import subprocess
import sys

import httpx

from joytui.config import Config
from joytui.sim.server import SimServer
from tests.faults.conftest import assert_clean, config_data, run_headless, set_faults


def _only(data: dict, provider: str) -> dict:
    """The config with one account of ``provider`` changed by the caller, others intact."""
    return data[provider][0]


def _failing_line(err: str, account: str) -> str:
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == 1, lines
    assert account in lines[0]
    return lines[0]


def test_connection_refused(sim: SimServer):
    data = config_data(sim)
    _only(data, "instances")["base_url"] = "http://127.0.0.1:9"
    status, out, err = run_headless(Config.model_validate(data))
    assert status == 1 and "sim-joy" in out
    assert "could not connect" in _failing_line(err, "sim-instances")
    assert_clean(out, err)


def test_dns_failure(sim: SimServer):
    data = config_data(sim)
    _only(data, "cockpit")["base_url"] = "http://no-such-host.invalid"
    status, out, err = run_headless(Config.model_validate(data))
    line = _failing_line(err, "sim-cockpit")
    assert status == 1 and "sim-joy" in out
    assert any(w in line for w in ("could not connect", "resolve", "name", "timed out")), line


def test_tls_to_a_plain_http_port(sim: SimServer):
    data = config_data(sim)
    _only(data, "joy")["base_url"] = sim.base_url.replace("http://", "https://")
    status, out, err = run_headless(Config.model_validate(data))
    line = _failing_line(err, "sim-joy")
    assert status == 1 and "TLS" in line and "http://" in line
    assert "sim-cockpit" in out


def test_bad_config_is_exit_2_with_the_field(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[joy]]\nname = "x"\nbase_url = "ftp://nope"\napi_token = "t"\n')
    path.chmod(0o600)
    done = subprocess.run(
        [sys.executable, "-m", "joytui", "list", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "joy[0] 'x'" in done.stderr or "joy[0]" in done.stderr
    assert "Traceback" not in done.stderr


def test_failing_and_hanging_secret_commands(sim: SimServer):
    data = config_data(sim)
    _only(data, "instances")["api_key"] = {
        "command": [sys.executable, "-c", "import sys; print('oops', file=sys.stderr); sys.exit(4)"]
    }
    _only(data, "jamsocket")["token"] = {
        "command": [sys.executable, "-c", "import time; time.sleep(30)"],
        "timeout_seconds": 0.5,
    }
    status, out, err = run_headless(Config.model_validate(data))
    lines = sorted(line for line in err.splitlines() if line)
    assert status == 1 and len(lines) == 2
    assert "sim-instances" in "".join(lines) and "exited 4: oops" in "".join(lines)
    assert "sim-jamsocket" in "".join(lines) and "took longer than 0.5 s" in "".join(lines)
    assert "sim-joy" in out and "sim-cockpit" in out


def test_markup_and_escapes_in_a_config_name(sim: SimServer):
    data = config_data(sim)
    _only(data, "instances")["name"] = "bots[/red]\x1b]0;pwned\x07"
    status, out, err = run_headless(Config.model_validate(data))
    assert status == 0, err
    assert "bots[/red]\\x1b]0;pwned\\x07" in out
    assert_clean(out, err)


def test_cockpit_tokens_expiring_mid_poll_are_renewed(sim: SimServer):
    httpx.post(f"{sim.base_url}/__sim__/cockpit/token-ttl", json={"seconds": 1}).raise_for_status()
    set_faults(sim, {"cockpit": {"latency_ms": 300}})
    try:
        config = Config.model_validate(config_data(sim, timeout=5.0))
        for _ in range(3):
            httpx.post(f"{sim.base_url}/__sim__/cockpit/expire-tokens").raise_for_status()
            status, out, err = run_headless(config, "totals", "table")
            assert status == 0, err
            assert "sim-cockpit" in out
    finally:
        httpx.post(
            f"{sim.base_url}/__sim__/cockpit/token-ttl", json={"seconds": 3600}
        ).raise_for_status()


# Another account's secret echoed in an error: the simulator cannot echo a secret it was
# not sent, so tests/providers/test_secrets.py covers it with a transport of its own.
