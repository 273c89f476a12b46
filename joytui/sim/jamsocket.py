"""The simulated Jamsocket HTTP API v2 (``/v2/...``), as ``jamsocket-api-v2.txt`` describes.

One demo account holds a few services (each with a ``default`` environment and pushed images)
and a fleet of session backends. A backend's statuses only move forward (scheduled, loading,
starting, waiting, ready, terminating, hard-terminating, terminated; skipping is allowed), and
every future change waits in a heap keyed by its due time, so :meth:`JamsocketSim.advance`
costs only the changes that are due. The fleet's past is made by the same machinery: each
seeded backend is spawned in the past with its fate queued, and the heap is played up to now.

Three server-sent-event streams (status, logs, metrics) write each event whole in one chunk,
send ``: keep-alive`` comments while idle, honour ``Last-Event-ID``, obey the ``sse_drop_after``
and ``sse_stall`` fault knobs, and sleep once per interval, woken early by status changes.

Where the spec is silent the simulator is plausible:

- Errors are ``{"error": {"message", "status", "code", "id"}}``: 400 ``InvalidRequest``,
  401 ``Unauthorized``, 403 ``Forbidden`` (an account other than the demo one), 404
  ``NotFound``, 405 ``MethodNotAllowed``, 409 ``Conflict``, 415 ``UnsupportedMediaType``
  (a body-taking endpoint called without ``Content-Type: application/json``).
- Keys are scoped to a service; a backend holds its key until it starts terminating.
  ``spawn: false`` with no holder answers 404, and without a key 400.
- ``max_idle_seconds`` (default 300) counts from ``ready`` for a backend nobody has connected
  to; connecting again with its key, or opening its ``url``, resets it. Idle and lifetime
  sweeps always happen; random incidents only when ``SimOptions.incidents`` is on.
- ``url`` and ``ready_url`` point into the simulator (``/__sim__/jamsocket/b/...`` and
  ``/__sim__/jamsocket/ready/...``) so they can be opened; each connect mints a new token.
- A memory limit under 32 MiB makes the backend die of OOM (exit code 137) while starting.
- Terminating a backend that is already terminating or terminated answers ``{"status":"ok"}``
  and changes nothing (a hard terminate still upgrades a soft one).
- ``start`` is inclusive and ``end`` exclusive, compared to the millisecond.
- A terminated backend's metrics stream answers 200 and ends at once (a finished backend's
  logs stream replays its last lines, then ends); metrics flow from ``starting`` on.
- Event ids: status ids are positions in the history, log ids are line numbers, metrics ids
  continue after ``Last-Event-ID``.
- ``mem_available`` is ``mem_limit - mem_used``; ``sys_cpu`` is the host's CPU time (4 cores)
  over the same interval as ``cpu_used``.
- Deleting a service terminates its running backends (reason ``external``).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import math
import re
import string
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Match, Route

from joytui.sim.base import SimContext
from joytui.sim.clock import iso, seeded_rng, smooth_noise

NAME = "jamsocket"
DEMO_ACCOUNT = "demo"
DEMO_TOKEN = "jsk_demo_3f9a61c2e7b84d05"
CLUSTER = "p.jamsocket.net"

STATUSES = (
    "scheduled",
    "loading",
    "starting",
    "waiting",
    "ready",
    "terminating",
    "hard-terminating",
    "terminated",
)
RANK = {status: i for i, status in enumerate(STATUSES)}
TERMINATING = RANK["terminating"]
TERMINATION_REASONS = ("swept", "external", "keyexpired", "lost", "startuptimeout", "internalerror")

STARTUP_STEPS = (
    ("loading", 0.1, 0.5),
    ("starting", 0.5, 3.0),
    ("waiting", 0.2, 1.0),
    ("ready", 0.5, 2.5),
)
"""Each startup status and how long (simulated seconds) the one before it lasts."""
SOFT_STOP = (0.3, 2.0)
HARD_STOP = (0.1, 0.5)
DEFAULT_MAX_IDLE = 300.0
OOM_FLOOR = 32 * 2**20
HOST_CPUS = 4
INCIDENT_WINDOW = 60.0
INCIDENT_HORIZON = 86400.0
"""After a longer clock jump, only the last day of incident windows is played."""
LOG_SLOT = 4.0
LOG_DENSITY = 0.45
LOG_REPLAY_SLOTS = 150
FIRST_SLOT_ID = 10
KEEPALIVE = b": keep-alive\n\n"
ID_CHARS = string.ascii_lowercase + string.digits
TOKEN_CHARS = string.ascii_letters + string.digits + "-_"
ERROR_ID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
RESERVED_ENV = (
    "PORT",
    "SESSION_BACKEND_ID",
    "SESSION_BACKEND_KEY",
    "SESSION_BACKEND_FENCING_TOKEN",
)
MIB = 2**20


@dataclass(frozen=True)
class AppProfile:
    """What a service's container prints: its package, start command, banner and key prefix."""

    package: str
    command: str
    banner: str
    key_prefix: str


SERVICE_APPS = {
    "whiteboard": AppProfile(
        "whiteboard-server@2.4.1",
        "node dist/server.js",
        "whiteboard server listening on port 8080",
        "board",
    ),
    "doc-sync": AppProfile(
        "doc-sync@1.9.0", "node build/index.js", "y-websocket sync server ready on :8080", "doc"
    ),
    "game-lobby": AppProfile(
        "lobby@0.7.3", "node src/lobby.js", "lobby accepting players on port 8080", "lobby"
    ),
    "notebook-kernel": AppProfile(
        "kernel-gateway@3.0.1",
        "python -m kernel_gateway",
        "Uvicorn running on http://0.0.0.0:8080 (Press CTRL+C to quit)",
        "nb",
    ),
    "pdf-render": AppProfile(
        "pdf-render@3.1.0", "node server.mjs", "render worker listening on 8080", "job"
    ),
}
GENERIC_APP = AppProfile(
    "app@0.1.0", "node src/server.js", "Example app listening on port 8080", "session"
)
COMMIT_MESSAGES = (
    "Fix reconnect loop when the socket closes early",
    "Bump yjs to 13.6",
    "Add snapshot compression",
    "Handle SIGTERM gracefully",
    "Log slow handlers",
    "Cap room size at 64 peers",
    "Update base image to node 20",
)
RUNTIME_LINES = (
    "GET /healthz 200 {ms}ms",
    "client {user} connected ({n} active)",
    "client {user} disconnected ({n} active)",
    "saved snapshot {kb} KiB in {ms}ms",
    "broadcast {n} updates to {peers} peers",
    "gc: heap {mb} MiB",
    "warn: slow message handler took {slow}ms",
)
BASE_FATES = (
    ("ready",) * 6
    + ("idle",) * 2
    + ("booting",) * 2
    + ("terminating",)
    + ("swept", "external", "external-hard", "keyexpired", "lost", "startuptimeout")
    + ("internalerror", "exited", "crashed")
)
EXTRA_FATES = ("ready", "ready", "swept", "external", "oom", "crashed", "idle")


# -- state ------------------------------------------------------------------------------------


@dataclass(slots=True)
class StatusEntry:
    """One step of a backend's status history."""

    status: str
    time: float
    last_status: str | None = None
    termination_reason: str | None = None
    termination_kind: str | None = None
    exit_code: int | None = None
    exit_error: bool | None = None


@dataclass
class SimImage:
    """An image pushed for a service."""

    digest: str
    tag: str
    upload_time: float
    git_commit: dict[str, str] | None = None


@dataclass
class SimEnvironment:
    """A service environment: which cluster and image tag its spawns use."""

    name: str
    cluster: str
    created_at: float
    image_tag: str
    last_spawned_at: float | None = None


@dataclass(eq=False)
class SimService:
    """A service of the demo account, its images and the keys its live backends hold."""

    name: str
    created_at: float
    environments: list[SimEnvironment]
    images: list[SimImage]
    default_mem: int
    app: AppProfile
    last_spawned_at: float | None = None
    keys: dict[str, SimBackend] = field(default_factory=dict)


class _Wakeup:
    """One stream's alarm clock: rung by its backend's status changes or by a timer."""

    __slots__ = ("event", "loop")

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def wake(self) -> None:
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
        # One timer per nap (no wait_for task), and at least a millisecond so a loop cannot spin.
        handle = self.loop.call_later(max(0.001, seconds), self.event.set)
        try:
            await self.event.wait()
        finally:
            handle.cancel()
            self.event.clear()


@dataclass(eq=False)
class SimBackend:
    """A session backend: where it runs, how it was spawned and its status history."""

    id: str
    service: SimService
    environment: SimEnvironment
    key: str | None
    created_at: float
    image_digest: str
    max_mem_bytes: int
    secret_token: str
    env: dict[str, str]
    max_idle: float = DEFAULT_MAX_IDLE
    lifetime: float | None = None
    connected: bool = False
    """Whether simulated clients are attached (then it is never idle-swept)."""
    user: str | None = None
    idle_since: float | None = None
    ready_at: float | None = None
    ended_at: float | None = None
    """When it started terminating (or terminated outright)."""
    cpu_base: float = 0.1
    mem_base: float = 100.0 * MIB
    gen: int = 0
    """Bumped when a termination starts, so queued startup steps no longer apply."""
    statuses: list[StatusEntry] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    watchers: set[_Wakeup] = field(default_factory=set)

    @property
    def status(self) -> str:
        """The latest status."""
        return self.statuses[-1].status

    @property
    def live(self) -> bool:
        """Not yet terminating: it holds its key and counts as running."""
        return RANK[self.status] < TERMINATING

    def last_live_status(self) -> str:
        """The last status before termination began."""
        for entry in reversed(self.statuses):
            if RANK[entry.status] < TERMINATING:
                return entry.status
        return "scheduled"

    def time_of(self, status: str) -> float | None:
        """When it reached ``status``, if it did."""
        for entry in self.statuses:
            if entry.status == status:
                return entry.time
        return None


@dataclass
class SpawnConfig:
    """The validated ``spawn`` object of a connect request."""

    tag: str | None = None
    lifetime: float | None = None
    max_idle: float = DEFAULT_MAX_IDLE
    env: dict[str, str] = field(default_factory=dict)
    memory_limit: int | None = None


class SpawnConfigError(ValueError):
    """A connect request whose body does not follow the spec's schema."""


# -- the simulated API ------------------------------------------------------------------------


class JamsocketSim:
    """Services, images and session backends of one demo account, behind the v2 API."""

    name = NAME

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.services: dict[str, SimService] = {}
        self.backends: dict[str, SimBackend] = {}
        self._live: dict[str, SimBackend] = {}
        self._heap: list[tuple[float, int, str, str, Any]] = []
        self._seq = 0
        self._spawns = 0
        self._errors = 0
        self._t0 = ctx.now()
        self._horizon = self._t0
        self._api_routes = self._build_routes()
        self._seed_fleet(self._t0)
        self._push(self._t0 + INCIDENT_WINDOW, "incident", None, 1)
        self.advance(self._t0)

    # -- the fleet ----------------------------------------------------------------------------

    def _seed_fleet(self, now: float) -> None:
        rng = self.ctx.rng(NAME, "fleet")
        names = rng.sample(sorted(SERVICE_APPS), rng.choice([3, 4]))
        for name in names:
            self._seed_service(name, now)
        fates = list(BASE_FATES) + rng.choices(EXTRA_FATES, k=rng.randint(0, 4))
        rng.shuffle(fates)
        for i, fate in enumerate(fates):
            self._seed_backend(i, fate, now)

    def _seed_service(self, name: str, now: float) -> None:
        rng = self.ctx.rng(NAME, "service", name)
        upload = now - rng.uniform(2.5, 6) * 86400
        uploads = [upload]
        count = rng.randint(3, 5)
        for _ in range(count - 1):
            upload -= rng.uniform(2, 10) * 86400
            uploads.append(upload)
        uploads.reverse()
        created = uploads[0] - rng.uniform(1, 30) * 86400
        images = []
        for k, uploaded in enumerate(uploads):
            newest = k == count - 1
            tag = "latest" if newest or rng.random() < 0.3 else f"v1.{k}.{rng.randint(0, 4)}"
            # The newest image was pushed by the GitHub action, the oldest by hand.
            with_commit = newest or (k > 0 and rng.random() < 0.5)
            commit = None
            if with_commit:
                commit = {
                    "branch": rng.choice(["main", "main", "release"]),
                    "hash": "".join(rng.choices("0123456789abcdef", k=40)),
                    "message": rng.choice(COMMIT_MESSAGES),
                    "repository": f"demo-org/{name}",
                }
            digest = "sha256:" + "".join(rng.choices("0123456789abcdef", k=64))
            images.append(SimImage(digest, tag, uploaded, commit))
        env = SimEnvironment("default", CLUSTER, created, "latest")
        self.services[name] = SimService(
            name=name,
            created_at=created,
            environments=[env],
            images=images,
            default_mem=rng.choice([512 * MIB, 1024 * MIB, 2048 * MIB]),
            app=SERVICE_APPS[name],
        )

    def _seed_backend(self, i: int, fate: str, now: float) -> None:
        rng = self.ctx.rng(NAME, "fleet", "backend", i)
        service = rng.choice(list(self.services.values()))
        key = None
        if rng.random() < 0.6:
            # The index suffix keeps keys unique, so no two seeded backends contend for one.
            key = f"{service.app.key_prefix}-{rng.randint(100, 999)}{i}"
        cfg = SpawnConfig(max_idle=rng.choice([300.0, 600.0, 900.0]))
        if fate == "oom":
            cfg.memory_limit = 16 * MIB
        elif rng.random() < 0.25:
            cfg.memory_limit = rng.choice([256, 768, 4096]) * MIB
        live = fate in ("ready", "idle", "booting", "terminating")
        if fate == "booting":
            created = now - rng.uniform(0.0, 1.5)
        elif live:
            created = now - rng.uniform(cfg.max_idle + 120, 6 * 3600)
        else:
            created = now - rng.uniform(3600, 2 * 86400)
        age = now - created
        if fate == "ready" and rng.random() < 0.3:
            cfg.lifetime = round(age + rng.uniform(3600, 86400))
        image = self._resolve_image(service, "latest", created) or service.images[-1]
        backend = self._spawn(
            service,
            created,
            key=key,
            user=None,
            cfg=cfg,
            image=image,
            rng=rng,
            connected=True,
            slow_pull=fate == "booting",
            stop_after="waiting" if fate == "startuptimeout" else "ready",
        )
        died = created + rng.uniform(120, max(180.0, min(age - 60, 6 * 3600)))
        if fate == "idle":
            self._push(now - rng.uniform(10, cfg.max_idle - 120), "idle", backend, None)
        elif fate == "terminating":
            at = now - rng.uniform(0.5, 5)
            delay = (now - at) + rng.uniform(20, 90)
            self._push(at, "terminate", backend, ("external", False, delay, None))
        elif fate == "swept":
            self._push(created + rng.uniform(60, age - cfg.max_idle - 60), "idle", backend, None)
        elif fate in ("external", "external-hard"):
            hard = fate == "external-hard"
            self._push(died, "terminate", backend, ("external", hard, None, None))
        elif fate == "keyexpired":
            self._push(died, "terminate", backend, ("keyexpired", False, None, 143))
        elif fate == "startuptimeout":
            self._push(created + 70, "terminate", backend, ("startuptimeout", True, None, None))
        elif fate in ("lost", "internalerror"):
            self._push(died, "die", backend, (fate, None, True))
        elif fate == "exited":
            self._push(died, "die", backend, (None, 0, False))
        elif fate == "crashed":
            self._push(died, "die", backend, (None, 1, True))

    def _spawn(
        self,
        service: SimService,
        now: float,
        *,
        key: str | None,
        user: str | None,
        cfg: SpawnConfig,
        image: SimImage,
        rng: Any,
        connected: bool = False,
        slow_pull: bool = False,
        stop_after: str = "ready",
    ) -> SimBackend:
        """Create a backend at ``now`` (status scheduled) and queue its way to ``stop_after``."""
        ident = "".join(rng.choices(ID_CHARS, k=5))
        while ident in self.backends:
            ident = "".join(rng.choices(ID_CHARS, k=5))
        env = dict(cfg.env)
        # Reserved variables are overridden by the platform's values, as the spec says.
        env.update(
            PORT="8080",
            SESSION_BACKEND_ID=ident,
            SESSION_BACKEND_KEY=key or "",
            SESSION_BACKEND_FENCING_TOKEN=str(rng.randint(1, 400)),
        )
        environment = service.environments[0]
        mem_limit = cfg.memory_limit or service.default_mem
        backend = SimBackend(
            id=ident,
            service=service,
            environment=environment,
            key=key,
            created_at=round(now, 3),
            image_digest=image.digest,
            max_mem_bytes=mem_limit,
            secret_token="".join(rng.choices(TOKEN_CHARS, k=43)),
            env=env,
            max_idle=cfg.max_idle,
            lifetime=cfg.lifetime,
            connected=connected,
            user=user,
            cpu_base=rng.uniform(0.02, 0.6),
            mem_base=rng.uniform(40, 300) * MIB,
        )
        self.backends[ident] = backend
        self._live[ident] = backend
        if key:
            service.keys[key] = backend
        self._append(backend, StatusEntry("scheduled", backend.created_at))
        oom = mem_limit < OOM_FLOOR
        t = backend.created_at
        for status, low, high in STARTUP_STEPS:
            if status == "starting" and slow_pull:
                t += rng.uniform(5, 40)  # a big image takes a while to pull
            else:
                t += rng.uniform(low, high)
            self._push(t, "step", backend, (backend.gen, StatusEntry(status, t)))
            if status == stop_after or (oom and status == "waiting"):
                break
        if oom:
            self._push(t + rng.uniform(0.3, 1.5), "die", backend, (None, 137, True))
        if cfg.lifetime is not None:
            self._push(backend.created_at + cfg.lifetime, "sweep", backend, None)
        # Seeded backends are spawned out of order, so keep the latest time, not the last one.
        latest = max(now, service.last_spawned_at or now)
        service.last_spawned_at = environment.last_spawned_at = latest
        return backend

    # -- time ---------------------------------------------------------------------------------

    def _push(self, due: float, action: str, backend: SimBackend | None, payload: Any) -> None:
        heapq.heappush(self._heap, (due, self._seq, action, backend.id if backend else "", payload))
        self._seq += 1

    def advance(self, now: float) -> None:
        """Apply every queued change due by ``now``, oldest first (O(due changes))."""
        self._horizon = max(self._horizon, now)
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, action, ident, payload = heapq.heappop(heap)
            backend = self.backends.get(ident)
            if action == "incident":
                self._incident(due, payload)
            elif backend is None:
                continue
            elif action == "step":
                gen, entry = payload
                if gen == backend.gen:
                    self._append(backend, entry)
            elif action == "sweep":
                self._sweep(backend, due)
            elif action == "idle":
                self._go_idle(backend, due)
            elif action == "terminate":
                reason, hard, delay, exit_code = payload
                self._terminate(backend, due, reason, hard, delay, exit_code)
            elif action == "die":
                reason, exit_code, exit_error = payload
                self._die(backend, due, reason, exit_code, exit_error)

    def _sync(self) -> float:
        """Bring state to the present and return the simulated time."""
        now = self.ctx.now()
        self.advance(now)
        return now

    def _append(self, backend: SimBackend, entry: StatusEntry) -> bool:
        """Add a status if it is a step forward; never a step back."""
        if backend.statuses and RANK[entry.status] <= RANK[backend.status]:
            return False
        backend.statuses.append(entry)
        if entry.status == "ready":
            backend.ready_at = entry.time
            if not backend.connected:
                backend.idle_since = entry.time
                self._push(entry.time + backend.max_idle, "sweep", backend, None)
        if RANK[entry.status] >= TERMINATING and backend.ended_at is None:
            backend.ended_at = entry.time
            self._live.pop(backend.id, None)
            if backend.key and backend.service.keys.get(backend.key) is backend:
                del backend.service.keys[backend.key]
        for watcher in list(backend.watchers):
            watcher.wake()
        return True

    def _terminate(
        self,
        backend: SimBackend,
        t: float,
        reason: str,
        hard: bool,
        delay: float | None = None,
        exit_code: int | None = None,
    ) -> None:
        """Send SIGTERM (or stop it hard); it reaches ``terminated`` a moment later."""
        target = "hard-terminating" if hard else "terminating"
        if RANK[backend.status] >= RANK[target]:
            return
        last = backend.last_live_status()
        first = backend.ended_at is None
        if not first:
            # A hard stop after a soft one keeps the reason the termination began with.
            reason = backend.statuses[-1].termination_reason or reason
        backend.gen += 1
        kind = "hard" if hard else "soft"
        self._append(backend, StatusEntry(target, t, last, reason, kind))
        rng = self.ctx.rng(NAME, "stop", backend.id, backend.gen)
        if delay is None:
            delay = rng.uniform(*(HARD_STOP if hard else SOFT_STOP))
        if exit_code is None and RANK[last] >= RANK["starting"]:
            exit_code = 137 if hard else 0  # no container yet means no exit code
        final = StatusEntry(
            "terminated", t + delay, last, reason, kind, exit_code, exit_code not in (None, 0)
        )
        self._push(t + delay, "step", backend, (backend.gen, final))

    def _die(
        self,
        backend: SimBackend,
        t: float,
        reason: str | None,
        exit_code: int | None,
        exit_error: bool,
    ) -> None:
        """Stop at once: it crashed, exited, or the platform lost it."""
        if backend.status == "terminated":
            return
        last = backend.last_live_status()
        backend.gen += 1
        self._append(
            backend, StatusEntry("terminated", t, last, reason, None, exit_code, exit_error)
        )

    def _sweep(self, backend: SimBackend, t: float) -> None:
        if not backend.live:
            return
        expired = backend.lifetime is not None and backend.created_at + backend.lifetime <= t
        idle = (
            not backend.connected
            and backend.idle_since is not None
            and backend.idle_since + backend.max_idle <= t
        )
        if expired or idle:
            self._terminate(backend, t, "swept", hard=False)

    def _go_idle(self, backend: SimBackend, t: float) -> None:
        """Its clients left: the idle timer starts (from ready, if it is not ready yet)."""
        if not backend.live or not backend.connected:
            return
        backend.connected = False
        if backend.ready_at is not None:
            backend.idle_since = t
            self._push(t + backend.max_idle, "sweep", backend, None)

    def _touch(self, backend: SimBackend, t: float) -> None:
        """A client connected: restart the idle timer."""
        if backend.live and not backend.connected and backend.ready_at is not None:
            backend.idle_since = t
            self._push(t + backend.max_idle, "sweep", backend, None)

    def _incident(self, t: float, window: int) -> None:
        upcoming = window + 1
        if self._horizon - t > INCIDENT_HORIZON:
            late = int((self._horizon - INCIDENT_HORIZON - self._t0) // INCIDENT_WINDOW)
            upcoming = max(upcoming, late)
        self._push(self._t0 + upcoming * INCIDENT_WINDOW, "incident", None, upcoming)
        if not self.ctx.options.incidents:
            return
        rng = self.ctx.rng(NAME, "incident", window)
        ready = [b for b in self._live.values() if b.status == "ready"]
        roll = rng.random()
        if ready and roll < 0.12:
            victim = rng.choice(ready)
            reason = rng.choice(["lost", "keyexpired", "internalerror"])
            if reason == "keyexpired":
                self._terminate(victim, t, reason, hard=False, exit_code=143)
            else:
                self._die(victim, t, reason, None, True)
        elif ready and roll < 0.2:
            self._terminate(rng.choice(ready), t, "swept", hard=False)
        attached = [b for b in self._live.values() if b.status == "ready" and b.connected]
        if attached and rng.random() < 0.2:
            self._go_idle(rng.choice(attached), t)
        live = len(self._live)
        chance = 0.6 if live < 8 else 0.3 if live < 20 else 0.0
        services = [s for s in self.services.values() if s.images]
        if services and rng.random() < chance:
            service = rng.choice(services)
            key = (
                f"{service.app.key_prefix}-{rng.randint(1000, 9999)}"
                if rng.random() < 0.5
                else None
            )
            if key in service.keys:
                key = None
            image = self._resolve_image(service, service.environments[0].image_tag, t)
            if image is not None:
                cfg = SpawnConfig(max_idle=rng.choice([300.0, 600.0]))
                spawn_rng = self.ctx.rng(NAME, "incident-spawn", window)
                self._spawn(
                    service,
                    t,
                    key=key,
                    user=None,
                    cfg=cfg,
                    image=image,
                    rng=spawn_rng,
                    connected=rng.random() < 0.7,
                )

    def _wall_until_due(self) -> float | None:
        """Wall seconds until the next queued change, for streams that must see it happen."""
        if not self._heap:
            return None
        return max(0.0, self.ctx.clock.wall(self._heap[0][0] - self.ctx.now()))

    # -- lookups ------------------------------------------------------------------------------

    @staticmethod
    def _resolve_image(service: SimService, tag: str, at: float) -> SimImage | None:
        """The newest image (pushed by ``at`` if any was) whose tag or digest is ``tag``."""
        matches = [i for i in service.images if tag in (i.tag, i.digest)]
        if not matches:
            return None
        pushed = [i for i in matches if i.upload_time <= at] or matches
        return max(pushed, key=lambda i: i.upload_time)

    # -- wire shapes --------------------------------------------------------------------------

    @staticmethod
    def _public_status(entry: StatusEntry) -> dict[str, Any]:
        """A status as ``/status`` and the status stream show it (nulls left out)."""
        out: dict[str, Any] = {"status": entry.status, "time": iso(entry.time)}
        if entry.termination_reason is not None:
            out["termination_reason"] = entry.termination_reason
        if entry.termination_kind is not None:
            out["termination_kind"] = entry.termination_kind
        if entry.status == "terminated":
            out["exit_error"] = bool(entry.exit_error)
        return out

    @staticmethod
    def _history_status(entry: StatusEntry) -> dict[str, Any]:
        """A status as the authenticated metadata shows it, with exit code and last status."""
        out: dict[str, Any] = {"time": iso(entry.time), "status": entry.status}
        if RANK[entry.status] >= TERMINATING:
            out["last_status"] = entry.last_status
            out["termination_reason"] = entry.termination_reason
            out["termination_kind"] = entry.termination_kind
        if entry.status == "terminated":
            out["exit_code"] = entry.exit_code
            out["exit_error"] = bool(entry.exit_error)
        return out

    def _backend_common(self, b: SimBackend) -> dict[str, Any]:
        return {
            "account_name": DEMO_ACCOUNT,
            "cluster_name": b.environment.cluster,
            "created_at": iso(b.created_at),
            "environment_name": b.environment.name,
            "id": b.id,
            "image_digest": b.image_digest,
            "key": b.key,
            "max_mem_bytes": b.max_mem_bytes,
            "service_name": b.service.name,
        }

    def _backend_item(self, b: SimBackend) -> dict[str, Any]:
        return {
            **self._backend_common(b),
            "ready_timestamp": iso(b.ready_at) if b.ready_at is not None else None,
            "status": self._public_status(b.statuses[-1]),
        }

    def _backend_metadata(self, b: SimBackend) -> dict[str, Any]:
        return {
            **self._backend_common(b),
            "statuses": [self._history_status(e) for e in b.statuses],
        }

    def _service_wire(self, s: SimService) -> dict[str, Any]:
        newest = max(s.images, key=lambda i: i.upload_time) if s.images else None
        return {
            "account_name": DEMO_ACCOUNT,
            "created_at": iso(s.created_at),
            "environments": [
                {
                    "cluster": e.cluster,
                    "created_at": iso(e.created_at),
                    "image_tag": e.image_tag,
                    "last_spawned_at": _iso_or_none(e.last_spawned_at),
                    "name": e.name,
                }
                for e in s.environments
            ],
            "image_name": f"registry.jamsocket.com/{DEMO_ACCOUNT}/{s.name}",
            "last_image_digest": newest.digest if newest else None,
            "last_image_upload_time": iso(newest.upload_time) if newest else None,
            "last_spawned_at": _iso_or_none(s.last_spawned_at),
            "name": s.name,
        }

    def _image_wire(self, s: SimService, image: SimImage) -> dict[str, Any]:
        out: dict[str, Any] = {"digest": image.digest}
        if image.git_commit is not None:
            out["git_commit"] = dict(image.git_commit)
        out["repository"] = f"{DEMO_ACCOUNT}/{s.name}"
        out["tag"] = image.tag
        out["upload_time"] = _iso_seconds(image.upload_time)
        return out

    def _connection(self, b: SimBackend, spawned: bool) -> dict[str, Any]:
        rng = self.ctx.rng(NAME, "token", b.id, len(b.tokens))
        token = "".join(rng.choices(TOKEN_CHARS, k=43))
        b.tokens.append(token)
        base = self.ctx.base_url.rstrip("/")
        return {
            "backend_id": b.id,
            "spawned": spawned,
            "status": b.status,
            "token": token,
            "url": f"{base}/__sim__/{NAME}/b/{b.id}/{token}/",
            "secret_token": b.secret_token,
            "status_url": f"{base}/v2/backend/{b.id}/status",
            "ready_url": f"{base}/__sim__/{NAME}/ready/{b.id}/{token}/",
        }

    def _metrics_sample(self, b: SimBackend, now: float, dt: float) -> dict[str, Any]:
        """CPU as nanoseconds used over the last ``dt`` simulated seconds; memory in bytes."""
        key = (self.ctx.seed, NAME, b.id)
        load = b.cpu_base * (0.35 + 1.3 * smooth_noise(now, 20.0, *key, "cpu"))
        if b.status in ("starting", "waiting"):
            load = min(1.0, load + 0.6)  # booting burns a core
        elif RANK[b.status] >= TERMINATING:
            load *= 0.25
        mem = b.mem_base * (0.8 + 0.4 * smooth_noise(now, 90.0, *key, "mem"))
        mem_used = int(min(mem, b.max_mem_bytes))
        return {
            "backend_id": b.id,
            "cpu_used": int(load * dt * 1e9),
            "mem_available": b.max_mem_bytes - mem_used,
            "mem_limit": b.max_mem_bytes,
            "mem_used": mem_used,
            "sys_cpu": int(HOST_CPUS * dt * 1e9),
        }

    def _log_timeline(
        self, b: SimBackend, after: int, min_slot: int
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
                rng = seeded_rng(self.ctx.seed, NAME, "log", b.id, j)
                if rng.random() < LOG_DENSITY:
                    t = ready + (j + rng.random()) * LOG_SLOT
                    if end is None or t < end:
                        yield FIRST_SLOT_ID + j, t, _runtime_line(rng)
                j += 1
            slots = math.ceil((end - ready) / LOG_SLOT)
        if end is None:
            return
        base = FIRST_SLOT_ID + slots
        for offset, (t, text) in enumerate(self._last_words(b)):
            if base + offset > after:
                yield base + offset, t, text

    @staticmethod
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
                return [
                    (first.time, "FATAL ERROR: Reached heap limit - JavaScript heap out of memory")
                ]
            if first.exit_error:
                return [
                    (first.time, "Error: connection to state store reset (ECONNRESET)"),
                    (first.time, f"process exited with code {first.exit_code}"),
                ]
            return [(first.time, "all sessions closed, exiting")]
        return []

    # -- routes -------------------------------------------------------------------------------

    def _build_routes(self) -> list[Route]:
        svc = "/v2/service/{account}/{service}"
        acct = "/v2/account/{account}"
        backend = "/v2/backend/{backend_id}"
        return [
            Route(f"{svc}/connect", self._connect, methods=["POST"]),
            Route(f"{svc}/backends", self._service_backends, methods=["GET"]),
            Route(f"{svc}/images", self._images, methods=["GET"]),
            Route(f"{svc}/update", self._update_service, methods=["POST"]),
            Route(f"{svc}/delete", self._delete_service, methods=["POST"]),
            Route(svc, self._get_service, methods=["GET"]),
            Route(f"{acct}/backends", self._running_backends, methods=["GET"]),
            Route(f"{acct}/services", self._list_services, methods=["GET"]),
            Route(f"{acct}/service", self._create_service, methods=["POST"]),
            Route(f"{backend}/status", self._status, methods=["GET"]),
            Route(f"{backend}/status/stream", self._status_stream, methods=["GET"]),
            Route(f"{backend}/logs/stream", self._logs_stream, methods=["GET"]),
            Route(f"{backend}/metrics/stream", self._metrics_stream, methods=["GET"]),
            Route(f"{backend}/terminate", self._terminate_route, methods=["POST"]),
            Route(backend, self._get_backend, methods=["GET"]),
        ]

    def routes(self) -> list[BaseRoute]:
        """The v2 API, then a catch-all so unknown ``/v2/`` paths also answer JSON errors."""
        return [*self._api_routes, Route("/v2/{rest:path}", self._fallback, methods=None)]

    def control_routes(self) -> list[BaseRoute]:
        """``POST /kill/{id}`` (die now), and the pages ``url`` and ``ready_url`` point at."""
        return [
            Route("/kill/{backend_id}", self._kill, methods=["POST"]),
            Route("/ready/{backend_id}/{token}/", self._ready_page, methods=["GET"]),
            Route("/b/{backend_id}/{token}/", self._backend_page, methods=["GET"]),
        ]

    # -- request helpers ----------------------------------------------------------------------

    def _error(self, status: int, code: str, message: str) -> JSONResponse:
        self._errors += 1
        rng = self.ctx.rng(NAME, "error", self._errors)
        ident = "".join(rng.choices(ERROR_ID_CHARS, k=26))
        body = {"error": {"message": message, "status": status, "code": code, "id": ident}}
        return JSONResponse(body, status_code=status)

    def _refused(self, request: Request) -> Response | None:
        if self.ctx.faults.get(NAME).auth_fail:
            return self._error(401, "Unauthorized", "The access token was revoked or is invalid.")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._error(
                401, "Unauthorized", "Missing access token: send 'Authorization: Bearer <token>'."
            )
        if token.strip() != DEMO_TOKEN:
            return self._error(401, "Unauthorized", "The access token is invalid or expired.")
        account = request.path_params.get("account")
        if account is not None and account != DEMO_ACCOUNT:
            return self._error(
                403, "Forbidden", f"The access token has no access to account {account!r}."
            )
        return None

    def _find_service(self, request: Request) -> SimService | Response:
        service = self.services.get(request.path_params["service"])
        if service is None:
            name = request.path_params["service"]
            return self._error(404, "NotFound", f"Service {name!r} not found in {DEMO_ACCOUNT!r}.")
        return service

    def _find_backend(self, request: Request) -> SimBackend | Response:
        backend = self.backends.get(request.path_params["backend_id"])
        if backend is None:
            ident = request.path_params["backend_id"]
            return self._error(404, "NotFound", f"Backend {ident!r} not found.")
        return backend

    async def _json_body(self, request: Request, require_json: bool) -> Any:
        """The parsed body (None when empty), or an error response."""
        ctype = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if require_json and ctype != "application/json":
            return self._error(
                415, "UnsupportedMediaType", "This endpoint needs 'Content-Type: application/json'."
            )
        raw = await request.body()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return self._error(400, "InvalidRequest", "The request body is not valid JSON.")

    # -- service endpoints --------------------------------------------------------------------

    async def _list_services(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        return JSONResponse({"services": sorted(self.services)})

    async def _create_service(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        body = await self._json_body(request, require_json=True)
        if isinstance(body, Response):
            return body
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not SERVICE_NAME.match(name):
            return self._error(
                400,
                "InvalidRequest",
                'Body must be {"name": string}: lowercase letters, digits and dashes.',
            )
        if name in self.services:
            return self._error(409, "Conflict", f"Service {name!r} already exists.")
        now = self._sync()
        self.services[name] = SimService(
            name=name,
            created_at=now,
            environments=[SimEnvironment("default", CLUSTER, now, "latest")],
            images=[],
            default_mem=1024 * MIB,
            app=GENERIC_APP,
        )
        return JSONResponse({"status": "ok"})

    async def _get_service(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        found = self._find_service(request)
        return found if isinstance(found, Response) else JSONResponse(self._service_wire(found))

    async def _delete_service(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        found = self._find_service(request)
        if isinstance(found, Response):
            return found
        now = self._sync()
        for backend in [b for b in self._live.values() if b.service is found]:
            self._terminate(backend, now, "external", hard=False)
        del self.services[found.name]
        return JSONResponse({"status": "ok"})

    async def _images(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        found = self._find_service(request)
        if isinstance(found, Response):
            return found
        newest_first = sorted(found.images, key=lambda i: i.upload_time, reverse=True)
        return JSONResponse({"images": [self._image_wire(found, i) for i in newest_first]})

    async def _update_service(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        found = self._find_service(request)
        if isinstance(found, Response):
            return found
        body = await self._json_body(request, require_json=True)
        if isinstance(body, Response):
            return body
        tag = body.get("image_tag") if isinstance(body, dict) else None
        if not isinstance(tag, str) or not tag:
            return self._error(400, "InvalidRequest", 'Body must be {"image_tag": string}.')
        if self._resolve_image(found, tag, self.ctx.now()) is None:
            return self._error(
                400, "InvalidRequest", f"No image of {found.name!r} has tag or digest {tag!r}."
            )
        for environment in found.environments:
            environment.image_tag = tag
        return JSONResponse({"status": "ok"})

    # -- backend endpoints --------------------------------------------------------------------

    async def _connect(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        found = self._find_service(request)
        if isinstance(found, Response):
            return found
        body = await self._json_body(request, require_json=True)
        if isinstance(body, Response):
            return body
        try:
            key, user, spawn = _parse_connect(body)
        except SpawnConfigError as exc:
            return self._error(400, "InvalidRequest", str(exc))
        now = self._sync()
        if key is not None and (holder := found.keys.get(key)) is not None:
            self._touch(holder, now)
            return JSONResponse(self._connection(holder, spawned=False))
        if spawn is None:
            if key is None:
                return self._error(400, "InvalidRequest", "spawn: false needs a key to look up.")
            return self._error(
                404, "NotFound", f"No running backend holds key {key!r} and spawn is false."
            )
        if not found.images:
            return self._error(
                400, "InvalidRequest", f"Service {found.name!r} has no images; push one first."
            )
        tag = spawn.tag or found.environments[0].image_tag
        image = self._resolve_image(found, tag, now)
        if image is None:
            return self._error(
                400, "InvalidRequest", f"No image of {found.name!r} has tag or digest {tag!r}."
            )
        self._spawns += 1
        backend = self._spawn(
            found,
            now,
            key=key,
            user=user,
            cfg=spawn,
            image=image,
            rng=self.ctx.rng(NAME, "spawn", self._spawns),
        )
        return JSONResponse(self._connection(backend, spawned=True))

    async def _status(self, request: Request) -> Response:
        found = self._find_backend(request)
        if isinstance(found, Response):
            return found
        body = self._public_status(found.statuses[-1])
        return JSONResponse(body, headers={"Access-Control-Allow-Origin": "*"})

    async def _get_backend(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        found = self._find_backend(request)
        return found if isinstance(found, Response) else JSONResponse(self._backend_metadata(found))

    async def _service_backends(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        found = self._find_service(request)
        if isinstance(found, Response):
            return found
        bounds = []
        for name in ("start", "end"):
            raw = request.query_params.get(name, "").strip()
            if not raw:
                bounds.append(None)
                continue
            when = _parse_timestamp(raw)
            if when is None:
                return self._error(
                    400, "InvalidRequest", f"{name} must be an ISO 8601 datetime, got {raw!r}."
                )
            bounds.append(when)
        start, end = bounds
        chosen = []
        for b in self.backends.values():
            created = _millis(b.created_at)
            if b.service is not found:
                continue
            if (start is not None and created < start) or (end is not None and created >= end):
                continue
            chosen.append(b)
        chosen.sort(key=lambda b: (b.created_at, b.id), reverse=True)
        return JSONResponse({"backends": [self._backend_item(b) for b in chosen]})

    async def _running_backends(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        running = [b for b in self.backends.values() if b.status != "terminated"]
        running.sort(key=lambda b: (b.created_at, b.id), reverse=True)
        return JSONResponse({"running_backends": [self._backend_item(b) for b in running]})

    async def _terminate_route(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        found = self._find_backend(request)
        if isinstance(found, Response):
            return found
        body = await self._json_body(request, require_json=True)
        if isinstance(body, Response):
            return body
        hard = False
        if body is not None:
            if not isinstance(body, dict) or not isinstance(body.get("hard", False), bool):
                return self._error(400, "InvalidRequest", 'Body must be {"hard": boolean}.')
            hard = body.get("hard", False)
        now = self._sync()
        self._terminate(found, now, "external", hard=hard)
        return JSONResponse({"status": "ok"})

    async def _fallback(self, request: Request) -> Response:
        for route in self._api_routes:
            match, _ = route.matches(request.scope)
            if match is Match.PARTIAL:
                return self._error(
                    405, "MethodNotAllowed", f"{request.method} is not allowed on this endpoint."
                )
        return self._error(404, "NotFound", f"No such endpoint: {request.url.path}")

    # -- streams ------------------------------------------------------------------------------

    async def _status_stream(self, request: Request) -> Response:
        found = self._find_backend(request)
        if isinstance(found, Response):
            return found
        feed = _StatusFeed(self, found, _last_event_id(request))
        return _sse_response(self._stream(found, feed), cors=True)

    async def _logs_stream(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        found = self._find_backend(request)
        if isinstance(found, Response):
            return found
        feed = _LogFeed(self, found, _last_event_id(request), self.ctx.now())
        return _sse_response(self._stream(found, feed))

    async def _metrics_stream(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        found = self._find_backend(request)
        if isinstance(found, Response):
            return found
        feed = _MetricsFeed(self, found, _last_event_id(request))
        return _sse_response(self._stream(found, feed))

    async def _stream(self, backend: SimBackend, feed: _Feed) -> AsyncIterator[bytes]:
        """Drive one SSE stream: poll the feed, write events and keep-alives, sleep between."""
        loop = asyncio.get_running_loop()
        wakeup = _Wakeup()
        backend.watchers.add(wakeup)
        options = self.ctx.options
        sent = 0
        last_write = loop.time()
        try:
            while True:
                keepalive = max(0.01, options.keepalive_seconds)
                knobs = self.ctx.faults.get(NAME)
                limit = knobs.sse_drop_after
                if limit is not None and sent >= limit:
                    return
                if knobs.sse_stall:
                    # Silent while stalled; look at the knob again soon to resume promptly.
                    await wakeup.nap(min(keepalive, 0.5))
                    continue
                self.advance(self.ctx.now())
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

    # -- controls -----------------------------------------------------------------------------

    async def _kill(self, request: Request) -> Response:
        now = self._sync()
        found = self._find_backend(request)
        if isinstance(found, Response):
            return found
        body = await self._json_body(request, require_json=False)
        if isinstance(body, Response):
            return body
        reason = body.get("reason", "lost") if isinstance(body, dict) else "lost"
        if reason not in TERMINATION_REASONS:
            return self._error(
                400, "InvalidRequest", f"reason must be one of {TERMINATION_REASONS}"
            )
        if found.status == "terminated":
            return self._error(409, "Conflict", f"Backend {found.id!r} is already terminated.")
        self._die(found, now, reason, None, True)
        return JSONResponse(self._public_status(found.statuses[-1]))

    async def _ready_page(self, request: Request) -> Response:
        self._sync()
        found = self.backends.get(request.path_params["backend_id"])
        token = request.path_params["token"]
        if found is None or token not in found.tokens:
            return HTMLResponse("<h1>No such backend</h1>", status_code=404)
        if found.status == "ready":
            base = self.ctx.base_url.rstrip("/")
            return RedirectResponse(f"{base}/__sim__/{NAME}/b/{found.id}/{token}/")
        refresh = '<meta http-equiv="refresh" content="1">' if found.live else ""
        return HTMLResponse(
            f"<html><head>{refresh}</head><body><p>Backend {found.id} is {found.status}.</p>"
            "</body></html>"
        )

    async def _backend_page(self, request: Request) -> Response:
        now = self._sync()
        found = self.backends.get(request.path_params["backend_id"])
        if found is None or request.path_params["token"] not in found.tokens:
            return HTMLResponse("<h1>No such backend</h1>", status_code=404)
        if found.status != "ready":
            return HTMLResponse(f"<p>Backend {found.id} is {found.status}.</p>", status_code=502)
        self._touch(found, now)
        return HTMLResponse(
            f"<html><body><h1>{found.service.name}</h1><p>Session backend {found.id}"
            f" (key {found.key or 'none'}) is ready.</p></body></html>"
        )

    # -- simulator plumbing -------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Counts of services and backends, by status."""
        counts: dict[str, int] = {}
        for backend in self.backends.values():
            counts[backend.status] = counts.get(backend.status, 0) + 1
        return {
            "services": len(self.services),
            "backends": len(self.backends),
            "running": len(self._live),
            "by_status": counts,
            "queued_changes": len(self._heap),
        }

    def demo_account(self, base_url: str) -> dict[str, Any]:
        """The config account for this simulator, with the demo token."""
        return {
            "name": "sim-jamsocket",
            "base_url": base_url,
            "account": DEMO_ACCOUNT,
            "token": DEMO_TOKEN,
        }


# -- stream feeds -----------------------------------------------------------------------------


class _Feed(Protocol):
    def poll(self, wall_now: float) -> tuple[list[bytes], bool, float | None]:
        """Events ready now, whether the stream is finished, wall seconds until polling again."""
        ...


class _StatusFeed:
    """The history (ids are positions in it), then each new status, until ``terminated``."""

    def __init__(self, sim: JamsocketSim, backend: SimBackend, after: int) -> None:
        self.sim = sim
        self.backend = backend
        self.next = after

    def poll(self, wall_now: float) -> tuple[list[bytes], bool, float | None]:
        history = self.backend.statuses
        chunks = [
            _json_event(i + 1, self.sim._public_status(history[i]))
            for i in range(self.next, len(history))
        ]
        self.next = max(self.next, len(history))
        return chunks, history[-1].status == "terminated", self.sim._wall_until_due()


class _MetricsFeed:
    """A sample every ``metrics_interval`` wall seconds from ``starting`` until it terminates."""

    def __init__(self, sim: JamsocketSim, backend: SimBackend, after: int) -> None:
        self.sim = sim
        self.backend = backend
        self.next_id = after + 1
        self.next_at: float | None = None
        self.prev_sim: float | None = None

    def poll(self, wall_now: float) -> tuple[list[bytes], bool, float | None]:
        backend = self.backend
        if backend.status == "terminated":
            return [], True, None
        if RANK[backend.status] < RANK["starting"]:
            return [], False, self.sim._wall_until_due()
        interval = max(0.01, self.sim.ctx.options.metrics_interval)
        if self.next_at is None:
            self.next_at = wall_now
        chunks = []
        # The event loop may wake a timer up to a clock tick early.
        if wall_now >= self.next_at - 0.001:
            sim_now = self.sim.ctx.now()
            if self.prev_sim is not None and sim_now > self.prev_sim:
                dt = sim_now - self.prev_sim
            else:
                dt = interval * (self.sim.ctx.clock.speed or 1.0)
            sample = self.sim._metrics_sample(backend, sim_now, dt)
            chunks.append(_json_event(self.next_id, sample))
            self.next_id += 1
            self.prev_sim = sim_now
            self.next_at += interval
            if self.next_at <= wall_now:  # fell behind: skip, don't burst
                self.next_at = wall_now + interval
        return chunks, False, self.next_at - wall_now


class _LogFeed:
    """Recent log lines (startup lines first), then new ones as they are written."""

    def __init__(self, sim: JamsocketSim, backend: SimBackend, after: int, now: float) -> None:
        self.sim = sim
        self.backend = backend
        self.after = after
        reference = backend.ended_at if backend.ended_at is not None else now
        self.min_slot = 0
        if backend.ready_at is not None:
            current = int((reference - backend.ready_at) // LOG_SLOT)
            self.min_slot = max(0, current - LOG_REPLAY_SLOTS)

    def poll(self, wall_now: float) -> tuple[list[bytes], bool, float | None]:
        sim = self.sim
        now = sim.ctx.now()
        backend = self.backend
        if backend.ready_at is not None:
            # After a long clock jump, skip to the recent lines rather than flood the client.
            reference = now if backend.ended_at is None else min(now, backend.ended_at)
            current = int((reference - backend.ready_at) // LOG_SLOT)
            self.min_slot = max(self.min_slot, current - LOG_REPLAY_SLOTS)
        chunks = []
        upcoming: float | None = None
        for ident, t, text in sim._log_timeline(backend, self.after, self.min_slot):
            if t > now:
                upcoming = t
                break
            chunks.append(f"id: {ident}\ndata: {text}\n\n".encode())
            self.after = ident
        done = upcoming is None and backend.status == "terminated"
        wait = sim._wall_until_due()
        if upcoming is not None:
            until = sim.ctx.clock.wall(upcoming - now)
            wait = until if wait is None else min(wait, until)
        return chunks, done, wait


# -- helpers ----------------------------------------------------------------------------------


def _sse_response(stream: AsyncIterator[bytes], cors: bool = False) -> StreamingResponse:
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if cors:
        headers["Access-Control-Allow-Origin"] = "*"
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


def _json_event(ident: int, data: dict[str, Any]) -> bytes:
    return f"id: {ident}\ndata:{json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _last_event_id(request: Request) -> int:
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


def _parse_connect(body: Any) -> tuple[str | None, str | None, SpawnConfig | None]:
    """Key, user and spawn config (None for ``spawn: false``) of a connect body."""
    if body is None:
        return None, None, SpawnConfig()
    if not isinstance(body, dict):
        raise SpawnConfigError("The request body must be a JSON object.")
    key = body.get("key")
    if key is not None and (not isinstance(key, str) or not key):
        raise SpawnConfigError("key must be a non-empty string.")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise SpawnConfigError("user must be a string.")
    if body.get("auth") is not None and not isinstance(body["auth"], dict):
        raise SpawnConfigError("auth must be an object.")
    spawn = body.get("spawn", True)
    if spawn is False:
        return key, user, None
    if spawn is True or spawn is None:
        return key, user, SpawnConfig()
    if not isinstance(spawn, dict):
        raise SpawnConfigError("spawn must be false or a spawn config object.")
    cfg = SpawnConfig()
    for name in ("tag", "cluster"):
        value = spawn.get(name)
        if value is not None and not isinstance(value, str):
            raise SpawnConfigError(f"spawn.{name} must be a string.")
    cfg.tag = spawn.get("tag") or None  # cluster is checked but ignored: there is one cluster
    cfg.lifetime = _positive(spawn, "lifetime_limit_seconds")
    cfg.max_idle = _positive(spawn, "max_idle_seconds") or DEFAULT_MAX_IDLE
    executable = spawn.get("executable")
    if executable is None:
        return key, user, cfg
    if not isinstance(executable, dict):
        raise SpawnConfigError("spawn.executable must be an object.")
    env = executable.get("env")
    if env is not None:
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise SpawnConfigError("spawn.executable.env must map strings to strings.")
        cfg.env = dict(env)
    limits = executable.get("resource_limits")
    if limits is not None:
        if not isinstance(limits, dict):
            raise SpawnConfigError("spawn.executable.resource_limits must be an object.")
        memory = _positive(limits, "memory_limit_bytes")
        cfg.memory_limit = int(memory) if memory is not None else None
    return key, user, cfg


def _positive(obj: dict[str, Any], name: str) -> float | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SpawnConfigError(f"{name} must be a positive number.")
    return float(value)


def _parse_timestamp(raw: str) -> int | None:
    """An ISO 8601 datetime as Unix milliseconds (UTC when no offset is given), or None."""
    text = raw
    if "T" in text and " " in text:
        text = text.replace(" ", "+")  # an unescaped '+' in a query string arrives as a space
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return round(when.timestamp() * 1000)


def _millis(ts: float) -> int:
    return round(ts * 1000)


def _iso_or_none(ts: float | None) -> str | None:
    return iso(ts) if ts is not None else None


def _iso_seconds(ts: float) -> str:
    """ISO 8601 UTC to the second, as the spec's image upload times look."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
