"""The simulated Jamsocket v2 API, over real HTTP: shapes, auth, lifecycles, keys and streams."""

from __future__ import annotations

import json

import httpx

from joytui.sim.base import SimOptions
from joytui.sim.jamsocket import DEMO_ACCOUNT, DEMO_TOKEN, RANK, TERMINATION_REASONS
from joytui.sim.server import SimServer
from tests.conftest import advance, set_faults
from tests.sim.jamsocket.support import (
    ACCT,
    AUTH,
    BACKEND_KEYS,
    a_backend,
    all_backends,
    assert_error,
    assert_forward_only,
    connect,
    metadata,
    read_events,
    svc_path,
)

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
