"""The Jamsocket simulator's SSE streams: status replay and resume, metrics, logs, keepalives, drops and stalls, a client that leaves."""

from __future__ import annotations

import json
import threading
import time

import httpx
from httpx_sse import connect_sse

from tests.conftest import advance, set_faults
from tests.sim.jamsocket.support import (
    METRIC_KEYS,
    a_backend,
    connect,
    metadata,
    read_events,
    svc_path,
)

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
    # The fleet's clock stands still: the backend cannot be swept (its stream would end, and
    # its watcher go, on its own) while the test looks at who is watching it.
    sim.simulator.clock.set_speed(0)
    bid = a_backend(api, "ready")
    backend = sim.simulator.providers["jamsocket"].backends[bid]
    with connect_sse(sim_http, "GET", f"/v2/backend/{bid}/status/stream", timeout=3) as source:
        next(source.iter_sse())
        assert len(backend.watchers) == 1
    deadline = time.monotonic() + 2
    while backend.watchers and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not backend.watchers
