import base64
import json

import httpx
import pytest

from joytui.sim.cockpit import DEMO_PASSWORD, DEMO_USERNAME
from tests.conftest import advance, set_faults


def login(client: httpx.Client) -> dict:
    r = client.post(
        "/api/v1/auth/login", json={"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
    )
    assert r.status_code == 200
    return r.json()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_login_returns_a_signed_jwt_with_exp(sim_http):
    tokens = login(sim_http)
    assert tokens["expires_in"] == 3600 and tokens["refresh_token"]
    _header, claims, _sig = tokens["token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.parametrize(
    "headers,reason",
    [({}, "missing bearer token"), ({"Authorization": "Bearer abc.def.ghi"}, "invalid token")],
)
def test_hosts_need_a_good_token(sim_http, headers, reason):
    r = sim_http.get("/api/v1/hosts", headers=headers)
    assert r.status_code == 401 and r.json() == {"error": reason}


def test_wrong_password_is_refused(sim_http):
    r = sim_http.post("/api/v1/auth/login", json={"username": "admin", "password": "nope"})
    assert r.status_code == 401 and "error" in r.json()


def test_token_expires_with_sim_time_and_refresh_rotates(sim_http):
    tokens = login(sim_http)
    assert sim_http.get("/api/v1/hosts", headers=bearer(tokens["token"])).status_code == 200
    advance(sim_http, 3601)
    r = sim_http.get("/api/v1/hosts", headers=bearer(tokens["token"]))
    assert r.status_code == 401 and r.json() == {"error": "token expired"}
    fresh = sim_http.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert fresh.status_code == 200
    assert sim_http.get("/api/v1/hosts", headers=bearer(fresh.json()["token"])).status_code == 200
    again = sim_http.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401  # a refresh token is good once


def test_expire_tokens_control(sim_http):
    tokens = login(sim_http)
    sim_http.post("/__sim__/cockpit/expire-tokens")
    assert sim_http.get("/api/v1/vms", headers=bearer(tokens["token"])).status_code == 401
    assert sim_http.get("/api/v1/vms", headers=bearer(login(sim_http)["token"])).status_code == 200


def test_token_ttl_control(sim_http):
    sim_http.post("/__sim__/cockpit/token-ttl", json={"seconds": 5})
    tokens = login(sim_http)
    assert tokens["expires_in"] == 5
    advance(sim_http, 6)
    assert sim_http.get("/api/v1/vms", headers=bearer(tokens["token"])).status_code == 401


def test_hosts_and_vms_shapes(sim_http):
    auth = bearer(login(sim_http)["token"])
    hosts = sim_http.get("/api/v1/hosts", headers=auth).json()["hosts"]
    assert len(hosts) == 4
    assert {"id", "hostname", "status", "sync_cursor"} <= set(hosts[0])
    vms = sim_http.get("/api/v1/vms", headers=auth).json()["vms"]
    assert len(vms) == 14
    assert {v["host_id"] for v in vms} <= {h["id"] for h in hosts}
    assert {"id", "name", "status", "host_id"} <= set(vms[0])


def running_vm(client, auth):
    return next(
        v for v in client.get("/api/v1/vms", headers=auth).json()["vms"] if v["status"] == "running"
    )


def test_power_actions_follow_state(sim_http):
    auth = bearer(login(sim_http)["token"])
    vm = running_vm(sim_http, auth)
    r = sim_http.post(f"/api/v1/vms/{vm['id']}/action", json={"action": "stop"}, headers=auth)
    assert r.status_code == 202
    assert sim_http.get(f"/api/v1/vms/{vm['id']}", headers=auth).json()["status"] == "stopping"
    advance(sim_http, 10)
    assert sim_http.get(f"/api/v1/vms/{vm['id']}", headers=auth).json()["status"] == "stopped"
    r = sim_http.post(f"/api/v1/vms/{vm['id']}/action", json={"action": "stop"}, headers=auth)
    assert r.status_code == 409
    r = sim_http.post(f"/api/v1/vms/{vm['id']}/action", json={"action": "start"}, headers=auth)
    assert r.status_code == 202
    advance(sim_http, 10)
    assert sim_http.get(f"/api/v1/vms/{vm['id']}", headers=auth).json()["status"] == "running"
    r = sim_http.post(f"/api/v1/vms/{vm['id']}/action", json={"action": "explode"}, headers=auth)
    assert r.status_code == 400
    assert (
        sim_http.post("/api/v1/vms/nope/action", json={"action": "start"}, headers=auth).status_code
        == 404
    )


@pytest.mark.parametrize("copy_storage,seconds", [("none", 6), ("inc", 15), ("all", 30)])
def test_migration_passes_through_migrating_and_moves_host(sim_http, copy_storage, seconds):
    auth = bearer(login(sim_http)["token"])
    hosts = sim_http.get("/api/v1/hosts", headers=auth).json()["hosts"]
    vm = running_vm(sim_http, auth)
    dest = next(h for h in hosts if h["id"] != vm["host_id"])
    body = {
        "destination_host_id": dest["id"],
        "live": True,
        "persistent": True,
        "undefine_source": True,
        "copy_storage": copy_storage,
    }
    r = sim_http.post(f"/api/v1/vms/{vm['id']}/migrate", json=body, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "initiated"
    mig_id = r.json()["migration_id"]
    now = sim_http.get(f"/api/v1/vms/{vm['id']}", headers=auth).json()
    assert now["status"] == "migrating" and now["host_id"] == vm["host_id"]
    advance(sim_http, seconds - 1)
    assert sim_http.get(f"/api/v1/vms/{vm['id']}", headers=auth).json()["status"] == "migrating"
    advance(sim_http, 2)
    after = sim_http.get(f"/api/v1/vms/{vm['id']}", headers=auth).json()
    assert after["status"] == "running" and after["host_id"] == dest["id"]
    assert (
        sim_http.get(f"/api/v1/migrations/{mig_id}", headers=auth).json()["status"] == "completed"
    )


def test_migration_validation(sim_http):
    auth = bearer(login(sim_http)["token"])
    vm = running_vm(sim_http, auth)
    bad = sim_http.post(
        f"/api/v1/vms/{vm['id']}/migrate",
        json={"destination_host_id": vm["host_id"], "copy_storage": "none"},
        headers=auth,
    )
    assert bad.status_code == 400
    hosts = sim_http.get("/api/v1/hosts", headers=auth).json()["hosts"]
    dest = next(h for h in hosts if h["id"] != vm["host_id"])
    bad = sim_http.post(
        f"/api/v1/vms/{vm['id']}/migrate",
        json={"destination_host_id": dest["id"], "copy_storage": "some"},
        headers=auth,
    )
    assert bad.status_code == 400 and "copy_storage" in bad.json()["error"]


def test_auth_fail_knob(sim_http):
    set_faults(sim_http, cockpit={"auth_fail": True})
    r = sim_http.post(
        "/api/v1/auth/login", json={"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
    )
    assert r.status_code == 401
    sim_http.delete("/__sim__/faults")
    assert login(sim_http)["token"]
