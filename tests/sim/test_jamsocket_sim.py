"""The simulated Jamsocket v2 API, over real HTTP: shapes, auth, lifecycles, keys and streams."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from httpx_sse import connect_sse

from joytui.sim.base import SimOptions
from joytui.sim.jamsocket import DEMO_ACCOUNT, DEMO_TOKEN, RANK, TERMINATION_REASONS
from joytui.sim.server import SimServer
from tests.conftest import advance, set_faults

AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}
ACCT = f"/v2/account/{DEMO_ACCOUNT}"
METRIC_KEYS = {"backend_id", "cpu_used", "sys_cpu", "mem_used", "mem_limit", "mem_available"}
BACKEND_KEYS = {
    "account_name",
    "cluster_name",
    "created_at",
    "environment_name",
    "id",
    "image_digest",
    "key",
    "max_mem_bytes",
    "service_name",
}


@pytest.fixture
def sim_options() -> SimOptions:
    return SimOptions(
        seed=7, speed=1.0, incidents=False, metrics_interval=0.05, keepalive_seconds=0.2
    )


@pytest.fixture
def api(sim):
    """A client that sends the demo token."""
    with httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=5) as client:
        yield client


# -- helpers ----------------------------------------------------------------------------------


def svc_path(api, index: int = 0) -> str:
    name = api.get(f"{ACCT}/services").json()["services"][index]
    return f"/v2/service/{DEMO_ACCOUNT}/{name}"


def connect(api, path: str, body: dict | None = None) -> dict:
    r = api.post(f"{path}/connect", json=body or {})
    assert r.status_code == 200, r.text
    return r.json()


def metadata(api, backend_id: str) -> dict:
    r = api.get(f"/v2/backend/{backend_id}")
    assert r.status_code == 200
    return r.json()


def all_backends(api) -> list[dict]:
    out = []
    for name in api.get(f"{ACCT}/services").json()["services"]:
        out += api.get(f"/v2/service/{DEMO_ACCOUNT}/{name}/backends").json()["backends"]
    return out


def a_backend(api, status: str) -> str:
    return next(b["id"] for b in all_backends(api) if b["status"]["status"] == status)


def assert_forward_only(statuses: list[dict]) -> None:
    ranks = [RANK[s["status"]] for s in statuses]
    assert ranks == sorted(set(ranks)), statuses
    times = [s["time"] for s in statuses]
    assert times == sorted(times), statuses


def assert_error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    error = r.json()["error"]
    assert set(error) == {"message", "status", "code", "id"}
    assert error["status"] == status and error["code"] == code
    assert error["message"] and len(error["id"]) >= 16
    return error


def read_events(client, url: str, headers: dict | None = None, limit: int = 1000) -> list:
    """Events of a stream until it ends (or ``limit`` events)."""
    events = []
    with connect_sse(client, "GET", url, headers=headers or {}, timeout=3) as source:
        assert source.response.status_code == 200
        for event in source.iter_sse():
            events.append(event)
            if len(events) >= limit:
                break
    return events


# -- auth, errors, content types --------------------------------------------------------------


def test_auth_refusals_and_account_check(sim_http, api):
    path = svc_path(api)
    bid = a_backend(api, "ready")
    guarded = [f"{ACCT}/services", f"{path}/backends", f"/v2/backend/{bid}", f"{path}/images"]
    for url in guarded:
        assert_error(sim_http.get(url), 401, "Unauthorized")
        assert_error(
            sim_http.get(url, headers={"Authorization": "Bearer nope"}), 401, "Unauthorized"
        )
        assert_error(sim_http.get(url, headers={"Authorization": DEMO_TOKEN}), 401, "Unauthorized")
    assert_error(sim_http.get(f"/v2/backend/{bid}/metrics/stream"), 401, "Unauthorized")
    assert_error(sim_http.get(f"/v2/backend/{bid}/logs/stream"), 401, "Unauthorized")
    assert_error(api.get("/v2/account/someone-else/services"), 403, "Forbidden")
    assert_error(api.get("/v2/service/someone-else/x/backends"), 403, "Forbidden")
    set_faults(api, jamsocket={"auth_fail": True})
    assert_error(api.get(f"{ACCT}/services"), 401, "Unauthorized")
    # The two status endpoints need no credentials, so a revoked token does not matter.
    r = sim_http.get(f"/v2/backend/{bid}/status")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    assert r.headers["access-control-allow-origin"] == "*"
    events = read_events(sim_http, f"/v2/backend/{bid}/status/stream", limit=1)
    assert json.loads(events[0].data)["status"] == "scheduled"


def test_errors_are_json_everywhere(api):
    assert_error(api.get("/v2/backend/zzzzz"), 404, "NotFound")
    assert_error(api.get("/v2/backend/zzzzz/status"), 404, "NotFound")
    assert_error(api.get(f"/v2/service/{DEMO_ACCOUNT}/nope"), 404, "NotFound")
    assert_error(api.get("/v2/no/such/endpoint"), 404, "NotFound")
    bid = a_backend(api, "ready")
    assert_error(api.get(f"/v2/backend/{bid}/terminate"), 405, "MethodNotAllowed")
    ids = {assert_error(api.get("/v2/backend/zzzzz"), 404, "NotFound")["id"] for _ in range(3)}
    assert len(ids) == 3


def test_json_content_type_is_exact(api):
    path = svc_path(api)
    bid = a_backend(api, "ready")
    urls = [
        f"{ACCT}/services",
        f"{ACCT}/backends",
        path,
        f"{path}/images",
        f"{path}/backends",
        f"/v2/backend/{bid}",
        f"/v2/backend/{bid}/status",
    ]
    for url in urls:
        r = api.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json", url


def test_body_endpoints_need_json_content_type(api):
    path = svc_path(api)
    bid = a_backend(api, "ready")
    for url in (f"{path}/connect", f"/v2/backend/{bid}/terminate", f"{ACCT}/service"):
        assert_error(api.post(url, content=b"{}"), 415, "UnsupportedMediaType")
    assert_error(
        api.post(f"{path}/update", content=b'{"image_tag":"latest"}'), 415, "UnsupportedMediaType"
    )
    assert api.get(f"/v2/backend/{bid}/status").json()["status"] == "ready"
    charset = {"Content-Type": "application/json; charset=utf-8"}
    r = api.post(f"{path}/connect", content=b"", headers=charset)
    assert r.status_code == 200 and r.json()["spawned"] is True
    assert_error(
        api.post(f"{path}/connect", content=b"{nope", headers=charset), 400, "InvalidRequest"
    )


def test_unknown_query_strings_are_ignored(api):
    path = svc_path(api)
    assert api.get(f"{ACCT}/services?foo=bar").json() == api.get(f"{ACCT}/services").json()
    plain = api.get(f"{path}/backends").json()
    assert api.get(f"{path}/backends?limit=1&x=&start=").json() == plain
    bid = a_backend(api, "ready")
    assert api.get(f"/v2/backend/{bid}?verbose=1").json() == metadata(api, bid)


# -- services and images ----------------------------------------------------------------------


def test_services_images_and_update(api):
    names = api.get(f"{ACCT}/services").json()["services"]
    assert 3 <= len(names) <= 4 and names == sorted(names)
    commits = 0
    for name in names:
        svc = api.get(f"/v2/service/{DEMO_ACCOUNT}/{name}").json()
        assert svc["name"] == name and svc["account_name"] == DEMO_ACCOUNT
        assert svc["image_name"] == f"registry.jamsocket.com/{DEMO_ACCOUNT}/{name}"
        env = svc["environments"][0]
        assert set(env) == {"cluster", "created_at", "image_tag", "last_spawned_at", "name"}
        images = api.get(f"/v2/service/{DEMO_ACCOUNT}/{name}/images").json()["images"]
        assert images and svc["last_image_digest"] == images[0]["digest"]
        assert [i["upload_time"] for i in images] == sorted(
            (i["upload_time"] for i in images), reverse=True
        )
        for image in images:
            assert image["digest"].startswith("sha256:") and len(image["digest"]) == 71
            assert image["repository"] == f"{DEMO_ACCOUNT}/{name}"
            assert image["upload_time"].endswith("Z")
            if "git_commit" in image:
                commits += 1
                assert set(image["git_commit"]) == {"branch", "hash", "message", "repository"}
    assert commits >= len(names)
    path = f"/v2/service/{DEMO_ACCOUNT}/{names[0]}"
    old = api.get(f"{path}/images").json()["images"][-1]
    r = api.post(f"{path}/update", json={"image_tag": old["digest"]})
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert api.get(path).json()["environments"][0]["image_tag"] == old["digest"]
    conn = connect(api, path)
    assert metadata(api, conn["backend_id"])["image_digest"] == old["digest"]
    assert_error(api.post(f"{path}/update", json={"image_tag": "nope"}), 400, "InvalidRequest")
    assert_error(api.post(f"{path}/update", json={}), 400, "InvalidRequest")


def test_create_and_delete_service(api):
    r = api.post(f"{ACCT}/service", json={"name": "my-service"})
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert "my-service" in api.get(f"{ACCT}/services").json()["services"]
    path = f"/v2/service/{DEMO_ACCOUNT}/my-service"
    svc = api.get(path).json()
    assert svc["last_image_digest"] is None and svc["last_spawned_at"] is None
    assert api.get(f"{path}/images").json() == {"images": []}
    assert api.get(f"{path}/backends").json() == {"backends": []}
    assert_error(api.post(f"{path}/connect", json={}), 400, "InvalidRequest")
    assert_error(api.post(f"{ACCT}/service", json={"name": "my-service"}), 409, "Conflict")
    assert_error(api.post(f"{ACCT}/service", json={"name": "Bad Name"}), 400, "InvalidRequest")
    assert api.post(f"{path}/delete").json() == {"status": "ok"}
    assert_error(api.get(path), 404, "NotFound")
    # Deleting a service with running backends terminates them.
    busy = svc_path(api)
    bid = connect(api, busy)["backend_id"]
    assert api.post(f"{busy}/delete").json() == {"status": "ok"}
    last = metadata(api, bid)["statuses"][-1]
    assert last["status"] == "terminating" and last["termination_reason"] == "external"


# -- backends ---------------------------------------------------------------------------------


def test_connect_shape_and_a_whole_life(sim, api):
    path = svc_path(api)
    body = {
        "key": "document-123",
        "user": "user-123",
        "auth": {"can_write": True},
        "spawn": {
            "tag": "latest",
            "max_idle_seconds": 300,
            "executable": {
                "env": {"MY_ENV_VAR": "foo"},
                "resource_limits": {"memory_limit_bytes": 10**9},
            },
        },
    }
    conn = connect(api, path, body)
    assert set(conn) == {
        "backend_id",
        "spawned",
        "status",
        "token",
        "url",
        "secret_token",
        "status_url",
        "ready_url",
    }
    bid = conn["backend_id"]
    assert conn["spawned"] is True and conn["status"] == "scheduled"
    assert conn["status_url"] == f"{sim.base_url}/v2/backend/{bid}/status"
    assert conn["token"] in conn["url"] and conn["token"] in conn["ready_url"]
    meta = metadata(api, bid)
    assert BACKEND_KEYS | {"statuses"} == set(meta)
    assert meta["max_mem_bytes"] == 10**9 and meta["key"] == "document-123"
    assert meta["service_name"] == path.rsplit("/", 1)[1] and meta["account_name"] == DEMO_ACCOUNT
    advance(api, 10)
    assert httpx.get(conn["status_url"]).json()["status"] == "ready"
    assert httpx.get(conn["url"]).status_code == 200
    assert api.post(f"/v2/backend/{bid}/terminate", json={}).json() == {"status": "ok"}
    assert api.get(f"/v2/backend/{bid}/status").json()["status"] == "terminating"
    advance(api, 5)
    status = api.get(f"/v2/backend/{bid}/status").json()
    assert status["status"] == "terminated" and status["exit_error"] is False
    assert status["termination_reason"] == "external" and status["termination_kind"] == "soft"
    statuses = metadata(api, bid)["statuses"]
    assert [s["status"] for s in statuses] == [
        "scheduled",
        "loading",
        "starting",
        "waiting",
        "ready",
        "terminating",
        "terminated",
    ]
    assert_forward_only(statuses)
    last = statuses[-1]
    assert last["exit_code"] == 0 and last["last_status"] == "ready"
    assert last["termination_kind"] == "soft" and last["termination_reason"] == "external"
    # Terminating again changes nothing, and never steps back.
    assert api.post(f"/v2/backend/{bid}/terminate", json={"hard": True}).status_code == 200
    assert metadata(api, bid)["statuses"] == statuses


def test_hard_terminate_while_starting_skips_ahead(api):
    bid = connect(api, svc_path(api))["backend_id"]
    r = api.post(f"/v2/backend/{bid}/terminate", json={"hard": True})
    assert r.json() == {"status": "ok"}
    assert api.get(f"/v2/backend/{bid}/status").json()["termination_kind"] == "hard"
    advance(api, 10)
    statuses = metadata(api, bid)["statuses"]
    names = [s["status"] for s in statuses]
    assert names[-2:] == ["hard-terminating", "terminated"] and "ready" not in names
    assert_forward_only(statuses)
    assert statuses[-1]["termination_kind"] == "hard"
    assert_error(
        api.post(f"/v2/backend/{bid}/terminate", json={"hard": "yes"}), 400, "InvalidRequest"
    )


def test_soft_then_hard_terminate_upgrades(api):
    bid = connect(api, svc_path(api))["backend_id"]
    advance(api, 10)
    api.post(
        f"/v2/backend/{bid}/terminate", content=b"", headers={"Content-Type": "application/json"}
    )
    api.post(f"/v2/backend/{bid}/terminate", json={"hard": True})
    advance(api, 5)
    statuses = metadata(api, bid)["statuses"]
    assert [s["status"] for s in statuses][-3:] == ["terminating", "hard-terminating", "terminated"]
    assert statuses[-1]["exit_error"] is True and statuses[-1]["exit_code"] == 137
    assert_forward_only(statuses)


def test_connect_with_keys_and_spawn_false(api):
    path = svc_path(api)
    first = connect(api, path, {"key": "room-1"})
    again = connect(api, path, {"key": "room-1", "spawn": False})
    assert again["backend_id"] == first["backend_id"] and again["spawned"] is False
    assert again["token"] != first["token"] and again["secret_token"] == first["secret_token"]
    other = connect(api, path, {"key": "room-2"})
    assert other["backend_id"] != first["backend_id"] and other["spawned"] is True
    assert_error(
        api.post(f"{path}/connect", json={"key": "room-9", "spawn": False}), 404, "NotFound"
    )
    assert_error(api.post(f"{path}/connect", json={"spawn": False}), 400, "InvalidRequest")
    for bad in ({"key": 5}, {"spawn": "yes"}, {"spawn": {"max_idle_seconds": -1}}, [1]):
        assert_error(api.post(f"{path}/connect", json=bad), 400, "InvalidRequest")
    assert_error(
        api.post(f"{path}/connect", json={"spawn": {"tag": "no-such-tag"}}), 400, "InvalidRequest"
    )
    # Once its holder is gone the key is free again.
    api.post(f"/v2/backend/{first['backend_id']}/terminate", json={})
    assert_error(
        api.post(f"{path}/connect", json={"key": "room-1", "spawn": False}), 404, "NotFound"
    )
    fresh = connect(api, path, {"key": "room-1"})
    assert fresh["spawned"] is True and fresh["backend_id"] != first["backend_id"]


def test_idle_and_lifetime_sweeps_and_oom(api):
    path = svc_path(api)
    idle = connect(api, path, {"key": "k", "spawn": {"max_idle_seconds": 30}})["backend_id"]
    short = connect(api, path, {"spawn": {"lifetime_limit_seconds": 15}})["backend_id"]
    limits = {"executable": {"resource_limits": {"memory_limit_bytes": 1_000_000}}}
    oom = connect(api, path, {"spawn": limits})["backend_id"]
    advance(api, 10)
    assert connect(api, path, {"key": "k"})["backend_id"] == idle  # a client came: idle resets
    advance(api, 20)
    assert api.get(f"/v2/backend/{idle}/status").json()["status"] == "ready"
    lifetime_end = metadata(api, short)["statuses"][-1]
    assert lifetime_end["status"] == "terminated" and lifetime_end["termination_reason"] == "swept"
    advance(api, 15)
    swept = metadata(api, idle)["statuses"]
    assert swept[-1]["status"] == "terminated" and swept[-1]["termination_reason"] == "swept"
    assert swept[-1]["exit_error"] is False
    died = metadata(api, oom)
    assert died["max_mem_bytes"] == 1_000_000
    assert died["statuses"][-1]["exit_code"] == 137 and died["statuses"][-1]["exit_error"] is True
    assert "ready" not in [s["status"] for s in died["statuses"]]


def test_kill_control(api):
    bid = a_backend(api, "ready")
    r = api.post(f"/__sim__/jamsocket/kill/{bid}")
    assert r.status_code == 200
    status = api.get(f"/v2/backend/{bid}/status").json()
    assert status["status"] == "terminated" and status["exit_error"] is True
    assert status["termination_reason"] == "lost"
    assert bid not in [b["id"] for b in api.get(f"{ACCT}/backends").json()["running_backends"]]
    assert_error(api.post(f"/__sim__/jamsocket/kill/{bid}"), 409, "Conflict")
    assert_error(api.post("/__sim__/jamsocket/kill/zzzzz"), 404, "NotFound")


def test_backend_lists_filters_and_order(api):
    path = svc_path(api)
    backends = api.get(f"{path}/backends").json()["backends"]
    assert len(backends) >= 3
    for b in backends:
        assert BACKEND_KEYS | {"ready_timestamp", "status"} == set(b)
        assert b["status"]["status"] in RANK and b["service_name"] == path.rsplit("/", 1)[1]
    created = [b["created_at"] for b in backends]
    assert created == sorted(created, reverse=True)
    pivot = created[len(created) // 2]
    after = api.get(f"{path}/backends", params={"start": pivot}).json()["backends"]
    assert [b["created_at"] for b in after] == [c for c in created if c >= pivot]
    before = api.get(f"{path}/backends", params={"end": pivot}).json()["backends"]
    assert [b["created_at"] for b in before] == [c for c in created if c < pivot]
    no_ms = api.get(f"{path}/backends", params={"start": "2000-01-01T00:00:00Z"}).json()
    assert len(no_ms["backends"]) == len(backends)
    assert api.get(f"{path}/backends", params={"start": "2999-01-01T00:00:00Z"}).json() == {
        "backends": []
    }
    assert_error(api.get(f"{path}/backends", params={"start": "yesterday"}), 400, "InvalidRequest")
    running = api.get(f"{ACCT}/backends").json()["running_backends"]
    assert running and all(b["status"]["status"] != "terminated" for b in running)
    every = all_backends(api)
    assert len(running) == sum(b["status"]["status"] != "terminated" for b in every)


def test_seeded_fleet_has_every_kind_of_history(api):
    every = all_backends(api)
    assert 15 <= len(every) <= 25
    states = {b["status"]["status"] for b in every}
    assert {"ready", "terminated", "terminating"} <= states
    assert states & {"scheduled", "loading", "starting", "waiting"}
    reasons, exit_errors = set(), set()
    for b in every:
        statuses = metadata(api, b["id"])["statuses"]
        assert_forward_only(statuses)
        if statuses[-1]["status"] == "terminated":
            reasons.add(statuses[-1]["termination_reason"])
            exit_errors.add(statuses[-1]["exit_error"])
            assert {"exit_code", "last_status", "termination_kind"} <= set(statuses[-1])
    assert set(TERMINATION_REASONS) <= reasons and None in reasons
    assert exit_errors == {True, False}


def test_same_seed_same_fleet():
    def snapshot(seed: int) -> str:
        options = SimOptions(seed=seed, speed=0, epoch=1_700_000_000, incidents=False)
        with (
            SimServer(options) as server,
            httpx.Client(base_url=server.base_url, headers=AUTH) as c,
        ):
            names = c.get(f"{ACCT}/services").json()["services"]
            data = {
                n: (
                    c.get(f"/v2/service/{DEMO_ACCOUNT}/{n}/backends").json(),
                    c.get(f"/v2/service/{DEMO_ACCOUNT}/{n}/images").json(),
                )
                for n in names
            }
            return json.dumps(data, sort_keys=True)

    assert snapshot(11) == snapshot(11)
    assert snapshot(11) != snapshot(12)


def test_incidents_move_the_fleet_forward_only():
    options = SimOptions(seed=3, speed=1.0, incidents=True)
    with SimServer(options) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as c:
        before = {b["id"] for b in all_backends(c)}
        advance(c, 3600)
        after = all_backends(c)
        assert len(after) > len(before)  # the platform spawned new backends for others' clients
        died = set()
        for b in after:
            statuses = metadata(c, b["id"])["statuses"]
            assert_forward_only(statuses)
            last = statuses[-1]
            if b["id"] in before and last["status"] == "terminated":
                died.add(last["termination_reason"])
        assert died & {"lost", "keyexpired", "internalerror", "swept"}


# -- streams ----------------------------------------------------------------------------------


def test_status_stream_replays_then_follows_then_ends(sim_http, api):
    path = svc_path(api)
    bid = connect(api, path)["backend_id"]
    url = f"/v2/backend/{bid}/status/stream"
    with connect_sse(sim_http, "GET", url, timeout=3) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        assert source.response.headers["cache-control"] == "no-cache"
        events = source.iter_sse()
        first = next(events)
        assert first.id == "1" and json.loads(first.data)["status"] == "scheduled"
        advance(api, 10)
        api.post(f"/v2/backend/{bid}/terminate", json={})
        advance(api, 5)
        rest = list(events)  # ends by itself after terminated
    seen = [first, *rest]
    assert [e.id for e in seen] == [str(i) for i in range(1, len(seen) + 1)]
    payloads = [json.loads(e.data) for e in seen]
    assert payloads[-1]["status"] == "terminated" and payloads[-1]["exit_error"] is False
    history = metadata(api, bid)["statuses"]
    assert [p["status"] for p in payloads] == [h["status"] for h in history]
    assert [p["time"] for p in payloads] == [h["time"] for h in history]


def test_status_stream_resumes_after_last_event_id(sim_http, api):
    bid = a_backend(api, "terminated")
    url = f"/v2/backend/{bid}/status/stream"
    whole = read_events(sim_http, url)
    assert len(whole) >= 3 and json.loads(whole[-1].data)["status"] == "terminated"
    resumed = read_events(sim_http, url, headers={"Last-Event-ID": "2"})
    assert [e.id for e in resumed] == [e.id for e in whole[2:]]
    assert [e.data for e in resumed] == [e.data for e in whole[2:]]
    assert read_events(sim_http, url, headers={"Last-Event-ID": str(len(whole))}) == []


def test_metrics_stream_events(api):
    bid = a_backend(api, "ready")
    url = f"/v2/backend/{bid}/metrics/stream"
    started = time.monotonic()
    events = read_events(api, url, limit=4)
    assert time.monotonic() - started >= 0.1  # one every metrics_interval (0.05 s)
    assert [e.id for e in events] == ["1", "2", "3", "4"]
    limit = metadata(api, bid)["max_mem_bytes"]
    for event in events:
        sample = json.loads(event.data)
        assert set(sample) == METRIC_KEYS and sample["backend_id"] == bid
        assert all(isinstance(sample[k], int) for k in METRIC_KEYS - {"backend_id"})
        assert 0 < sample["cpu_used"] <= sample["sys_cpu"]
        assert sample["mem_limit"] == limit
        assert sample["mem_used"] + sample["mem_available"] == limit and sample["mem_used"] > 0
    resumed = read_events(api, url, headers={"Last-Event-ID": "41"}, limit=2)
    assert [e.id for e in resumed] == ["42", "43"]


def test_metrics_stream_ends_with_its_backend(api):
    gone = a_backend(api, "terminated")
    started = time.monotonic()
    assert read_events(api, f"/v2/backend/{gone}/metrics/stream") == []
    assert time.monotonic() - started < 1
    bid = a_backend(api, "ready")
    with connect_sse(api, "GET", f"/v2/backend/{bid}/metrics/stream", timeout=3) as source:
        events = source.iter_sse()
        next(events)
        api.post(f"/__sim__/jamsocket/kill/{bid}")
        list(events)  # returns only because the server ends the stream
    assert api.get(f"/v2/backend/{bid}/status").json()["status"] == "terminated"


def test_logs_stream(api):
    path = svc_path(api)
    spawn = {"executable": {"env": {"MY_ENV_VAR": "foo"}}}
    bid = connect(api, path, {"spawn": spawn})["backend_id"]
    advance(api, 30)
    url = f"/v2/backend/{bid}/logs/stream"
    events = read_events(api, url, limit=6)
    assert [e.id for e in events[:5]] == ["1", "2", "3", "4", "5"]
    assert events[0].data.startswith("> ") and events[1].data.startswith("> ")
    assert events[2].data == "" and "MY_ENV_VAR" in events[3].data and "8080" in events[4].data
    ids = [int(e.id) for e in events]
    assert ids == sorted(set(ids))
    resumed = read_events(api, url, headers={"Last-Event-ID": "3"}, limit=2)
    assert [e.id for e in resumed] == ["4", "5"]
    api.post(f"/v2/backend/{bid}/terminate", json={})
    advance(api, 5)
    tail = read_events(api, url, headers={"Last-Event-ID": "5"})  # ends: the backend is gone
    assert "SIGTERM" in tail[-2].data and tail[-1].data.startswith("server closed")


def test_keepalive_comments_and_whole_event_chunks(api):
    bid = a_backend(api, "ready")
    raw = b""
    started = time.monotonic()
    with api.stream("GET", f"/v2/backend/{bid}/status/stream", timeout=3) as r:
        for chunk in r.iter_raw():
            assert chunk.endswith(b"\n\n")  # each event (or comment) is written whole
            raw += chunk
            if raw.count(b": keep-alive\n\n") >= 2:
                break
    assert time.monotonic() - started < 2
    assert raw.startswith(b"id: 1\ndata:{")


def test_sse_drop_after(sim_http, api):
    set_faults(api, jamsocket={"sse_drop_after": 2})
    ready = a_backend(api, "ready")
    metrics = read_events(api, f"/v2/backend/{ready}/metrics/stream", limit=5)
    assert [e.id for e in metrics] == ["1", "2"]
    bid = a_backend(api, "terminated")
    url = f"/v2/backend/{bid}/status/stream"
    assert [e.id for e in read_events(sim_http, url)] == ["1", "2"]
    resumed = read_events(sim_http, url, headers={"Last-Event-ID": "2"})
    assert [e.id for e in resumed] == ["3", "4"]


def test_sse_stall_goes_silent_then_resumes(sim, api):
    set_faults(api, jamsocket={"sse_stall": True})
    bid = a_backend(api, "ready")

    def clear() -> None:
        with httpx.Client(base_url=sim.base_url) as client:
            set_faults(client, jamsocket={"sse_stall": False})

    timer = threading.Timer(0.5, clear)
    started = time.monotonic()
    with api.stream("GET", f"/v2/backend/{bid}/metrics/stream", timeout=3) as r:
        assert r.status_code == 200
        timer.start()
        first = next(r.iter_raw())
    waited = time.monotonic() - started
    timer.join()
    assert waited >= 0.45  # nothing at all (not even keep-alives every 0.2 s) while stalled
    assert first.startswith(b"id: 1\ndata:{")


def test_stream_ends_when_the_client_leaves(sim, sim_http, api):
    bid = a_backend(api, "ready")
    backend = sim.simulator.providers["jamsocket"].backends[bid]
    with connect_sse(sim_http, "GET", f"/v2/backend/{bid}/status/stream", timeout=3) as source:
        next(source.iter_sse())
        assert len(backend.watchers) == 1
    deadline = time.monotonic() + 2
    while backend.watchers and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not backend.watchers
