"""The names faults (names_file, hostile_names): what each provider shows its resources as."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest

from joytui.sim.app import Simulator
from joytui.sim.base import SimOptions
from joytui.sim.cockpit import DEMO_PASSWORD, DEMO_USERNAME
from joytui.sim.faults import HOSTILE_NAMES, FaultSpecError, FaultState, parse_fault_spec
from joytui.sim.instances import DEMO_API_KEY
from joytui.sim.jamsocket import DEMO_ACCOUNT, DEMO_TOKEN
from joytui.sim.joy import DEMO_KEY
from joytui.sim.joy import DEMO_TOKEN as JOY_TOKEN
from tests.conftest import set_faults

PROVIDERS = ("joy", "cockpit", "jamsocket", "instances")
KEY = {"X-API-Key": DEMO_API_KEY}
BEARER = {"Authorization": f"Bearer {DEMO_TOKEN}"}
JOY = {"x-api-token": JOY_TOKEN, "x-api-key": DEMO_KEY}
SERVICES = f"/v2/account/{DEMO_ACCOUNT}/services"


@pytest.fixture
def sim_options() -> SimOptions:
    return SimOptions(seed=7, machines=20, speed=0.0, incidents=False)


def every_provider(**knobs) -> dict:
    return {p: knobs for p in PROVIDERS}


def joy(client: httpx.Client, body: dict) -> dict:
    r = client.post("/api/connect/", headers=JOY, json=body)
    doc = r.json()
    return json.loads(doc) if isinstance(doc, str) else doc  # the spec's double encoding


def joy_names(client: httpx.Client) -> list[tuple[str, str]]:
    """(qemuConfig.name, Current.name) of every machine, in list order."""
    listed = joy(client, {"type": "machine_list"})["value"]
    out = []
    for item in listed:
        info = joy(client, {"type": "machine_info", "instance_token": item["ihash"]})
        out.append((info["qemuConfig"]["name"], info["Current"]["name"]))
    return out


def cockpit_token(client: httpx.Client) -> dict:
    r = client.post(
        "/api/v1/auth/login", json={"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
    )
    return {"Authorization": f"Bearer {r.json()['token']}"}


def cockpit_names(client: httpx.Client) -> tuple[list[str], list[str]]:
    auth = cockpit_token(client)
    hosts = client.get("/api/v1/hosts", headers=auth).json()["hosts"]
    vms = client.get("/api/v1/vms", headers=auth).json()["vms"]
    return [h["hostname"] for h in hosts], [v["name"] for v in vms]


def instance_names(client: httpx.Client) -> list[str]:
    return [i["name"] for i in client.get("/api/instances", headers=KEY).json()]


def service_path(name: str, tail: str = "") -> str:
    return f"/v2/service/{DEMO_ACCOUNT}/{quote(name, safe='')}{tail}"


def cycled(names, count: int) -> list[str]:
    return [names[i % len(names)] for i in range(count)]


# -- the knobs ----------------------------------------------------------------------------------


def test_names_file_must_be_readable_utf8(tmp_path):
    state = FaultState()
    with pytest.raises(FaultSpecError, match="No such file"):
        state.update(parse_fault_spec(f"joy.names_file={tmp_path / 'missing.txt'}"))
    latin = tmp_path / "latin1.txt"
    latin.write_bytes(b"caf\xe9\n")
    with pytest.raises(FaultSpecError, match="not UTF-8"):
        state.update(parse_fault_spec(f"joy.names_file={latin}"))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(FaultSpecError, match="no names"):
        state.update(parse_fault_spec(f"joy.names_file={empty}"))
    assert state.get("joy").names_file is None


def test_names_file_lines_split_on_newline_only(tmp_path):
    path = tmp_path / "names.txt"
    path.write_bytes("alpha\r\n\ncaf\u00e9\u2028delta\n".encode())
    state = FaultState()
    state.update(parse_fault_spec(f"instances.names_file={path},instances.hostile_names"))
    assert state.names("instances") == ("alpha\r", "", "caf\u00e9\u2028delta")  # the file wins
    assert state.names("joy") is None
    state.update(parse_fault_spec("instances.names_file=off"))
    assert state.names("instances") == HOSTILE_NAMES


def test_hostile_names_are_the_promised_ones():
    joined = "".join(HOSTILE_NAMES)
    for part in ("\x1b[2J", "\x1b]0;pwned-title\x07", "\r", "\b", "\t", "\n", "[red]x[/red]"):
        assert part in joined
    assert "bots[/red]" in HOSTILE_NAMES and "[link=file:///etc]" in HOSTILE_NAMES
    assert "\u202e" in joined and "\u200b" in joined and "" in HOSTILE_NAMES
    assert max(map(len, HOSTILE_NAMES)) == 300


def test_bad_names_file_is_a_400_at_run_time(sim_http, tmp_path):
    r = sim_http.post("/__sim__/faults", json={"joy": {"names_file": str(tmp_path / "nope")}})
    assert r.status_code == 400 and "names_file" in r.json()["error"]


def test_names_file_on_the_command_line(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("one\ntwo\n")
    sim = Simulator(SimOptions(seed=1, machines=3), faults=f"*.names_file={path}")
    assert all(sim.faults.names(p) == ("one", "two") for p in PROVIDERS)


# -- every provider shows them ------------------------------------------------------------------


def test_hostile_names_everywhere_as_valid_json(sim_http):
    set_faults(sim_http, **every_provider(hostile_names=True))
    assert joy_names(sim_http) == [(n, n) for n in cycled(HOSTILE_NAMES, 20)]
    hosts, vms = cockpit_names(sim_http)
    assert hosts == cycled(HOSTILE_NAMES, 4) and vms == cycled(HOSTILE_NAMES, 14)
    assert instance_names(sim_http) == cycled(HOSTILE_NAMES, 12)
    services = sim_http.get(SERVICES, headers=BEARER).json()["services"]
    assert sorted(services) == sorted(HOSTILE_NAMES[: len(services)])
    # json.dumps escaped the control characters: no raw ESC, CR or BEL reaches the wire.
    for path, kwargs in (("/api/instances", {"headers": KEY}), (SERVICES, {"headers": BEARER})):
        raw = sim_http.get(path, **kwargs).content
        assert not any(c in raw for c in (b"\x1b", b"\r", b"\x07", b"\x08", b"\n"))
        assert b"\\u001b[2J" in raw


def test_names_file_is_cycled_and_switches_back(sim_http, tmp_path):
    before = instance_names(sim_http), cockpit_names(sim_http), joy_names(sim_http)
    path = tmp_path / "names.txt"
    path.write_text("north\nsouth\neast\n", encoding="utf-8")
    set_faults(sim_http, **every_provider(names_file=str(path)))
    names = ("north", "south", "east")
    assert instance_names(sim_http) == cycled(names, 12)
    assert cockpit_names(sim_http) == (cycled(names, 4), cycled(names, 14))
    assert [q for q, _ in joy_names(sim_http)] == cycled(names, 20)
    path.write_text("west\n", encoding="utf-8")  # read again when the file changes
    assert instance_names(sim_http) == ["west"] * 12
    sim_http.delete("/__sim__/faults")
    assert (instance_names(sim_http), cockpit_names(sim_http), joy_names(sim_http)) == before


def test_names_a_client_chose_are_kept(sim_http):
    set_faults(sim_http, instances={"hostile_names": True})
    r = sim_http.post("/api/instances", headers=KEY, json={"name": "my-own"})
    assert r.status_code == 201 and r.json()["name"] == "my-own"
    assert instance_names(sim_http)[-1] == "my-own"


# -- Jamsocket: names that are ids --------------------------------------------------------------


def test_jamsocket_hostile_service_names_still_route(sim_http):
    set_faults(sim_http, jamsocket={"hostile_names": True})
    services = sim_http.get(SERVICES, headers=BEARER).json()["services"]
    assert "" in services and "bots[/red]" in services  # an empty one, and one with a slash
    seen_keys = set()
    for name in services:
        r = sim_http.get(service_path(name), headers=BEARER)
        assert r.status_code == 200 and r.json()["name"] == name
        assert r.json()["image_name"].endswith(f"/{name}")
        images = sim_http.get(service_path(name, "/images"), headers=BEARER).json()["images"]
        assert images and all(i["repository"] == f"{DEMO_ACCOUNT}/{name}" for i in images)
        backends = sim_http.get(service_path(name, "/backends"), headers=BEARER).json()
        assert {b["service_name"] for b in backends["backends"]} == {name}
        seen_keys |= {b["key"] for b in backends["backends"] if b["key"] is not None}
    assert seen_keys and seen_keys <= {
        f"{n}~{r}" if r > 1 else n for n in HOSTILE_NAMES for r in range(1, 4)
    }
    running = sim_http.get(f"/v2/account/{DEMO_ACCOUNT}/backends", headers=BEARER).json()
    assert {b["service_name"] for b in running["running_backends"]} <= set(services)


def test_jamsocket_connect_finds_a_holder_by_its_shown_key(sim_http):
    set_faults(sim_http, jamsocket={"hostile_names": True})
    running = sim_http.get(f"/v2/account/{DEMO_ACCOUNT}/backends", headers=BEARER).json()
    holder = next(b for b in running["running_backends"] if b["key"] is not None)
    r = sim_http.post(
        service_path(holder["service_name"], "/connect"),
        headers=BEARER,
        json={"key": holder["key"], "spawn": False},
    )
    assert r.status_code == 200, r.text
    assert r.json()["backend_id"] == holder["id"] and r.json()["spawned"] is False


def test_jamsocket_shown_names_are_unique_and_leave_client_names_alone(sim_http, tmp_path):
    path = tmp_path / "one.txt"
    path.write_text("same\n")
    assert sim_http.post(
        f"/v2/account/{DEMO_ACCOUNT}/service", headers=BEARER, json={"name": "same"}
    ).is_success
    set_faults(sim_http, jamsocket={"names_file": str(path)})
    services = sim_http.get(SERVICES, headers=BEARER).json()["services"]
    assert len(services) == len(set(services)) and "same" in services
    assert {"same~2", "same~3"} <= set(services)  # the client's service keeps "same"
    r = sim_http.get(service_path("same"), headers=BEARER).json()
    assert r["last_image_digest"] is None  # the client's own, still imageless
    taken = sim_http.post(
        f"/v2/account/{DEMO_ACCOUNT}/service", headers=BEARER, json={"name": "same"}
    )
    assert taken.status_code == 409
