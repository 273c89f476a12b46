"""The generic resumable SSE stream (joytui.providers.sse) against the simulator's Jamsocket
streams, over real HTTP: Last-Event-ID across drops, no event twice, reconnect attempts reported
as they happen, capped backoff, giving up, stalls, keep-alives, and refusals raised at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from joytui.providers.errors import (
    AuthError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from joytui.providers.http import AccountTransport, account_limits
from joytui.providers.sse import ResumableEvents, StreamState, reconnect_delay
from joytui.sim.base import SimOptions
from joytui.sim.jamsocket import DEMO_ACCOUNT, DEMO_TOKEN
from tests.conftest import set_faults

AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}


@pytest.fixture
def sim_options() -> SimOptions:
    # A frozen clock (only faults change anything); quick metrics and keep-alives.
    return SimOptions(
        seed=7, speed=0.0, incidents=False, metrics_interval=0.05, keepalive_seconds=0.2
    )


@pytest.fixture
def api(sim):
    with httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=5) as c:
        yield c


@pytest.fixture(params=["httpx", "aiohttp"])
async def http(sim, request) -> AsyncIterator[httpx.AsyncClient]:
    """A plain async client on the simulator that remembers the requests it sends: on httpx's
    own transport, and on the one the clients use (httpx-aiohttp on an account's session)."""
    sent: list[httpx.Request] = []

    async def remember(request: httpx.Request) -> None:
        sent.append(request)

    transport = None
    if request.param == "aiohttp":
        transport = AccountTransport(verify=True, limits=account_limits(32), timeout_seconds=5)
    async with httpx.AsyncClient(
        base_url=sim.base_url,
        headers=AUTH,
        event_hooks={"request": [remember]},
        transport=transport,
    ) as client:
        client.sent = sent  # type: ignore[attr-defined]
        yield client


def a_backend(api, status: str) -> str:
    for name in api.get(f"/v2/account/{DEMO_ACCOUNT}/services").json()["services"]:
        for b in api.get(f"/v2/service/{DEMO_ACCOUNT}/{name}/backends").json()["backends"]:
            if b["status"]["status"] == status:
                return b["id"]
    raise AssertionError(f"no {status} backend")


def errors(response: httpx.Response) -> ProviderError:
    """A minimal status -> taxonomy mapping (the clients have richer ones)."""
    if response.status_code in (401, 403):
        return AuthError(f"refused ({response.status_code})", status=response.status_code)
    if response.status_code == 404:
        return NotFoundError("not found (404)", status=404)
    return ServerError(f"server error {response.status_code}", status=response.status_code)


def events(http, backend_id: str, stream: str, **options) -> ResumableEvents:
    settings = {
        "call": f"{stream} stream",
        "error_for_response": errors,
        "connect_timeout": 5.0,
        "read_timeout": 5.0,
        "max_reconnects": 5,
        "backoff": 0.01,
        "backoff_cap": 0.05,
    }
    settings.update(options)
    return ResumableEvents(http, "GET", f"/v2/backend/{backend_id}/{stream}/stream", **settings)


async def collect(source, limit: int | None = None, within: float = 5.0) -> list:
    out: list = []

    async def run() -> None:
        async with contextlib.aclosing(source):
            async for item in source:
                out.append(item)
                if limit is not None and len(out) >= limit:
                    return

    await asyncio.wait_for(run(), within)
    return out


def opened(http) -> list[httpx.Request]:
    return [r for r in http.sent if r.url.path.endswith("/stream")]


async def test_drops_resume_with_last_event_id_nothing_twice_and_attempts_reported(api, http):
    bid = a_backend(api, "terminated")
    history = api.get(f"/v2/backend/{bid}").json()["statuses"]
    set_faults(api, jamsocket={"sse_drop_after": 2})
    seen: list[tuple[int, str, str]] = []
    finished_asked = 0

    async def finished() -> bool:
        nonlocal finished_asked
        finished_asked += 1
        return True

    def on_attempt(attempt: int, delay: float, problem: str) -> None:
        seen.append((attempt, source.state.value, problem))

    source = events(http, bid, "status", is_final=finished, on_attempt=on_attempt)
    assert source.state is StreamState.CONNECTING and source.attempt == 0
    got = await collect(source)
    assert len(got) == len(history)  # every status once, across every drop
    assert [int(e.id) for e in got] == sorted({int(e.id) for e in got})
    sent = [r.headers.get("last-event-id") for r in opened(http)]
    # Two events a connection; once the last one brought events, the rest is asked for again.
    n = len(history)
    assert sent == [None, *[str(i) for i in range(2, n + 1, 2)], *([str(n)] if n % 2 else [])]
    # Every drop followed two events, so each reconnection is the first in a row.
    assert seen and all(s == (1, "reconnecting", "the server ended the stream") for s in seen)
    assert finished_asked == 1  # asked only when a connection brought nothing new
    assert source.state is StreamState.ENDED and source.last_event_id == got[-1].id


async def test_gives_up_after_max_reconnects_in_a_row_with_capped_backoff(api, http):
    bid = a_backend(api, "ready")
    set_faults(api, jamsocket={"sse_drop_after": 0})  # every connection ends before an event
    attempts: list[tuple[int, float]] = []
    states: list[StreamState] = []

    def on_attempt(attempt: int, delay: float, problem: str) -> None:
        attempts.append((attempt, delay))
        states.append(source.state)

    async def not_finished() -> bool:
        return False

    source = events(
        http,
        bid,
        "metrics",
        max_reconnects=4,
        backoff=0.02,
        backoff_cap=0.05,
        is_final=not_finished,
        on_attempt=on_attempt,
    )
    with pytest.raises(TransportError) as gave_up:
        await collect(source)
    assert [a for a, _ in attempts] == [1, 2, 3, 4]
    delays = [d for _, d in attempts]
    assert 0.02 <= delays[0] <= 0.025 and 0.04 <= delays[1] <= 0.05
    assert delays[2] == delays[3] == 0.05  # doubling, then the cap
    assert states == [StreamState.RECONNECTING] * 4
    assert "after 4 reconnects" in str(gave_up.value)
    assert "server ended the stream" in str(gave_up.value)
    assert len(opened(http)) == 5 and source.state is StreamState.ENDED


async def test_attempts_are_visible_while_reconnecting(api, http):
    bid = a_backend(api, "ready")
    set_faults(api, jamsocket={"sse_drop_after": 0})

    async def not_finished() -> bool:
        return False

    source = events(
        http, bid, "metrics", max_reconnects=3, backoff=0.2, backoff_cap=0.4, is_final=not_finished
    )
    watched: set[tuple[str, int]] = set()
    reading = asyncio.create_task(collect(source))
    while not reading.done():
        watched.add((source.state.value, source.attempt))
        await asyncio.sleep(0.01)
    with pytest.raises(TransportError):
        await reading
    assert {("reconnecting", 1), ("reconnecting", 2), ("reconnecting", 3)} <= watched
    assert (source.state, source.problem) == (StreamState.ENDED, "the server ended the stream")


async def test_a_stall_longer_than_the_read_timeout_reconnects(api, http):
    bid = a_backend(api, "ready")
    problems: list[str] = []
    set_faults(api, jamsocket={"sse_stall": True})
    source = events(
        http, bid, "metrics", read_timeout=0.3, on_attempt=lambda a, d, p: problems.append(p)
    )
    reading = asyncio.create_task(collect(source, limit=2))
    await asyncio.sleep(0.8)
    assert not reading.done() and "no data for 0.3 s (stalled)" in problems
    await asyncio.to_thread(set_faults, api, jamsocket={"sse_stall": False})
    assert len(await asyncio.wait_for(reading, 3)) == 2
    assert len(opened(http)) >= 2

    set_faults(api, jamsocket={"sse_stall": True})
    started = time.monotonic()
    with pytest.raises(TransportError) as gave_up:
        await collect(events(http, bid, "status", read_timeout=0.3, max_reconnects=1))
    assert time.monotonic() - started < 2.5
    assert "no data for 0.3 s (stalled)" in str(gave_up.value)


async def test_keepalives_keep_a_quiet_stream_live(api, http):
    # Read timeout 0.6 s against keep-alives every 0.2 s: a quiet stream is not a dead one.
    bid = a_backend(api, "ready")
    source = events(http, bid, "status", read_timeout=0.6)
    reading = asyncio.create_task(collect(source))
    await asyncio.sleep(1.5)
    assert not reading.done()
    assert (source.state, source.attempt) == (StreamState.LIVE, 0)
    assert len(opened(http)) == 1
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading


async def test_one_connection_only_when_max_reconnects_is_zero(api, http):
    bid = a_backend(api, "ready")
    set_faults(api, jamsocket={"sse_drop_after": 1})
    got = await collect(events(http, bid, "metrics", max_reconnects=0))
    assert len(got) == 1 and len(opened(http)) == 1  # the server's end is the end
    set_faults(api, jamsocket={"sse_drop_after": None, "error_rate": 1.0})
    with pytest.raises(ServerError):
        await collect(events(http, bid, "metrics", max_reconnects=0))


async def test_refusals_raise_at_once(api, http):
    bid = a_backend(api, "ready")
    with pytest.raises(NotFoundError):
        await collect(events(http, "zzzzz", "status"))
    set_faults(api, jamsocket={"auth_fail": True})
    with pytest.raises(AuthError):
        await collect(events(http, bid, "metrics"))
    assert len(opened(http)) == 2


def test_reconnect_delay_honours_retry_and_retry_after_within_the_cap():
    assert 0.1 <= reconnect_delay(1, backoff=0.1, backoff_cap=10) <= 0.125
    assert 0.4 <= reconnect_delay(3, backoff=0.1, backoff_cap=10) <= 0.5
    assert reconnect_delay(1, backoff=0.1, backoff_cap=10, retry_ms=3000) == 3.0
    limited = RateLimitedError("429", retry_after=4.0)
    assert reconnect_delay(1, backoff=0.1, backoff_cap=10, error=limited) == 4.0
    assert reconnect_delay(9, backoff=0.1, backoff_cap=2, retry_ms=60_000) == 2.0
