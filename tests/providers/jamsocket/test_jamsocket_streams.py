"""The Jamsocket client's SSE streams against the simulated v2 API, over real HTTP: replay, reconnection with Last-Event-ID, keepalives, stalls, clean ends, cancellation, and the provider interface's streams by resource."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import pytest
from pydantic import SecretStr

from joytui.config import JamsocketAccount
from joytui.model import Resource, Status
from joytui.providers.errors import (
    NotFoundError,
    ProviderError,
    TransportError,
)
from joytui.providers.jamsocket import (
    BackendStatus,
    JamsocketClient,
    backend_status,
)
from joytui.sim.jamsocket import DEMO_ACCOUNT, DEMO_TOKEN
from tests.conftest import advance, set_faults
from tests.providers.jamsocket.support import (
    a_backend,
    as_resource,
    build,
    collect,
    wait_until,
    watchers,
)

# -- streams ----------------------------------------------------------------------------------


async def _follow_a_whole_life(client, api) -> tuple[str, list[BackendStatus]]:
    """Stream a fresh backend's statuses while it starts, runs and is terminated."""
    name = (await client.services())[0]
    bid = (await client.connect(name)).backend_id
    seen: list[BackendStatus] = []
    first = asyncio.Event()

    async def follow() -> None:
        async for status in client.backend_status_stream(bid):
            seen.append(status)
            first.set()

    task = asyncio.create_task(follow())
    await asyncio.wait_for(first.wait(), 3)
    await asyncio.to_thread(advance, api, 10)
    await client.terminate(bid)
    await asyncio.to_thread(advance, api, 5)
    await asyncio.wait_for(task, 5)  # ends by itself at terminated
    return bid, seen


async def test_status_stream_replays_follows_live_and_ends_at_terminated(client, recorder, api):
    bid, seen = await _follow_a_whole_life(client, api)
    history = (await client.backend(bid)).statuses
    assert [s.status for s in seen] == [h.status for h in history]
    assert [s.time for s in seen] == [h.time for h in history]
    assert seen[0].status == "scheduled" and "ready" in [s.status for s in seen]
    assert seen[-1].status == "terminated" and seen[-1].exit_error is False
    assert len(recorder.sent("GET", "/status/stream")) == 1


async def test_status_stream_reconnects_with_last_event_id(client, recorder, api):
    set_faults(api, jamsocket={"sse_drop_after": 2})
    bid, seen = await _follow_a_whole_life(client, api)
    history = (await client.backend(bid)).statuses
    # Nothing lost, nothing twice, across every drop.
    assert [(s.status, s.time) for s in seen] == [(h.status, h.time) for h in history]
    opened = recorder.sent("GET", "/status/stream")
    assert len(opened) >= 4  # 7 statuses, 2 per connection
    ids = [r.headers.get("last-event-id") for r in opened]
    assert ids[0] is None and all(ids[1:])
    assert [int(i) for i in ids[1:]] == sorted({int(i) for i in ids[1:]})

    # A replay of a finished backend: exactly the ids delivered before each drop.
    recorder.requests.clear()
    done = a_backend(api, "terminated", exclude=(bid,))
    replay = await collect(client.backend_status_stream(done))
    raw = api.get(f"/v2/backend/{done}").json()["statuses"]
    assert [s.status for s in replay] == [h["status"] for h in raw]
    headers = [r.headers.get("last-event-id") for r in recorder.sent("GET", "/status/stream")]
    assert headers == [None, *[str(i) for i in range(2, len(raw), 2)]]


async def test_metrics_stream_samples_reconnects_and_ends_with_its_backend(
    sim, client, recorder, api
):
    bid = a_backend(api, "ready")
    limit = api.get(f"/v2/backend/{bid}").json()["max_mem_bytes"]
    set_faults(api, jamsocket={"sse_drop_after": 2})
    samples = await collect(client.backend_metrics_stream(bid), limit=5)
    assert len(samples) == 5
    for sample in samples:
        assert sample.resource_id == bid and sample.provider == "jamsocket"
        assert 0 < sample.cpu_percent <= 100
        assert 0 < sample.memory_used <= sample.memory_total == limit
    headers = [r.headers.get("last-event-id") for r in recorder.sent("GET", "/metrics/stream")]
    assert headers[:3] == [None, "2", "4"]
    api.delete("/__sim__/faults")

    # The server ends the stream when its backend dies: the iterator ends, no error.
    got: list = []

    async def follow() -> None:
        async for sample in client.backend_metrics_stream(bid):
            got.append(sample)

    task = asyncio.create_task(follow())
    assert await wait_until(lambda: len(got) >= 1)
    await asyncio.to_thread(api.post, f"/__sim__/jamsocket/kill/{bid}")
    await asyncio.wait_for(task, 3)
    assert not watchers(sim, bid)
    assert await collect(client.backend_metrics_stream(bid)) == []  # terminated: ends at once


async def test_a_live_backends_stream_that_keeps_ending_gives_up(client, recorder, api):
    bid = a_backend(api, "ready")
    client.stream_max_reconnects = 2
    set_faults(api, jamsocket={"sse_drop_after": 0})  # every stream ends before its first event
    with pytest.raises(TransportError) as dropped:
        await collect(client.backend_metrics_stream(bid))
    text = str(dropped.value)
    assert "metrics stream of backend" in text and "dropped" in text
    assert "after 2 reconnects" in text and "server ended the stream" in text
    assert len(recorder.sent("GET", "/metrics/stream")) == 3


async def test_log_stream_lines_and_end(client, api):
    name = (await client.services())[0]
    spawn = {"executable": {"env": {"MY_ENV_VAR": "foo"}}}
    bid = (await client.connect(name, spawn=spawn)).backend_id
    advance(api, 30)
    lines = await collect(client.backend_log_stream(bid), limit=5)
    assert lines[0].startswith("> ") and lines[1].startswith("> ") and lines[2] == ""
    assert "MY_ENV_VAR" in lines[3] and "8080" in lines[4]
    await client.terminate(bid)
    advance(api, 5)
    everything = await collect(client.backend_log_stream(bid))  # a finished backend: ends by itself
    assert everything[:5] == lines and everything[-1].startswith("server closed")


async def test_quiet_stream_lives_on_keepalives(sim, recorder, api):
    # Read timeout 0.6 s, keep-alives every 0.2 s: a quiet stream is not taken for a dead one.
    acct = JamsocketAccount(name="sim", base_url=sim.base_url, account=DEMO_ACCOUNT, token="x")
    patient = JamsocketClient(
        acct, {"token": SecretStr(DEMO_TOKEN)}, transport=recorder, stream_read_timeout=0.6
    )
    bid = a_backend(api, "ready")
    try:
        got: list = []

        async def follow() -> None:
            async for status in patient.backend_status_stream(bid):
                got.append(status)

        task = asyncio.create_task(follow())
        await asyncio.sleep(1.5)
        assert not task.done() and [s.status for s in got][-1] == "ready"
        assert len(recorder.sent("GET", "/status/stream")) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await patient.aclose()


async def test_stalled_stream_hits_the_read_timeout_and_reconnects(sim, recorder, api):
    stalled = build(sim, recorder)
    stalled.stream_read_timeout = 0.4
    bid = a_backend(api, "ready")
    try:
        set_faults(api, jamsocket={"sse_stall": True})
        task = asyncio.create_task(collect(stalled.backend_metrics_stream(bid), limit=2))
        await asyncio.sleep(1.0)
        assert not task.done()
        await asyncio.to_thread(set_faults, api, jamsocket={"sse_stall": False})
        samples = await asyncio.wait_for(task, 3)
        assert len(samples) == 2
        assert len(recorder.sent("GET", "/metrics/stream")) >= 2  # timed out, then reconnected

        recorder.requests.clear()
        stalled.stream_max_reconnects = 1
        set_faults(api, jamsocket={"sse_stall": True})
        started = time.monotonic()
        with pytest.raises(TransportError) as gave_up:
            await collect(stalled.backend_status_stream(bid))
        assert time.monotonic() - started < 2.5
        assert "no data for 0.4 s (stalled)" in str(gave_up.value)
        assert "after 1 reconnects" in str(gave_up.value)
        assert len(recorder.sent("GET", "/status/stream")) == 2
    finally:
        await stalled.aclose()


async def test_cancelling_the_reader_closes_the_connection(sim, client, api):
    bid = a_backend(api, "ready")
    first = asyncio.Event()

    async def follow() -> None:
        async for _ in client.backend_status_stream(bid):
            first.set()

    task = asyncio.create_task(follow())
    await asyncio.wait_for(first.wait(), 3)
    assert len(watchers(sim, bid)) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_until(lambda: not watchers(sim, bid), 2)

    # Leaving early with aclosing() closes it too, and the client still works afterwards.
    async with contextlib.aclosing(client.backend_metrics_stream(bid)) as samples:
        async for _ in samples:
            assert len(watchers(sim, bid)) == 1
            break
    assert await wait_until(lambda: not watchers(sim, bid), 2)
    assert (await client.backend_status(bid)).status == "ready"


async def test_stream_honours_the_servers_retry():
    # A scripted server (not the simulator): only it can send a `retry:` field, or replay
    # events the client already has.
    opened: list[tuple[float, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/status"):
            return httpx.Response(200, json={"status": "ready", "time": 1_700_000_000})
        opened.append((time.monotonic(), request.headers.get("last-event-id")))
        if len(opened) == 1:
            body = b'retry: 300\nid: 1\ndata:{"status":"ready","time":"2024-01-02T01:23:45Z"}\n\n'
        else:  # a server that ignores Last-Event-ID and replays event 1: dropped client-side
            body = (
                b'id: 1\ndata:{"status":"ready","time":"2024-01-02T01:23:45Z"}\n\n'
                b'id: 2\ndata:{"status":"terminated","exit_error":false,"time":1704159000000}\n\n'
            )
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    acct = JamsocketAccount(name="t", base_url="http://js.test", account="a", token="tok-12345")
    client = JamsocketClient(
        acct, {"token": SecretStr("tok-12345")}, transport=httpx.MockTransport(handler)
    )
    client.stream_backoff_seconds = 0.01
    try:
        seen = await collect(client.backend_status_stream("b1"))
    finally:
        await client.aclose()
    assert [s.status for s in seen] == ["ready", "terminated"]
    assert seen[1].time == 1_704_159_000.0  # epoch milliseconds tolerated
    assert [h for _, h in opened] == [None, "1"]
    assert opened[1][0] - opened[0][0] >= 0.3


async def test_metrics_reads_one_event_or_none(sim, client, recorder, api):
    bid = a_backend(api, "ready")
    sample = await client.metrics(as_resource(bid, "ready"))
    assert sample.resource_id == bid and 0 < sample.cpu_percent <= 100
    assert sample.memory_total == api.get(f"/v2/backend/{bid}").json()["max_mem_bytes"]
    assert await wait_until(lambda: not watchers(sim, bid), 2)  # its connection was closed
    recorder.requests.clear()
    assert await client.metrics(as_resource(a_backend(api, "terminated"), "terminated")) is None
    service = Resource(
        provider="jamsocket", account="sim", kind="service", id="x", name="x", status="running"
    )
    assert await client.metrics(service) is None
    assert recorder.requests == []  # neither needed a request
    # A scheduled backend sends no metrics yet: None once metrics_timeout has passed.
    client.metrics_timeout = 0.3
    name = (await client.services())[0]
    fresh = (await client.connect(name)).backend_id
    started = time.monotonic()
    assert await client.metrics(as_resource(fresh, "scheduled")) is None
    assert 0.25 < time.monotonic() - started < 1.5


async def test_errors_from_every_failure_are_provider_errors(client):
    with pytest.raises(NotFoundError):
        await collect(client.backend_status_stream("zzzzz"))
    with pytest.raises(ProviderError):
        await client.service_backends("no-such-service")


# -- the provider interface's streams (by resource) -------------------------------------------


async def test_resource_streams_status_events_samples_and_log_lines(client, api):
    name = (await client.services())[0]
    bid = await client.connect(name, spawn={"executable": {"env": {"MY_ENV_VAR": "foo"}}})
    backend = as_resource(bid.backend_id, "scheduled")
    service = Resource(
        provider="jamsocket", account="sim", kind="service", id=name, name=name, status="running"
    )
    assert client.status_stream(service) is None
    assert client.metric_stream(service) is None
    assert client.log_stream(service) is None

    advance(api, 30)
    samples = await collect(client.metric_stream(backend), limit=2)
    assert [s.resource_id for s in samples] == [backend.id] * 2 and 0 < samples[0].cpu_percent
    lines = await collect(client.log_stream(backend), limit=4)
    assert [type(line).__name__ for line in lines] == ["LogLine"] * 4
    assert lines[0].text.startswith("> ") and "MY_ENV_VAR" in lines[3].text

    await client.terminate(backend.id)
    advance(api, 5)
    events = await collect(client.status_stream(backend))
    history = (await client.backend(backend.id)).statuses
    assert [e.raw_status for e in events] == [h.status for h in history]
    assert [e.status for e in events] == [backend_status(h) for h in history]
    assert [e.time for e in events] == [h.time for h in history]
    assert [e.final for e in events] == [False] * (len(events) - 1) + [True]
    last = events[-1]
    assert (last.status, last.raw_status) == (Status.STOPPED, "terminated")
    assert last.reason == history[-1].termination_reason and last.reason
    assert last.exit_code == history[-1].exit_code is not None


async def test_a_streams_state_and_reconnect_attempt_are_observable(client, api):
    bid = a_backend(api, "ready")
    client.stream_max_reconnects = 2
    client.stream_backoff_seconds = 0.2  # long enough to watch each attempt
    stream = client.metric_stream(as_resource(bid, "ready"))
    assert (stream.state, stream.attempt, stream.problem) == ("connecting", 0, None)
    first = await asyncio.wait_for(anext(stream), 3)
    assert first.resource_id == bid and (stream.state, stream.attempt) == ("live", 0)

    # Every connection from now on ends before its first event: attempts 1, 2, then it gives up.
    set_faults(api, jamsocket={"sse_drop_after": 0})
    watched: list[tuple[str, int]] = []

    async def drain() -> None:
        async for _ in stream:
            pass

    reading = asyncio.create_task(drain())
    while not reading.done():
        if not watched or watched[-1] != (stream.state, stream.attempt):
            watched.append((stream.state.value, stream.attempt))
        await asyncio.sleep(0.01)
    with pytest.raises(TransportError, match="after 2 reconnects"):
        await reading
    assert ("reconnecting", 1) in watched and ("reconnecting", 2) in watched
    assert watched.index(("reconnecting", 1)) < watched.index(("reconnecting", 2))
    assert stream.state == "ended" and stream.problem == "the server ended the stream"


async def test_closing_a_resource_stream_early_ends_it_and_its_connection(sim, client, api):
    bid = a_backend(api, "ready")
    stream = client.status_stream(as_resource(bid, "ready"))
    async with contextlib.aclosing(stream):
        async for event in stream:
            assert event.status is Status.RUNNING or event.status is Status.PENDING
            assert len(watchers(sim, bid)) == 1
            break
    assert stream.state == "ended"
    assert await wait_until(lambda: not watchers(sim, bid), 2)
