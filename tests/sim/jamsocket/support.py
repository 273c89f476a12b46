"""Helpers of these tests: the Jamsocket simulator over real HTTP."""

from __future__ import annotations

import httpx
from httpx_sse import connect_sse

from joytui.sim.jamsocket import DEMO_ACCOUNT, DEMO_TOKEN, RANK

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
