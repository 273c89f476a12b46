"""The simulated Joy /api/connect API, over real HTTP against the simulator."""

import json
import re
from collections import Counter

import httpx
import pytest

from joytui.sim.app import Simulator
from joytui.sim.base import SimContext, SimOptions
from joytui.sim.clock import SimClock
from joytui.sim.faults import FaultState
from joytui.sim.joy import DEMO_KEY, DEMO_TOKEN, NODES, JoySim
from joytui.sim.server import SimServer
from tests.conftest import advance, set_faults

AUTH = {"x-api-token": DEMO_TOKEN, "x-api-key": DEMO_KEY}
EPOCH = 1_760_000_000.0
REFUSED = {
    "success": "false",
    "error": "invalid_api_credentials",
    "message": "Token or key is invalid or disabled.",
}
LIST_KEYS = {
    "id",
    "machine",
    "machine_node",
    "ip",
    "platform",
    "price",
    "extime",
    "expire",
    "ram",
    "core",
    "storage",
    "ihash",
}
CURRENT_KEYS = {
    "name",
    "netout",
    "uptime",
    "agent",
    "running-machine",
    "diskread",
    "diskwrite",
    "disk",
    "maxdisk",
    "running-qemu",
    "clipboard",
    "cpu",
    "vmid",
    "maxmem",
    "cpus",
    "nics",
    "tags",
    "pid",
    "netin",
    "ha",
    "status",
    "mem",
    "freemem",
    "qmpstatus",
    "balloon",
}
COUNTERS = ("netin", "netout", "diskread", "diskwrite")
SUCCESS_VALUES = {
    "start": "machine_already_started",
    "shutdown": "shutdown_success",
    "force_shutdown": "stopped_successfully",
    "reboot": "reboot_success",
    "force_reboot": "power_reset_success",
    "pause": "machine_paused",
    "hibernate": "machine_hibernated",
    "resume": "machine_already_resumed",
}


@pytest.fixture
def sim_options() -> SimOptions:
    """A frozen clock, so only advance() moves time and transitions stay visible."""
    return SimOptions(seed=7, machines=40, speed=0.0, epoch=EPOCH, incidents=False)


@pytest.fixture
def sim(sim_options):
    """The simulator with Joy's quirks off: answers are spec-shaped unless a test turns them on."""
    with SimServer(sim_options, faults="joy.quirk_rate=0") as server:
        yield server


@pytest.fixture(scope="module")
def shared():
    """One simulator for the tests that only read (a server costs ~0.2 s to start and stop)."""
    options = SimOptions(seed=7, machines=40, speed=0.0, epoch=EPOCH, incidents=False)
    with SimServer(options, faults="joy.quirk_rate=0") as server:
        yield server


@pytest.fixture
def shared_http(shared):
    """A client on the shared simulator."""
    with httpx.Client(base_url=shared.base_url, timeout=10) as client:
        yield client


def connect(client, type_, headers=AUTH, **fields):
    body = {"type": type_, "init_ip": "127.0.0.1", "init_browser": "pytest", **fields}
    return client.post("/api/connect/", json=body, headers=headers)


def parsed(response):
    """Parse once; if that gives a string, parse again (the spec's advice to clients)."""
    doc = response.json()
    return json.loads(doc) if isinstance(doc, str) else doc


def machine_list(client):
    response = connect(client, "machine_list")
    assert response.status_code == 200
    return parsed(response)["value"]


def current(client, ihash):
    response = connect(client, "machine_info", instance_token=ihash)
    assert response.status_code == 200
    return parsed(response)["Current"]


def change(client, ihash, state):
    return connect(client, "change_machine_state", instance_token=ihash, machine_state=state)


def running(client, count=1):
    """The first ``count`` running machines, asking machine_info only until they are found."""
    found = []
    for m in machine_list(client):
        if current(client, m["ihash"])["status"] == "running":
            found.append(m["ihash"])
            if len(found) == count:
                return found
    raise AssertionError(f"fewer than {count} running machines")


# -- protocol -------------------------------------------------------------------------------------


def test_refuses_missing_or_wrong_credentials(sim_http):
    for headers in (
        {},
        {"x-api-token": DEMO_TOKEN},
        {"x-api-key": DEMO_KEY},
        {"x-api-token": "JOY-API-WRONG#API", "x-api-key": DEMO_KEY},
        {"x-api-token": DEMO_TOKEN, "x-api-key": DEMO_KEY + "x"},
    ):
        response = connect(sim_http, "dashboardinfo", headers=headers)
        assert response.status_code == 401
        assert response.json() == REFUSED
    assert connect(sim_http, "dashboardinfo").status_code == 200
    set_faults(sim_http, joy={"auth_fail": True})
    response = connect(sim_http, "dashboardinfo")
    assert response.status_code == 401 and response.json() == REFUSED


def test_rejects_bad_bodies_and_types(shared_http):
    response = shared_http.post("/api/connect/", content=b"{not json", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json" and response.json()["success"] == "false"
    response = shared_http.post("/api/connect/", json=["machine_list"], headers=AUTH)
    assert response.status_code == 400 and response.json()["error"] == "invalid_json"
    for body in ({}, {"type": "reboot_everything"}, {"type": 3}):
        response = shared_http.post("/api/connect/", json=body, headers=AUTH)
        assert response.status_code == 400
        assert response.json()["error"] == "unsupported_type"
        assert response.headers["content-type"].startswith("application/json")


def test_path_without_slash_and_without_init_fields(shared_http):
    response = shared_http.post("/api/connect", json={"type": "machine_list"}, headers=AUTH)
    assert response.status_code == 200
    assert len(response.json()["value"]) == 40


# -- shapes ---------------------------------------------------------------------------------------


def test_dashboardinfo_derives_from_the_fleet(shared_http):
    response = connect(shared_http, "dashboardinfo")
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert set(doc) == {
        "success",
        "amount",
        "instances",
        "iram",
        "icore",
        "hostings",
        "databases",
        "dns_domains",
        "cdn_domains",
        "total",
    }
    assert doc["success"] == "true"
    assert isinstance(doc["amount"], str) and float(doc["amount"]) > 0
    fleet = machine_list(shared_http)
    assert doc["instances"] == len(fleet) == 40
    assert doc["iram"] == sum(m["ram"] for m in fleet)
    assert doc["icore"] == sum(m["core"] for m in fleet)
    parts = ("instances", "hostings", "databases", "dns_domains", "cdn_domains")
    assert doc["total"] == sum(doc[k] for k in parts)
    assert all(type(doc[k]) is int for k in (*parts, "iram", "icore", "total"))


def test_account_info_carries_the_real_credentials(shared_http):
    doc = connect(shared_http, "account_info").json()
    assert doc["success"] == "true"
    assert {"amount", "email", "verify", "ip", "time", "twofa", "username", "full_name"} <= set(doc)
    assert {"gender", "profile_pic", "api_token"} <= set(doc)
    assert doc["amount"].startswith("$ ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", doc["time"])
    token = doc["api_token"]
    assert token["api_token"] == DEMO_TOKEN and token["api_key"] == DEMO_KEY
    assert token["status"] == "enabled" and token["timestamp"] is None
    assert set(token) == {
        "id",
        "api_token",
        "api_key",
        "timestamp",
        "api_date",
        "api_reg_ip",
        "status",
    }


def test_machine_list_has_spec_fields_and_no_status(shared_http):
    response = connect(shared_http, "machine_list")
    doc = response.json()
    assert doc["success"] == "true"
    fleet = doc["value"]
    assert len(fleet) == 40
    for m in fleet:
        assert set(m) == LIST_KEYS  # notably no status: that comes from machine_info
        assert re.fullmatch(r"[0-9a-f]{32}", m["ihash"])
        assert type(m["id"]) is int and m["machine"].isdigit()
        assert m["machine_node"] in NODES
        assert m["platform"] in {"ubuntu", "debian", "windows", "centos"}
        assert m["price"] is None or isinstance(m["price"], int | float)
        assert isinstance(m["extime"], str) and m["extime"].isdigit()
        assert m["expire"] is None or isinstance(m["expire"], str)
        assert all(type(m[k]) is int and m[k] > 0 for k in ("ram", "core", "storage"))
    assert len({m["ihash"] for m in fleet}) == 40
    assert len({m["machine"] for m in fleet}) == 40
    assert len({m["platform"] for m in fleet}) > 1


def test_machine_info_shape(shared_http):
    item = machine_list(shared_http)[0]
    response = connect(shared_http, "machine_info", instance_token=item["ihash"])
    doc = response.json()
    assert set(doc) == {"success", "value", "Current", "qemuConfig", "osinfo", "ip", "extime", "os"}
    assert doc["success"] is True and doc["value"] == item["ihash"]
    assert doc["osinfo"] is None
    assert (doc["ip"], doc["extime"], doc["os"]) == (item["ip"], item["extime"], item["platform"])
    cur = doc["Current"]
    assert set(cur) == CURRENT_KEYS
    assert cur["vmid"] == int(item["machine"]) and cur["cpus"] == item["core"]
    assert cur["maxmem"] == item["ram"] * 2**30 == cur["balloon"]
    assert cur["maxdisk"] == item["storage"] * 2**30
    assert cur["nics"] == {f"tap{cur['vmid']}i0": {"netin": cur["netin"], "netout": cur["netout"]}}
    assert 0 <= cur["cpu"] <= 1 and cur["tags"] == item["ip"]
    qemu = doc["qemuConfig"]
    assert qemu["memory"] == str(item["ram"] * 1024)
    assert qemu["sockets"] * qemu["cores"] == item["core"]
    assert qemu["name"] == cur["name"] and str(cur["vmid"]) in qemu["scsi0"]
    assert {"digest", "net0", "smbios1", "ostype", "boot", "vga", "agent"} <= set(qemu)


def test_fleet_has_a_spread_of_states(shared, shared_http):
    summary = shared_http.get("/__sim__/").json()["providers"]["joy"]
    counts = summary["by_status"]
    assert summary["machines"] == sum(counts.values()) == 40
    assert set(counts) <= {"running", "stopped", "paused", "suspended", "error", "starting"}
    assert counts["running"] > 20 and len(counts) >= 3
    # machine_info reports what the simulator holds (a sample, to keep the test quick).
    records = shared.simulator.providers["joy"].machines
    sample = [m for m in records if m.status != "running"][:6] + records[:4]
    for m in sample:
        cur = current(shared_http, m.ihash)
        assert cur["status"] == m.status and cur["vmid"] == m.vmid


def test_unknown_and_missing_tokens(shared_http):
    for response in (
        connect(shared_http, "machine_info", instance_token="0" * 32),
        change(shared_http, "f" * 32, "start"),
    ):
        assert response.status_code == 404
        assert response.json() == {"success": False, "error": "machine_not_found"}
    response = connect(shared_http, "machine_info")
    assert response.status_code == 400
    assert response.json() == {"success": False, "error": "instance_token_required"}


def test_demo_account(shared):
    account = shared.simulator.config(shared.base_url)["joy"][0]
    assert account == {
        "name": "sim-joy",
        "base_url": shared.base_url,
        "api_token": DEMO_TOKEN,
        "api_key": DEMO_KEY,
    }


# -- power states ---------------------------------------------------------------------------------


def test_every_state_answers_its_success_value(sim_http):
    (ihash,) = running(sim_http)
    for state, value in SUCCESS_VALUES.items():
        response = change(sim_http, ihash, state)
        assert response.status_code == 200
        assert response.json() == {"success": True, "value": value}
    for bad in ({"machine_state": "explode"}, {"machine_state": None}, {}):
        response = connect(sim_http, "change_machine_state", instance_token=ihash, **bad)
        assert response.status_code == 400
        assert response.json() == {"success": False, "error": "invalid_state"}


@pytest.mark.parametrize(
    ("steps", "action", "transitional", "settled", "qmp"),
    [
        ((), "pause", "suspending", "paused", "paused"),
        (("pause",), "resume", "resuming", "running", "running"),
        ((), "hibernate", "suspending", "suspended", "suspended"),
        (("hibernate",), "resume", "resuming", "running", "running"),
        ((), "shutdown", "stopping", "stopped", "stopped"),
        (("shutdown",), "start", "starting", "running", "running"),
        ((), "force_shutdown", "stopping", "stopped", "stopped"),
        ((), "reboot", "rebooting", "running", "running"),
        (("force_shutdown",), "force_reboot", "rebooting", "running", "running"),
    ],
)
def test_transition_then_settle(sim_http, steps, action, transitional, settled, qmp):
    (ihash,) = running(sim_http)
    for step in steps:
        change(sim_http, ihash, step)
        advance(sim_http, 30)
    assert change(sim_http, ihash, action).status_code == 200
    assert current(sim_http, ihash)["status"] == transitional
    advance(sim_http, 30)
    cur = current(sim_http, ihash)
    assert (cur["status"], cur["qmpstatus"]) == (settled, qmp)
    if settled == "running":
        assert 0 < cur["uptime"] <= 30  # it came up during the advance
    else:
        assert cur["uptime"] == 0 and cur["cpu"] == 0


def test_forced_actions_settle_faster(sim_http):
    graceful, forced, graceful_reboot, forced_reboot = running(sim_http, 4)
    change(sim_http, graceful, "shutdown")
    change(sim_http, forced, "force_shutdown")
    change(sim_http, graceful_reboot, "reboot")
    change(sim_http, forced_reboot, "force_reboot")
    advance(sim_http, 3)
    assert current(sim_http, graceful)["status"] == "stopping"
    assert current(sim_http, forced)["status"] == "stopped"
    assert current(sim_http, graceful_reboot)["status"] == "rebooting"
    assert current(sim_http, forced_reboot)["status"] == "running"


def test_actions_that_do_not_apply_change_nothing_and_a_new_one_supersedes(sim_http):
    (ihash,) = running(sim_http)
    assert change(sim_http, ihash, "resume").json()["value"] == "machine_already_resumed"
    assert current(sim_http, ihash)["status"] == "running"
    change(sim_http, ihash, "shutdown")
    change(sim_http, ihash, "start")
    assert current(sim_http, ihash)["status"] == "starting"
    advance(sim_http, 30)
    assert current(sim_http, ihash)["status"] == "running"


def test_counters_grow_only_while_running_and_uptime_ticks(sim_http):
    (ihash,) = running(sim_http)
    before = current(sim_http, ihash)
    advance(sim_http, 600)
    after = current(sim_http, ihash)
    assert all(after[k] > before[k] for k in COUNTERS)
    assert after["uptime"] == pytest.approx(before["uptime"] + 600, abs=1)
    assert after["nics"][f"tap{after['vmid']}i0"] == {
        "netin": after["netin"],
        "netout": after["netout"],
    }

    change(sim_http, ihash, "force_shutdown")
    advance(sim_http, 10)
    stopped = current(sim_http, ihash)
    assert stopped["status"] == "stopped" and stopped["uptime"] == 0 and stopped["pid"] is None
    assert all(stopped[k] >= after[k] for k in COUNTERS)
    advance(sim_http, 3600)
    later = current(sim_http, ihash)
    assert all(later[k] == stopped[k] for k in COUNTERS)
    assert later["uptime"] == 0 and later["cpu"] == 0 and later["mem"] == 0

    change(sim_http, ihash, "start")
    advance(sim_http, 10)
    up = current(sim_http, ihash)
    advance(sim_http, 600)
    again = current(sim_http, ihash)
    assert up["status"] == again["status"] == "running"
    assert all(again[k] > up[k] >= later[k] for k in COUNTERS)
    assert again["uptime"] == pytest.approx(up["uptime"] + 600, abs=1)
    assert 600 <= again["uptime"] <= 610


def test_fail_control_route(sim_http):
    (ihash,) = running(sim_http)
    assert sim_http.post(f"/__sim__/joy/fail/{ihash}").status_code == 200
    cur = current(sim_http, ihash)
    assert (cur["status"], cur["qmpstatus"], cur["uptime"]) == ("error", "internal-error", 0)
    assert sim_http.post(f"/__sim__/joy/fail/{'0' * 32}").status_code == 404
    change(sim_http, ihash, "start")
    advance(sim_http, 30)
    assert current(sim_http, ihash)["status"] == "running"


# -- quirks ---------------------------------------------------------------------------------------


def test_quirk_rate_zero_answers_exactly_as_the_spec(shared_http):
    (ihash,) = running(shared_http)
    for _ in range(3):
        assert connect(shared_http, "dashboardinfo").json()["success"] == "true"
        listing = connect(shared_http, "machine_list").json()
        assert listing["success"] == "true" and type(listing["value"][0]["ram"]) is int
        info = connect(shared_http, "machine_info", instance_token=ihash).json()
        assert info["success"] is True and type(info["Current"]["netin"]) is int
        assert change(shared_http, ihash, "start").json()["success"] is True


def test_quirk_rate_one_makes_every_answer_quirky(sim_http):
    (ihash,) = running(sim_http)
    set_faults(sim_http, joy={"quirk_rate": 1.0})
    answers = {
        "dashboardinfo": connect(sim_http, "dashboardinfo"),
        "account_info": connect(sim_http, "account_info"),
        "machine_list": connect(sim_http, "machine_list"),
        "machine_info": connect(sim_http, "machine_info", instance_token=ihash),
        "change_machine_state": change(sim_http, ihash, "start"),
        "not_found": connect(sim_http, "machine_info", instance_token="0" * 32),
    }
    docs = {}
    for name, response in answers.items():
        assert response.headers["content-type"].startswith("application/json")
        first = response.json()
        assert isinstance(first, str), name  # encoded twice
        docs[name] = json.loads(first)
        assert isinstance(docs[name], dict), name

    dash = docs["dashboardinfo"]
    assert dash["success"] is True  # flipped from "true"
    assert dash["instances"] == "40" and int(dash["total"]) >= 40
    assert docs["account_info"]["success"] is True and docs["account_info"]["verify"] == "1"
    listing = docs["machine_list"]
    assert listing["success"] is True and len(listing["value"]) == 40
    for m in listing["value"]:
        assert all(
            isinstance(m[k], str) and m[k].isdigit() for k in ("id", "ram", "core", "storage")
        )
    info = docs["machine_info"]
    assert info["success"] == "true"  # flipped from true
    cur = info["Current"]
    assert all(isinstance(cur[k], str) for k in (*COUNTERS, "uptime", "maxmem", "vmid", "cpu"))
    assert 0 <= float(cur["cpu"]) <= 1 and int(cur["netin"]) > 0
    assert isinstance(info["qemuConfig"]["memory"], str) and isinstance(info["extime"], str)
    assert docs["change_machine_state"] == {"success": "true", "value": "machine_already_started"}
    assert docs["not_found"] == {"success": "false", "error": "machine_not_found"}
    assert answers["not_found"].status_code == 404


def test_partial_quirk_rate_mixes_plain_and_quirky_answers(sim_http):
    set_faults(sim_http, joy={"quirk_rate": 0.5})
    kinds = Counter()
    for _ in range(12):
        first = connect(sim_http, "machine_list").json()
        doc = json.loads(first) if isinstance(first, str) else first
        kinds["double" if isinstance(first, str) else "plain"] += 1
        kinds[f"success-{type(doc['success']).__name__}"] += 1
        kinds[f"ram-{type(doc['value'][0]['ram']).__name__}"] += 1
        assert len(doc["value"]) == 40
    assert kinds["double"] and kinds["plain"]
    assert kinds["success-bool"] and kinds["success-str"]
    assert kinds["ram-int"] and kinds["ram-str"]


# -- seeds, incidents, size -----------------------------------------------------------------------


def test_same_seed_same_machine_list_and_another_seed_another(shared_http):
    bodies = [connect(shared_http, "machine_list").content]  # seed 7
    for seed in (7, 8):
        options = SimOptions(seed=seed, machines=40, speed=0.0, epoch=EPOCH, incidents=False)
        with (
            SimServer(options, faults="joy.quirk_rate=0") as server,
            httpx.Client(base_url=server.base_url) as client,
        ):
            response = connect(client, "machine_list")
            assert response.status_code == 200
            bodies.append(response.content)
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]
    first, other = json.loads(bodies[0])["value"], json.loads(bodies[2])["value"]
    assert {m["ihash"] for m in first}.isdisjoint(m["ihash"] for m in other)


def run_six_hours(incidents):
    """Statuses of a fresh fleet before and after six simulated hours, read off the simulator."""
    options = SimOptions(seed=11, machines=60, speed=0.0, epoch=EPOCH, incidents=incidents)
    simulator = Simulator(options)
    joy = simulator.providers["joy"]
    before = [m.status for m in joy.machines]
    simulator.clock.advance(6 * 3600)
    simulator.advance()
    return before, [(m.ihash, m.status) for m in joy.machines]


def test_incidents_happen_and_are_seed_deterministic():
    before, after = run_six_hours(incidents=True)
    _, again = run_six_hours(incidents=True)
    assert after == again
    statuses_after = [status for _, status in after]
    assert statuses_after.count("error") > before.count("error") + 3
    changed = [i for i, (a, b) in enumerate(zip(before, statuses_after, strict=True)) if a != b]
    assert all(statuses_after[i] in ("error", "running") for i in changed)  # "starting" settles


def test_no_incidents_when_they_are_off():
    before, after = run_six_hours(incidents=False)
    assert [status for _, status in after].count("error") == before.count("error")


@pytest.mark.parametrize("sim_options", [SimOptions(seed=7, speed=0.0, epoch=EPOCH)])
def test_incidents_show_over_http(sim, sim_http):
    def errors():
        return sim_http.get("/__sim__/").json()["providers"]["joy"]["by_status"].get("error", 0)

    first = errors()
    advance(sim_http, 6 * 3600)
    assert errors() > first + 3
    failed = [m.ihash for m in sim.simulator.providers["joy"].machines if m.status == "error"]
    cur = current(sim_http, failed[-1])
    assert (cur["status"], cur["qmpstatus"]) == ("error", "internal-error")


def test_fifty_thousand_machines():
    ctx = SimContext(SimOptions(seed=3, machines=50_000), SimClock(), FaultState(3))
    joy = JoySim(ctx)
    assert len(joy.machines) == len(joy.by_hash) == 50_000
    assert len({m.vmid for m in joy.machines}) == 50_000
    summary = joy.summary()
    assert summary["machines"] == 50_000 and sum(summary["by_status"].values()) == 50_000
    assert summary["by_status"]["running"] > 30_000
