"""The fault knobs that change what an answer looks like: any status, redirects, empty bodies,
invalid UTF-8, deep nesting and dripped bodies, over real HTTP on loopback."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from joytui.sim.answers import INVALID_UTF8, NESTED_DEPTH
from joytui.sim.app import Simulator
from joytui.sim.base import SimOptions
from joytui.sim.faults import FaultSpecError, FaultState, parse_fault_spec
from joytui.sim.instances import DEMO_API_KEY
from joytui.sim.jamsocket import DEMO_ACCOUNT, DEMO_TOKEN
from joytui.sim.joy import DEMO_KEY
from joytui.sim.joy import DEMO_TOKEN as JOY_TOKEN
from tests.conftest import set_faults

KEY = {"X-API-Key": DEMO_API_KEY}
BEARER = {"Authorization": f"Bearer {DEMO_TOKEN}"}
JOY = {"x-api-token": JOY_TOKEN, "x-api-key": DEMO_KEY}
MISSING = "/api/instances/inst_missing"
"""A small JSON answer (a 404) that never changes: good for comparing bodies byte for byte."""


def call(client: httpx.Client, provider: str, **kwargs) -> httpx.Response:
    """One ordinary authenticated read of ``provider``."""
    if provider == "joy":
        return client.post("/api/connect/", headers=JOY, json={"type": "account_info"}, **kwargs)
    if provider == "cockpit":
        return client.get("/api/v1/hosts", **kwargs)
    if provider == "jamsocket":
        return client.get(f"/v2/account/{DEMO_ACCOUNT}/services", headers=BEARER, **kwargs)
    return client.get("/api/instances", headers=KEY, **kwargs)


def test_new_knobs_are_off_by_default_and_take_a_spec():
    state = FaultState()
    knobs = state.get("joy")
    assert knobs.status_code is None and knobs.status_rate == 0 and knobs.drip_ms == 0
    assert knobs.empty_rate == knobs.invalid_utf8_rate == knobs.nested_rate == 0
    assert knobs.redirect_rate == 0 and knobs.redirect_to is None
    assert knobs.names_file is None and knobs.hostile_names is False
    state.update(
        parse_fault_spec(
            "joy.status_code=503,joy.status_rate=0.5,*.drip_ms=5,cockpit.redirect_to=/login,"
            "instances.hostile_names,jamsocket.nested_rate=1"
        )
    )
    assert state.get("joy").status_code == 503 and state.get("joy").status_rate == 0.5
    assert state.get("instances").drip_ms == 5 and state.get("instances").hostile_names
    assert state.get("cockpit").redirect_to == "/login"
    state.update(parse_fault_spec("joy.status_code=off,cockpit.redirect_to=none"))
    assert state.get("joy").status_code is None and state.get("cockpit").redirect_to is None


@pytest.mark.parametrize("spec", ["joy.status_code=200", "joy.status_code=600", "joy.drip_ms=-1"])
def test_bad_new_knob_values(spec):
    with pytest.raises(FaultSpecError):
        FaultState().update(parse_fault_spec(spec))


def test_new_knobs_on_the_command_line():
    sim = Simulator(SimOptions(seed=1), faults="*.status_code=502,*.status_rate=1")
    assert all(sim.faults.get(p).status_code == 502 for p in sim.faults.providers)


# -- any status -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 502, 503])
@pytest.mark.parametrize("provider", ["joy", "cockpit", "jamsocket", "instances"])
def test_status_answers_look_like_the_real_server(sim_http, provider, status):
    set_faults(sim_http, **{provider: {"status_code": status, "status_rate": 1.0}})
    r = call(sim_http, provider)
    assert r.status_code == status
    assert ("retry-after" in r.headers) == (status in (429, 503))
    if status >= 500:  # from the proxy in front: nginx's page
        assert r.headers["content-type"].startswith("text/html")
        assert f"<title>{status} " in r.text and "nginx" in r.text
        return
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    if provider == "joy":
        assert body["success"] == "false" and body["error"] and body["message"]
    elif provider == "jamsocket":
        error = body["error"]
        assert error["status"] == status and error["code"].isalpha() and len(error["id"]) == 26
    else:
        assert isinstance(body["error"], str) and body["error"]


def test_status_rate_is_a_share_and_needs_a_code(sim_http):
    set_faults(sim_http, instances={"status_rate": 1.0})
    assert call(sim_http, "instances").status_code == 200  # no status_code: off
    set_faults(sim_http, instances={"status_code": 500, "status_rate": 0.5})
    codes = [call(sim_http, "instances").status_code for _ in range(60)]
    assert 10 < codes.count(500) < 50 and set(codes) == {200, 500}


def test_status_retry_after_follows_the_knob(sim_http):
    set_faults(sim_http, cockpit={"status_code": 503, "status_rate": 1.0, "retry_after": 9})
    assert call(sim_http, "cockpit").headers["retry-after"] == "9"


# -- redirects ----------------------------------------------------------------------------------


def test_redirect_to_the_same_path_is_a_loop(sim_http):
    set_faults(sim_http, instances={"redirect_rate": 1.0})
    r = sim_http.get("/api/instances?page=2", headers=KEY)
    assert r.status_code == 302 and r.headers["location"] == "/api/instances?page=2"
    assert r.headers["content-type"].startswith("text/html")
    with pytest.raises(httpx.TooManyRedirects):
        sim_http.get("/api/instances", headers=KEY, follow_redirects=True)


def test_redirect_to_another_path(sim_http):
    set_faults(sim_http, jamsocket={"redirect_rate": 1.0, "redirect_to": "/login?next=%2Fv2"})
    r = call(sim_http, "jamsocket")
    assert r.status_code == 302 and r.headers["location"] == "/login?next=%2Fv2"
    set_faults(sim_http, jamsocket={"redirect_rate": 0.0})
    assert call(sim_http, "jamsocket").status_code == 200


# -- spoiled JSON -------------------------------------------------------------------------------


def test_empty_answers_are_200_with_no_body(sim_http):
    set_faults(sim_http, instances={"empty_rate": 1.0})
    for r in (call(sim_http, "instances"), sim_http.get(MISSING, headers=KEY)):
        assert r.status_code == 200 and r.content == b""
        assert r.headers["content-length"] == "0"
        assert r.headers["content-type"] == "application/json"


def test_invalid_utf8_lands_inside_a_string_value(sim_http):
    good = sim_http.get(MISSING, headers=KEY).content
    set_faults(sim_http, instances={"invalid_utf8_rate": 1.0})
    r = sim_http.get(MISSING, headers=KEY)
    assert r.status_code == 404 and INVALID_UTF8 in r.content
    assert int(r.headers["content-length"]) == len(r.content)
    with pytest.raises(UnicodeDecodeError):
        r.content.decode("utf-8")
    # Taken out again, the body is the good one: the bytes went in and nothing else changed.
    assert r.content.replace(INVALID_UTF8, b"") == good
    # Decoded leniently it still parses, so the bytes sat inside a string, not between tokens.
    json.loads(r.content.decode("utf-8", "replace"))
    at = r.content.index(INVALID_UTF8)
    assert r.content[at - 1 : at] == b'"' and r.content[: at - 1].rstrip().endswith(b":")


def test_invalid_utf8_in_a_big_list(sim_http):
    set_faults(sim_http, instances={"invalid_utf8_rate": 1.0})
    r = sim_http.get("/api/instances", headers=KEY)
    assert r.content.count(INVALID_UTF8) == 1
    with pytest.raises(UnicodeDecodeError):
        r.content.decode("utf-8")
    assert len(json.loads(r.content.decode("utf-8", "replace"))) == 12


def test_nested_answers_are_valid_but_deep(sim_http):
    set_faults(sim_http, cockpit={"nested_rate": 1.0})
    r = sim_http.post("/api/v1/auth/login", json={"username": "x", "password": "y"})
    assert r.headers["content-type"] == "application/json"
    assert r.content == b"[" * NESTED_DEPTH + b"]" * NESTED_DEPTH
    assert int(r.headers["content-length"]) == 2 * NESTED_DEPTH
    with pytest.raises(RecursionError):
        json.loads(r.content)


def test_spoilers_leave_other_content_types_alone(sim_http):
    set_faults(sim_http, instances={"empty_rate": 1.0, "error_rate": 0.0})
    r = sim_http.get("/api/instances/x/nope", headers=KEY)  # Starlette's plain-text 404
    assert r.status_code == 404 and r.content


# -- dripping -----------------------------------------------------------------------------------


def test_drip_sends_the_right_body_a_byte_at_a_time(sim_http):
    good = sim_http.get(MISSING, headers=KEY)
    set_faults(sim_http, instances={"drip_ms": 10})
    started = time.monotonic()
    reads = []
    # The read timeout (0.2 s) is far shorter than the whole answer but never fires.
    timeout = httpx.Timeout(5.0, read=0.2)
    with sim_http.stream("GET", MISSING, headers=KEY, timeout=timeout) as r:
        assert r.status_code == 404
        reads = list(r.iter_raw())
    elapsed = time.monotonic() - started
    body = b"".join(reads)
    assert body == good.content
    assert elapsed >= 0.008 * len(body)
    assert len(reads) > len(body) // 2  # arrived in pieces, not in one read


def test_drip_stops_when_the_client_leaves(sim):
    with httpx.Client(base_url=sim.base_url, timeout=5) as client:
        set_faults(client, jamsocket={"drip_ms": 200})
    tasks = sim._server.server_state.tasks
    sock = socket.create_connection(("127.0.0.1", sim.port))
    path = f"/v2/account/{DEMO_ACCOUNT}/backends"
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEMO_TOKEN}\r\n\r\n".encode()
    )
    sock.settimeout(2)
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")  # the head, then a byte now and then
    assert len(tasks) == 1  # a body of several KiB: minutes of dripping left
    sock.close()
    deadline = time.monotonic() + 2
    while tasks and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not tasks
