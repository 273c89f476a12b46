"""The Jamsocket server-sent-event streams: status, logs and metrics of one backend.

Each stream writes each event whole in one chunk, sends ``: keep-alive`` comments while idle,
honours ``Last-Event-ID``, obeys the ``sse_drop_after`` and ``sse_stall`` fault knobs, and
sleeps once per interval, woken early by its backend's status changes.

Where the spec is silent the simulator is plausible: a terminated backend's metrics stream
answers 200 and ends at once (a finished backend's logs stream replays its last lines, then
ends); metrics flow from ``starting`` on. Status ids are positions in the history, log ids are
line numbers, metrics ids continue after ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncGenerator, Iterator
from typing import Any, Protocol

import anyio
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Send

from joytui.sim.clock import seeded_rng
from joytui.sim.jamsocket.fleet import (
    NAME,
    RANK,
    TERMINATING,
    JamsocketFleet,
    SimBackend,
)
from joytui.sim.jamsocket.wire import metrics_sample, public_status

LOG_SLOT = 4.0
LOG_DENSITY = 0.45
LOG_REPLAY_SLOTS = 150
FIRST_SLOT_ID = 10
KEEPALIVE = b": keep-alive\n\n"
RUNTIME_LINES = (
    "GET /healthz 200 {ms}ms",
    "client {user} connected ({n} active)",
    "client {user} disconnected ({n} active)",
    "saved snapshot {kb} KiB in {ms}ms",
    "broadcast {n} updates to {peers} peers",
    "gc: heap {mb} MiB",
    "warn: slow message handler took {slow}ms",
)


class Wakeup:
    """One stream's alarm clock: rung by its backend's status changes or by a timer."""

    __slots__ = ("event", "loop")

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def wake(self) -> None:
        """Ring the alarm, from the stream's own loop or from any other thread."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.event.set()
        else:  # a change made from another thread (a test poking the simulator directly)
            with contextlib.suppress(RuntimeError):  # that loop has already closed
                self.loop.call_soon_threadsafe(self.event.set)

    async def nap(self, seconds: float) -> None:
        """Sleep ``seconds`` (wall), or less if rung meanwhile."""
        # One timer per nap (no wait_for task), and at least a millisecond so a loop cannot spin.
        handle = self.loop.call_later(max(0.001, seconds), self.event.set)
        try:
            await self.event.wait()
        finally:
            handle.cancel()
            self.event.clear()


# -- the stream driver -------------------------------------------------------------------------


async def stream_events(
    fleet: JamsocketFleet, backend: SimBackend, feed: Feed
) -> AsyncGenerator[bytes, None]:
    """Drive one SSE stream: poll the feed, write events and keep-alives, sleep between."""
    loop = asyncio.get_running_loop()
    wakeup = Wakeup()
    backend.watchers.add(wakeup)
    options = fleet.ctx.options
    sent = 0
    last_write = loop.time()
    try:
        while True:
            keepalive = max(0.01, options.keepalive_seconds)
            knobs = fleet.ctx.faults.get(NAME)
            limit = knobs.sse_drop_after
            if limit is not None and sent >= limit:
                return
            if knobs.sse_stall:
                # Silent while stalled; look at the knob again soon to resume promptly.
                await wakeup.nap(min(keepalive, 0.5))
                continue
            fleet.advance(fleet.ctx.now())
            chunks, done, wait = feed.poll(loop.time())
            for chunk in chunks:
                yield chunk
                sent += 1
                last_write = loop.time()
                if limit is not None and sent >= limit:
                    return
            if done:
                return
            now = loop.time()
            if now - last_write >= keepalive:
                yield KEEPALIVE
                last_write = now
            timeout = last_write + keepalive - now
            if wait is not None:
                timeout = min(timeout, wait)
            await wakeup.nap(timeout)
    finally:
        backend.watchers.discard(wakeup)


# -- feeds ------------------------------------------------------------------------------------


class Feed(Protocol):
    """What an SSE stream sends: polled whenever it wakes."""

    def poll(self, wall_now: float) -> tuple[list[bytes], bool, float | None]:
        """Events ready now, whether the stream is finished, wall seconds until polling again."""
        ...


class StatusFeed:
    """The history (ids are positions in it), then each new status, until ``terminated``."""

    def __init__(self, fleet: JamsocketFleet, backend: SimBackend, after: int) -> None:
        self.fleet = fleet
        self.backend = backend
        self.next = after

    def poll(self, wall_now: float) -> tuple[list[bytes], bool, float | None]:
        history = self.backend.statuses
        chunks = [
            json_event(i + 1, public_status(history[i])) for i in range(self.next, len(history))
        ]
        self.next = max(self.next, len(history))
        return chunks, history[-1].status == "terminated", self.fleet.wall_until_due()


class MetricsFeed:
    """A sample every ``metrics_interval`` wall seconds from ``starting`` until it terminates."""

    def __init__(self, fleet: JamsocketFleet, backend: SimBackend, after: int) -> None:
        self.fleet = fleet
        self.backend = backend
        self.next_id = after + 1
        self.next_at: float | None = None
        self.prev_sim: float | None = None

    def poll(self, wall_now: float) -> tuple[list[bytes], bool, float | None]:
        backend = self.backend
        if backend.status == "terminated":
            return [], True, None
        if RANK[backend.status] < RANK["starting"]:
            return [], False, self.fleet.wall_until_due()
        interval = max(0.01, self.fleet.ctx.options.metrics_interval)
        if self.next_at is None:
            self.next_at = wall_now
        chunks = []
        # The event loop may wake a timer up to a clock tick early.
        if wall_now >= self.next_at - 0.001:
            sim_now = self.fleet.ctx.now()
            if self.prev_sim is not None and sim_now > self.prev_sim:
                dt = sim_now - self.prev_sim
            else:
                dt = interval * (self.fleet.ctx.clock.speed or 1.0)
            sample = metrics_sample(self.fleet.ctx.seed, backend, sim_now, dt)
            chunks.append(json_event(self.next_id, sample))
            self.next_id += 1
            self.prev_sim = sim_now
            self.next_at += interval
            if self.next_at <= wall_now:  # fell behind: skip, don't burst
                self.next_at = wall_now + interval
        return chunks, False, self.next_at - wall_now


class LogFeed:
    """Recent log lines (startup lines first), then new ones as they are written."""

    def __init__(self, fleet: JamsocketFleet, backend: SimBackend, after: int, now: float) -> None:
        self.fleet = fleet
        self.backend = backend
        self.after = after
        reference = backend.ended_at if backend.ended_at is not None else now
        self.min_slot = 0
        if backend.ready_at is not None:
            current = int((reference - backend.ready_at) // LOG_SLOT)
            self.min_slot = max(0, current - LOG_REPLAY_SLOTS)

    def poll(self, wall_now: float) -> tuple[list[bytes], bool, float | None]:
        fleet = self.fleet
        now = fleet.ctx.now()
        backend = self.backend
        if backend.ready_at is not None:
            # After a long clock jump, skip to the recent lines rather than flood the client.
            reference = now if backend.ended_at is None else min(now, backend.ended_at)
            current = int((reference - backend.ready_at) // LOG_SLOT)
            self.min_slot = max(self.min_slot, current - LOG_REPLAY_SLOTS)
        chunks = []
        upcoming: float | None = None
        for ident, t, text in log_timeline(fleet.ctx.seed, backend, self.after, self.min_slot):
            if t > now:
                upcoming = t
                break
            chunks.append(f"id: {ident}\ndata: {text}\n\n".encode())
            self.after = ident
        done = upcoming is None and backend.status == "terminated"
        wait = fleet.wall_until_due()
        if upcoming is not None:
            until = fleet.ctx.clock.wall(upcoming - now)
            wait = until if wait is None else min(wait, until)
        return chunks, done, wait


# -- log lines --------------------------------------------------------------------------------


def log_timeline(
    seed: int, b: SimBackend, after: int, min_slot: int
) -> Iterator[tuple[int, float, str]]:
    """Every log line after id ``after``, in order, as (id, simulated time, text).

    Lines are a pure function of the seed and the backend's history: startup lines (ids
    1-5), one possible line per 4-second slot while it runs (id 10 + slot), then its last
    words. Endless while the backend runs; the reader stops at the first future line.
    """
    start = b.time_of("starting")
    if start is None:
        return
    app = b.service.app
    names = ", ".join(sorted(b.env))
    startup = [
        (1, start, f"> {app.package} start"),
        (2, start, f"> {app.command}"),
        (3, start, ""),
        (4, start, f"environment: {len(b.env)} variables ({names})"),
    ]
    if b.ready_at is not None:
        startup.append((5, b.ready_at, app.banner))
    for line in startup:
        if line[0] > after:
            yield line
    end = b.ended_at
    slots = 0
    if b.ready_at is not None:
        ready = b.ready_at
        j = max(after - FIRST_SLOT_ID + 1, min_slot, 0)
        while end is None or ready + j * LOG_SLOT < end:
            rng = seeded_rng(seed, NAME, "log", b.id, j)
            if rng.random() < LOG_DENSITY:
                t = ready + (j + rng.random()) * LOG_SLOT
                if end is None or t < end:
                    yield FIRST_SLOT_ID + j, t, _runtime_line(rng)
            j += 1
        slots = math.ceil((end - ready) / LOG_SLOT)
    if end is None:
        return
    base = FIRST_SLOT_ID + slots
    for offset, (t, text) in enumerate(_last_words(b)):
        if base + offset > after:
            yield base + offset, t, text


def _last_words(b: SimBackend) -> list[tuple[float, str]]:
    first = next(e for e in b.statuses if RANK[e.status] >= TERMINATING)
    final = b.statuses[-1] if b.status == "terminated" else None
    if first.status == "terminating":
        lines = [(first.time, "Received SIGTERM, closing connections")]
        if final is not None:
            lines.append((final.time, f"server closed, exiting with code {final.exit_code}"))
        return lines
    if first.status == "terminated" and first.termination_reason is None:
        if first.exit_code == 137:
            return [(first.time, "FATAL ERROR: Reached heap limit - JavaScript heap out of memory")]
        if first.exit_error:
            return [
                (first.time, "Error: connection to state store reset (ECONNRESET)"),
                (first.time, f"process exited with code {first.exit_code}"),
            ]
        return [(first.time, "all sessions closed, exiting")]
    return []


# -- helpers ----------------------------------------------------------------------------------


class EventStreamResponse(StreamingResponse):
    """An event stream whose generator is closed however the answer ends.

    A client that leaves while a write is under way (a dripped one, say) cancels the write,
    not the generator; closing it here still runs its cleanup (its backend's watchers).
    """

    def __init__(self, stream: AsyncGenerator[bytes, None], headers: dict[str, str]) -> None:
        super().__init__(stream, media_type="text/event-stream", headers=headers)
        self._stream = stream

    async def stream_response(self, send: Send) -> None:
        """Send the events, then close the generator even when cancelled."""
        try:
            await super().stream_response(send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()


def sse_response(stream: AsyncGenerator[bytes, None], cors: bool = False) -> StreamingResponse:
    """An event-stream answer that no proxy buffers or caches."""
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if cors:
        headers["Access-Control-Allow-Origin"] = "*"
    return EventStreamResponse(stream, headers)


def json_event(ident: int, data: dict[str, Any]) -> bytes:
    """One SSE event carrying ``data`` as compact JSON, whole in one chunk."""
    return f"id: {ident}\ndata:{json.dumps(data, separators=(',', ':'))}\n\n".encode()


def last_event_id(request: Request) -> int:
    """The ``Last-Event-ID`` a reconnecting client sent (0 when none)."""
    raw = request.headers.get("last-event-id", "").strip()
    return int(raw) if raw.isdigit() else 0


def _runtime_line(rng: Any) -> str:
    template = rng.choice(RUNTIME_LINES)
    return template.format(
        ms=rng.randint(1, 40),
        user=f"user-{rng.randint(1, 99)}",
        n=rng.randint(1, 12),
        peers=rng.randint(1, 30),
        kb=rng.randint(4, 900),
        mb=round(rng.uniform(30, 400), 1),
        slow=rng.randint(250, 4000),
    )
