import json
import time

import httpx
import pytest

from joytui.sim.app import Simulator
from joytui.sim.base import SimOptions
from joytui.sim.faults import FaultSpecError, FaultState, parse_fault_spec
from joytui.sim.instances import DEMO_API_KEY
from tests.conftest import advance, set_faults

KEY = {"X-API-Key": DEMO_API_KEY}


def test_parse_fault_spec():
    updates = parse_fault_spec("joy.error_rate=0.2; cockpit.hang, *.latency_ms=5")
    assert updates["joy"] == {"error_rate": "0.2", "latency_ms": "5"}
    assert updates["cockpit"] == {"hang": "true", "latency_ms": "5"}
    assert updates["instances"] == {"latency_ms": "5"}
    state = FaultState()
    state.update(updates)
    assert state.get("joy").error_rate == 0.2 and state.get("cockpit").hang is True


@pytest.mark.parametrize("spec", ["nope.error_rate=1", "joy.bogus=1", "joy", "joy.error_rate=2"])
def test_bad_fault_spec(spec):
    with pytest.raises(FaultSpecError):
        FaultState().update(parse_fault_spec(spec))


def test_faults_endpoint_roundtrip(sim_http):
    assert sim_http.get("/__sim__/faults").json()["joy"]["error_rate"] == 0
    set_faults(sim_http, joy={"error_rate": 0.5})
    assert sim_http.get("/__sim__/faults").json()["joy"]["error_rate"] == 0.5
    r = sim_http.post("/__sim__/faults", json={"spec": "instances.rate_limit=1"})
    assert r.json()["instances"]["rate_limit"] == 1
    assert sim_http.post("/__sim__/faults", json={"joy": {"error_rate": 7}}).status_code == 400
    sim_http.delete("/__sim__/faults")
    assert sim_http.get("/__sim__/faults").json()["instances"]["rate_limit"] == 0


def test_rate_limit_has_retry_after(sim_http):
    set_faults(sim_http, instances={"rate_limit": 1.0, "retry_after": 7})
    r = sim_http.get("/api/instances", headers=KEY)
    assert r.status_code == 429 and r.headers["retry-after"] == "7"


def test_latency(sim_http):
    set_faults(sim_http, instances={"latency_ms": 300})
    start = time.monotonic()
    assert sim_http.get("/api/instances", headers=KEY).status_code == 200
    assert time.monotonic() - start >= 0.3


def test_hang_never_answers_and_clears(sim_http):
    set_faults(sim_http, instances={"hang": True})
    with pytest.raises(httpx.ReadTimeout):
        sim_http.get("/api/instances", headers=KEY, timeout=0.5)
    set_faults(sim_http, instances={"hang": False})
    assert sim_http.get("/api/instances", headers=KEY).status_code == 200


def test_truncated_json(sim_http):
    set_faults(sim_http, instances={"truncate_rate": 1.0})
    r = sim_http.get("/api/instances", headers=KEY)
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(r.content)
    with pytest.raises(ValueError):
        json.loads(r.content)


def test_mangled_json_differs_but_parses(sim_http):
    good = sim_http.get("/api/instances/does-not-exist", headers=KEY).json()
    set_faults(sim_http, instances={"mangle_rate": 1.0})
    bad = sim_http.get("/api/instances/does-not-exist", headers=KEY).json()
    assert bad != good


def test_sim_endpoints_are_never_faulted(sim_http):
    set_faults(sim_http, instances={"error_rate": 1.0}, joy={"hang": True})
    assert sim_http.get("/__sim__/").status_code == 200


def test_clock_advance_and_speed(sim_http):
    before = sim_http.get("/__sim__/clock").json()
    after = advance(sim_http, 100)
    assert after["elapsed"] - before["elapsed"] >= 100
    frozen = sim_http.post("/__sim__/clock", json={"speed": 0}).json()
    time.sleep(0.05)
    assert sim_http.get("/__sim__/clock").json()["elapsed"] == frozen["elapsed"]


def test_config_points_at_every_provider():
    sim = Simulator(SimOptions(seed=3))
    config = sim.config("http://127.0.0.1:1234")
    assert set(config) == {"refresh_seconds", "joy", "cockpit", "jamsocket", "instances"}
    assert all(config[p][0]["base_url"] == "http://127.0.0.1:1234" for p in ("joy", "instances"))
