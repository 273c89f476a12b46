"""The Jamsocket fleet: services, images and session backends, and how their statuses move.

A backend's statuses only move forward (scheduled, loading, starting, waiting, ready,
terminating, hard-terminating, terminated; skipping is allowed), and every future change waits
in a heap keyed by its due time, so :meth:`JamsocketFleet.advance` costs only the changes that
are due. The fleet's past is made by the same machinery: each seeded backend is spawned in the
past with its fate queued, and the heap is played up to now.
"""

from __future__ import annotations

import heapq
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from joytui.sim.base import SimContext

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
INCIDENT_WINDOW = 60.0
INCIDENT_HORIZON = 86400.0
"""After a longer clock jump, only the last day of incident windows is played."""
ID_CHARS = string.ascii_lowercase + string.digits
TOKEN_CHARS = string.ascii_letters + string.digits + "-_"
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


GENERIC_APP = AppProfile(
    "app@0.1.0", "node src/server.js", "Example app listening on port 8080", "session"
)
"""What a service created through the API runs."""


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
    name_index: int | None = None
    """Its place among the services the simulator made up (the names faults cycle by it)."""


class Watcher(Protocol):
    """An open stream that wants to hear of its backend's status changes."""

    def wake(self) -> None:
        """Called (from any thread) after the backend's status changed."""
        ...


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
    watchers: set[Watcher] = field(default_factory=set)
    key_index: int | None = None
    """Its place among the keys the simulator made up (the names faults cycle by it)."""

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


# -- the fleet --------------------------------------------------------------------------------


class JamsocketFleet:
    """The demo account's services and backends, moved to the present on demand."""

    def __init__(
        self, ctx: SimContext, populate: Callable[[JamsocketFleet, float], None] | None = None
    ) -> None:
        """An empty fleet, or one ``populate`` fills with its past, played up to now."""
        self.ctx = ctx
        self.services: dict[str, SimService] = {}
        self.backends: dict[str, SimBackend] = {}
        self.live: dict[str, SimBackend] = {}
        """Backends not yet terminating, by id."""
        self._heap: list[tuple[float, int, str, str, Any]] = []
        self._seq = 0
        self._made_up_keys = 0
        self._t0 = ctx.now()
        self._horizon = self._t0
        if populate is not None:
            populate(self, self._t0)
        self.schedule(self._t0 + INCIDENT_WINDOW, "incident", None, 1)
        self.advance(self._t0)

    # -- spawning -----------------------------------------------------------------------------

    def spawn(
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
        key_from_client: bool = False,
    ) -> SimBackend:
        """Create a backend at ``now`` (status scheduled) and queue its way to ``stop_after``.

        ``key_from_client`` marks a key a client chose; the names faults leave those alone.
        """
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
        self.live[ident] = backend
        if key:
            service.keys[key] = backend
            if not key_from_client:
                backend.key_index = self._made_up_keys
                self._made_up_keys += 1
        self._append(backend, StatusEntry("scheduled", backend.created_at))
        oom = mem_limit < OOM_FLOOR
        t = backend.created_at
        for status, low, high in STARTUP_STEPS:
            if status == "starting" and slow_pull:
                t += rng.uniform(5, 40)  # a big image takes a while to pull
            else:
                t += rng.uniform(low, high)
            self.schedule(t, "step", backend, (backend.gen, StatusEntry(status, t)))
            if status == stop_after or (oom and status == "waiting"):
                break
        if oom:
            self.schedule(t + rng.uniform(0.3, 1.5), "die", backend, (None, 137, True))
        if cfg.lifetime is not None:
            self.schedule(backend.created_at + cfg.lifetime, "sweep", backend, None)
        # Seeded backends are spawned out of order, so keep the latest time, not the last one.
        latest = max(now, service.last_spawned_at or now)
        service.last_spawned_at = environment.last_spawned_at = latest
        return backend

    # -- time ---------------------------------------------------------------------------------

    def schedule(self, due: float, action: str, backend: SimBackend | None, payload: Any) -> None:
        """Queue ``action`` (step, sweep, idle, terminate, die, incident) for simulated ``due``."""
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
                self.terminate(backend, due, reason, hard, delay, exit_code)
            elif action == "die":
                reason, exit_code, exit_error = payload
                self.die(backend, due, reason, exit_code, exit_error)

    def sync(self) -> float:
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
                self.schedule(entry.time + backend.max_idle, "sweep", backend, None)
        if RANK[entry.status] >= TERMINATING and backend.ended_at is None:
            backend.ended_at = entry.time
            self.live.pop(backend.id, None)
            if backend.key and backend.service.keys.get(backend.key) is backend:
                del backend.service.keys[backend.key]
        for watcher in list(backend.watchers):
            watcher.wake()
        return True

    def terminate(
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
        self.schedule(t + delay, "step", backend, (backend.gen, final))

    def die(
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
            self.terminate(backend, t, "swept", hard=False)

    def _go_idle(self, backend: SimBackend, t: float) -> None:
        """Its clients left: the idle timer starts (from ready, if it is not ready yet)."""
        if not backend.live or not backend.connected:
            return
        backend.connected = False
        if backend.ready_at is not None:
            backend.idle_since = t
            self.schedule(t + backend.max_idle, "sweep", backend, None)

    def touch(self, backend: SimBackend, t: float) -> None:
        """A client connected: restart the idle timer."""
        if backend.live and not backend.connected and backend.ready_at is not None:
            backend.idle_since = t
            self.schedule(t + backend.max_idle, "sweep", backend, None)

    def _incident(self, t: float, window: int) -> None:
        upcoming = window + 1
        if self._horizon - t > INCIDENT_HORIZON:
            late = int((self._horizon - INCIDENT_HORIZON - self._t0) // INCIDENT_WINDOW)
            upcoming = max(upcoming, late)
        self.schedule(self._t0 + upcoming * INCIDENT_WINDOW, "incident", None, upcoming)
        if not self.ctx.options.incidents:
            return
        rng = self.ctx.rng(NAME, "incident", window)
        ready = [b for b in self.live.values() if b.status == "ready"]
        roll = rng.random()
        if ready and roll < 0.12:
            victim = rng.choice(ready)
            reason = rng.choice(["lost", "keyexpired", "internalerror"])
            if reason == "keyexpired":
                self.terminate(victim, t, reason, hard=False, exit_code=143)
            else:
                self.die(victim, t, reason, None, True)
        elif ready and roll < 0.2:
            self.terminate(rng.choice(ready), t, "swept", hard=False)
        attached = [b for b in self.live.values() if b.status == "ready" and b.connected]
        if attached and rng.random() < 0.2:
            self._go_idle(rng.choice(attached), t)
        live = len(self.live)
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
            image = self.resolve_image(service, service.environments[0].image_tag, t)
            if image is not None:
                cfg = SpawnConfig(max_idle=rng.choice([300.0, 600.0]))
                spawn_rng = self.ctx.rng(NAME, "incident-spawn", window)
                self.spawn(
                    service,
                    t,
                    key=key,
                    user=None,
                    cfg=cfg,
                    image=image,
                    rng=spawn_rng,
                    connected=rng.random() < 0.7,
                )

    def wall_until_due(self) -> float | None:
        """Wall seconds until the next queued change, for streams that must see it happen."""
        if not self._heap:
            return None
        return max(0.0, self.ctx.clock.wall(self._heap[0][0] - self.ctx.now()))

    # -- lookups ------------------------------------------------------------------------------

    @staticmethod
    def resolve_image(service: SimService, tag: str, at: float) -> SimImage | None:
        """The newest image (pushed by ``at`` if any was) whose tag or digest is ``tag``."""
        matches = [i for i in service.images if tag in (i.tag, i.digest)]
        if not matches:
            return None
        pushed = [i for i in matches if i.upload_time <= at] or matches
        return max(pushed, key=lambda i: i.upload_time)

    def summary(self) -> dict[str, Any]:
        """Counts of services and backends, by status."""
        counts: dict[str, int] = {}
        for backend in self.backends.values():
            counts[backend.status] = counts.get(backend.status, 0) + 1
        return {
            "services": len(self.services),
            "backends": len(self.backends),
            "running": len(self.live),
            "by_status": counts,
            "queued_changes": len(self._heap),
        }
