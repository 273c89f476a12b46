"""The stream fault knobs (sse_drop_after, sse_stall, drip_ms) on every Jamsocket stream."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from httpx_sse import connect_sse

from joytui.sim.jamsocket import DEMO_ACCOUNT
from tests.conftest import set_faults

STREAMS = ["status", "metrics", "logs"]


def ready_backend(api) -> str:
    """A backend that is up: every one of its streams has events to send, and goes on."""
    running = api.get(f"/v2/account/{DEMO_ACCOUNT}/backends").json()["running_backends"]
    return next(b["id"] for b in running if b["status"]["status"] == "ready")


@pytest.mark.parametrize("stream", STREAMS)
def test_sse_drop_after_closes_every_stream(api, stream):
    bid = ready_backend(api)
    set_faults(api, jamsocket={"sse_drop_after": 2})
    started = time.monotonic()
    with connect_sse(api, "GET", f"/v2/backend/{bid}/{stream}/stream", timeout=3) as source:
        events = list(source.iter_sse())  # ends when the server closes the stream
    assert len(events) == 2
    assert [e.id for e in events] == [events[0].id, str(int(events[0].id) + 1)]
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("stream", STREAMS)
def test_sse_stall_silences_every_stream_until_cleared(sim, api, stream):
    bid = ready_backend(api)
    set_faults(api, jamsocket={"sse_stall": True})

    def clear() -> None:
        with httpx.Client(base_url=sim.base_url) as client:
            set_faults(client, jamsocket={"sse_stall": False})

    timer = threading.Timer(0.6, clear)
    started = time.monotonic()
    with api.stream("GET", f"/v2/backend/{bid}/{stream}/stream", timeout=3) as r:
        assert r.status_code == 200
        timer.start()
        first = next(r.iter_raw())
    waited = time.monotonic() - started
    timer.join()
    assert waited >= 0.55  # not even the keep-alives (every 0.2 s) while stalled
    assert first.startswith(b"id: ")


@pytest.mark.parametrize("stream", STREAMS)
def test_dripped_streams_still_carry_whole_events(api, stream):
    bid = ready_backend(api)
    set_faults(api, jamsocket={"drip_ms": 0.2, "sse_drop_after": 2})
    with connect_sse(api, "GET", f"/v2/backend/{bid}/{stream}/stream", timeout=5) as source:
        events = list(source.iter_sse())
    assert len(events) == 2 and all(e.data for e in events)


def test_dripped_stream_ends_when_the_client_leaves(sim, api):
    bid = ready_backend(api)
    backend = sim.simulator.providers["jamsocket"].backends[bid]
    set_faults(api, jamsocket={"drip_ms": 50})
    with api.stream("GET", f"/v2/backend/{bid}/metrics/stream", timeout=3) as r:
        chunks = r.iter_raw()  # kept: dropping it would close the stream at once
        assert next(chunks) == b"i"  # the first byte of "id: 1"
        assert len(backend.watchers) == 1
    deadline = time.monotonic() + 2
    while backend.watchers and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not backend.watchers
