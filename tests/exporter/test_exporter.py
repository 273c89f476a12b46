"""``joytui exporter`` as Prometheus sees it: a real process polling the simulator, scraped
over HTTP and read with prometheus_client's own parser."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from joytui.core.store import Store
from joytui.exporter import ListenError, StoreCollector, error_kind, is_loopback, parse_listen
from joytui.model import Resource, Snapshot, Status, Totals

from .conftest import ACCOUNTS, SECRETS, by_account, samples, write_config

STATUSES = {s.value for s in Status}
RESOURCE_LABELS = {"provider", "account", "kind", "id", "name"}


def all_up(families) -> bool:
    up = by_account(families, "joytui_account_up")
    return set(up) == ACCOUNTS and all(v == 1 for v in up.values())


def counts(families, account: str) -> dict[tuple[str, str], float]:
    return {
        (s.labels["kind"], s.labels["status"]): s.value
        for s in samples(families, "joytui_resources")
        if s.labels["account"] == account
    }


def test_the_metrics_contract(sim, tmp_path, exporters):
    exporter = exporters(write_config(sim, tmp_path / "config.toml"))
    families = exporter.wait_for(all_up)
    assert set(families) >= {
        "joytui_account_up",
        "joytui_account_data_age_seconds",
        "joytui_account_poll_duration_seconds",
        "joytui_account_poll_errors",
        "joytui_resources",
        "joytui_resource_status",
        "joytui_resource_cpu_ratio",
        "joytui_resource_memory_bytes",
    }
    assert families["joytui_account_poll_duration_seconds"].type == "histogram"
    assert families["joytui_account_poll_errors"].type == "counter"
    ages = by_account(families, "joytui_account_data_age_seconds")
    assert set(ages) == ACCOUNTS and all(0 <= age < 30 for age in ages.values())

    # Counts: every status of every kind an account has, zeros included.
    kinds = {
        (s.labels["provider"], s.labels["kind"]) for s in samples(families, "joytui_resources")
    }
    assert kinds == {
        ("joy", "machine"),
        ("cockpit", "host"),
        ("cockpit", "vm"),
        ("jamsocket", "service"),
        ("jamsocket", "backend"),
        ("instances", "instance"),
    }
    for s in samples(families, "joytui_resources"):
        assert set(s.labels) == {"provider", "account", "kind", "status"}
        assert s.labels["status"] in STATUSES and s.value >= 0

    # One status series per resource, agreeing with the counts.
    status = samples(families, "joytui_resource_status")
    assert status and all(s.value == 1 for s in status)
    assert all(set(s.labels) == RESOURCE_LABELS | {"status"} for s in status)
    total = sum(s.value for s in samples(families, "joytui_resources"))
    assert len(status) == total
    assert sum(1 for s in status if s.labels["provider"] == "joy") == 40
    per_status: dict[tuple[str, str, str], int] = {}
    for s in status:
        key = (s.labels["account"], s.labels["kind"], s.labels["status"])
        per_status[key] = per_status.get(key, 0) + 1
    for s in samples(families, "joytui_resources"):
        key = (s.labels["account"], s.labels["kind"], s.labels["status"])
        assert per_status.get(key, 0) == s.value, key

    cpu = samples(families, "joytui_resource_cpu_ratio")
    memory = samples(families, "joytui_resource_memory_bytes")
    assert cpu and memory
    assert all(0 <= s.value <= 1 and set(s.labels) == RESOURCE_LABELS for s in cpu)
    assert all(s.value >= 0 and set(s.labels) == RESOURCE_LABELS for s in memory)

    # Poll durations observed from the session's events; errors start at 0 for every kind.
    polls = {
        (s.labels["provider"], s.labels["account"]): s.value
        for s in samples(families, "joytui_account_poll_duration_seconds")
        if s.name.endswith("_count")
    }
    assert set(polls) == ACCOUNTS and all(v >= 1 for v in polls.values())
    errors = samples(families, "joytui_account_poll_errors")
    assert {s.labels["kind"] for s in errors} >= {"server", "auth", "transport", "other"}
    assert all(s.value == 0 for s in errors if s.name.endswith("_total"))

    # A second scrape sees the pollers' progress: the poll counts grow.
    time.sleep(2.5)
    later = exporter.families()
    more = {
        (s.labels["provider"], s.labels["account"]): s.value
        for s in samples(later, "joytui_account_poll_duration_seconds")
        if s.name.endswith("_count")
    }
    assert all(more[k] > polls[k] for k in ACCOUNTS)
    assert exporter.stop() == 0  # Ctrl-C stops cleanly
    assert "Traceback" not in exporter.stderr
    assert "serving http://127.0.0.1:" in exporter.stderr


def test_a_failing_account_is_down_and_keeps_its_counts(sim, sim_http, tmp_path, exporters):
    exporter = exporters(write_config(sim, tmp_path / "config.toml"))
    before = exporter.wait_for(all_up)
    cockpit_counts = counts(before, "sim-cockpit")
    sim_http.post("/__sim__/faults", json={"cockpit": {"error_rate": 1.0}}).raise_for_status()

    def cockpit_down(families) -> bool:
        return by_account(families, "joytui_account_up").get(("cockpit", "sim-cockpit")) == 0

    failing = exporter.wait_for(cockpit_down)
    up = by_account(failing, "joytui_account_up")
    assert {k: v for k, v in up.items() if k[0] != "cockpit"} == {
        k: 1.0 for k in ACCOUNTS if k[0] != "cockpit"
    }
    # Sim time moves at speed 1: compare only the kinds and their totals, which do not.
    kept = counts(failing, "sim-cockpit")
    assert set(kept) == set(cockpit_counts)
    assert sum(kept.values()) == sum(cockpit_counts.values()) > 0
    cockpit_series = [
        s
        for s in samples(failing, "joytui_resource_status")
        if s.labels["account"] == "sim-cockpit"
    ]
    assert len(cockpit_series) == sum(kept.values())  # stale resources stay exported
    errors = {
        s.labels["kind"]: s.value
        for s in samples(failing, "joytui_account_poll_errors")
        if s.labels["account"] == "sim-cockpit" and s.name.endswith("_total")
    }
    assert errors["server"] >= 1 and errors["auth"] == 0

    time.sleep(1.5)
    aged = by_account(exporter.families(), "joytui_account_data_age_seconds")
    assert aged[("cockpit", "sim-cockpit")] >= 1.5  # the data's age keeps growing

    httpx.delete(f"{sim.base_url}/__sim__/faults").raise_for_status()
    exporter.wait_for(all_up, timeout=30)  # it recovers by itself
    assert exporter.stop() == 0


def test_no_secret_and_no_control_character_anywhere(sim, sim_http, tmp_path, exporters):
    sim_http.post(
        "/__sim__/faults", json={p: {"hostile_names": True} for p in ("cockpit", "instances")}
    ).raise_for_status()
    exporter = exporters(write_config(sim, tmp_path / "config.toml"))
    families = exporter.wait_for(all_up)
    sim_http.post("/__sim__/faults", json={"joy": {"auth_fail": True}}).raise_for_status()
    exporter.wait_for(lambda f: by_account(f, "joytui_account_up").get(("joy", "sim-joy")) == 0)
    names = {s.labels["name"] for s in samples(families, "joytui_resource_status")}
    assert "\\x1b[2J" in names  # shown as an escape, never obeyed
    assert "\\u202eexe.gnp" in names
    assert exporter.stop() == 0
    for text in [*exporter.scrapes, exporter.stderr]:
        for secret in SECRETS:
            assert secret not in text
        assert not any(ch in text for ch in ("\x1b", "\x07", "\r", "\b", "\u202e", "\u200b"))


def test_past_max_resource_series_only_counts(sim, tmp_path, exporters):
    exporter = exporters(write_config(sim, tmp_path / "config.toml", max_resource_series=10))
    families = exporter.wait_for(all_up)
    assert "joytui_resource_status" not in families
    assert "joytui_resource_cpu_ratio" not in families
    assert sum(s.value for s in samples(families, "joytui_resources")) > 10
    assert exporter.stop() == 0
    said = [line for line in exporter.stderr.splitlines() if "max_resource_series" in line]
    assert len(said) == 1 and "counts only" in said[0]


def test_listen_beyond_loopback_warns(sim, tmp_path, exporters):
    from .conftest import free_port

    port = free_port()
    exporter = exporters(
        write_config(sim, tmp_path / "config.toml"), listen=f"0.0.0.0:{port}", port=port
    )
    assert exporter.stop() == 0
    assert "no authentication" in exporter.stderr


def test_bad_listen_is_bad_usage(tmp_path, sim):
    config = write_config(sim, tmp_path / "config.toml")
    for listen in ("127.0.0.1:notaport", ":9877", "127.0.0.1:70000"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "joytui",
                "exporter",
                "--config",
                str(config),
                "--listen",
                listen,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, (listen, done.stderr)
        assert done.stderr.startswith(f"joytui: --listen {listen}:")


def test_listen_parsing():
    assert parse_listen("127.0.0.1:9877") == ("127.0.0.1", 9877)
    assert parse_listen("[::1]:9") == ("::1", 9)
    assert parse_listen("9100") == ("127.0.0.1", 9100)
    with pytest.raises(ListenError):
        parse_listen(":9100")
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("box")


def test_error_kinds():
    from joytui.providers.errors import AuthError, ServerError, TransportError

    assert error_kind(AuthError("no", provider="joy", account="a")) == "auth"
    assert error_kind(ServerError("no", provider="joy", account="a")) == "server"
    assert error_kind(TransportError("no", provider="joy", account="a")) == "transport"
    assert error_kind(RuntimeError("surprise")) == "other" and error_kind(None) == "other"


def test_the_collector_reads_the_store_at_scrape_time():
    now = [1000.0]
    store = Store(clock=lambda: now[0])
    store.register("instances", "bots")
    collector = StoreCollector(store, max_resource_series=100, clock=lambda: now[0])
    first = {m.name: m for m in collector.collect()}
    assert [s.value for s in first["joytui_account_up"].samples] == [0.0]  # waiting
    assert not first["joytui_account_data_age_seconds"].samples
    resource = Resource(
        provider="instances",
        account="bots",
        kind="instance",
        id="i-1",
        name="web\x1b]0;x\x07",
        status=Status.RUNNING,
        cpu_percent=50.0,
        memory_used=1024,
    )
    store.apply_snapshot(
        Snapshot(
            provider="instances",
            account="bots",
            resources=[resource],
            totals=Totals.from_resources("instances", "bots", [resource]),
            fetched_at=now[0],
        )
    )
    now[0] += 7
    got = {m.name: m for m in collector.collect()}
    assert [s.value for s in got["joytui_account_up"].samples] == [1.0]
    assert [s.value for s in got["joytui_account_data_age_seconds"].samples] == [7.0]
    (status,) = got["joytui_resource_status"].samples
    assert status.labels["name"] == "web\\x1b]0;x\\x07" and status.labels["status"] == "running"
    assert [s.value for s in got["joytui_resource_cpu_ratio"].samples] == [0.5]
    assert [s.value for s in got["joytui_resource_memory_bytes"].samples] == [1024.0]


def test_the_exporter_imports_no_ui():
    code = (
        "import sys, joytui.exporter; "
        "bad = [m for m in sys.modules if m.split('.')[0] == 'textual' or m.startswith('joytui.ui')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
