"""The Jamsocket wire shapes: the JSON the v2 API answers with, and the bodies it reads.

Where the spec is silent the simulator is plausible: errors are
``{"error": {"message", "status", "code", "id"}}``, ``start`` is inclusive and ``end``
exclusive (to the millisecond), ``mem_available`` is ``mem_limit - mem_used`` and ``sys_cpu``
is the host's CPU time (4 cores) over the same interval as ``cpu_used``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from joytui.sim.base import SimContext
from joytui.sim.clock import iso, smooth_noise
from joytui.sim.jamsocket.fleet import (
    DEFAULT_MAX_IDLE,
    DEMO_ACCOUNT,
    NAME,
    RANK,
    TERMINATING,
    TOKEN_CHARS,
    SimBackend,
    SimImage,
    SimService,
    SpawnConfig,
    StatusEntry,
)

HOST_CPUS = 4
ERROR_ID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
"""What a new service's name must look like."""


class SpawnConfigError(ValueError):
    """A connect request whose body does not follow the spec's schema."""


# -- names ------------------------------------------------------------------------------------


class ShownNames:
    """The service names and backend keys the API shows.

    Normally the fleet's own. Under a names fault (``names_file``, ``hostile_names``) the ones
    the simulator made up are taken from that list instead, cycled. Being ids they stay
    unique: a service name already in use gets the first free ``~N`` suffix, and keys get
    ``~N`` for the N-th round of the list.
    """

    def __init__(self, names: tuple[str, ...] | None, services: Iterable[SimService]) -> None:
        self.names = names
        self._shown: dict[SimService, str] = {}
        everything = list(services)
        taken = {s.name for s in everything if names is None or s.name_index is None}
        for s in everything:
            if names is None or s.name_index is None:
                self._shown[s] = s.name
            else:
                shown = _unclashing(names[s.name_index % len(names)], taken)
                taken.add(shown)
                self._shown[s] = shown
        self._by_shown = {shown: s for s, shown in self._shown.items()}

    def service(self, s: SimService) -> str:
        """The name ``s`` is shown with."""
        return self._shown.get(s, s.name)

    def find_service(self, shown: str) -> SimService | None:
        """The service shown as ``shown``, if any."""
        return self._by_shown.get(shown)

    def key(self, b: SimBackend) -> str | None:
        """The key ``b`` is shown with (None when it has none)."""
        if self.names is None or b.key is None or b.key_index is None:
            return b.key
        return _cycled(self.names, b.key_index)

    def holder(self, service: SimService, key: str) -> SimBackend | None:
        """The live backend of ``service`` whose shown (or own) key is ``key``."""
        if self.names is not None:
            for backend in service.keys.values():
                if self.key(backend) == key:
                    return backend
        return service.keys.get(key)


def _cycled(names: tuple[str, ...], index: int) -> str:
    name = names[index % len(names)]
    rounds = index // len(names)
    return name if rounds == 0 else f"{name}~{rounds + 1}"


def _unclashing(name: str, taken: set[str]) -> str:
    suffix = 2
    unique = name
    while unique in taken:
        unique = f"{name}~{suffix}"
        suffix += 1
    return unique


# -- answers ----------------------------------------------------------------------------------


def error_wire(status: int, code: str, message: str, rng: random.Random) -> dict[str, Any]:
    """An error answer, with a fresh error id (the one a user would quote to support)."""
    ident = "".join(rng.choices(ERROR_ID_CHARS, k=26))
    return {"error": {"message": message, "status": status, "code": code, "id": ident}}


def public_status(entry: StatusEntry) -> dict[str, Any]:
    """A status as ``/status`` and the status stream show it (nulls left out)."""
    out: dict[str, Any] = {"status": entry.status, "time": iso(entry.time)}
    if entry.termination_reason is not None:
        out["termination_reason"] = entry.termination_reason
    if entry.termination_kind is not None:
        out["termination_kind"] = entry.termination_kind
    if entry.status == "terminated":
        out["exit_error"] = bool(entry.exit_error)
    return out


def history_status(entry: StatusEntry) -> dict[str, Any]:
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


def _backend_common(b: SimBackend, shown: ShownNames) -> dict[str, Any]:
    return {
        "account_name": DEMO_ACCOUNT,
        "cluster_name": b.environment.cluster,
        "created_at": iso(b.created_at),
        "environment_name": b.environment.name,
        "id": b.id,
        "image_digest": b.image_digest,
        "key": shown.key(b),
        "max_mem_bytes": b.max_mem_bytes,
        "service_name": shown.service(b.service),
    }


def backend_item(b: SimBackend, shown: ShownNames) -> dict[str, Any]:
    """A backend as the backend lists show it, with its latest status."""
    return {
        **_backend_common(b, shown),
        "ready_timestamp": iso(b.ready_at) if b.ready_at is not None else None,
        "status": public_status(b.statuses[-1]),
    }


def backend_metadata(b: SimBackend, shown: ShownNames) -> dict[str, Any]:
    """A backend as ``GET /v2/backend/{id}`` shows it, with its whole status history."""
    return {
        **_backend_common(b, shown),
        "statuses": [history_status(e) for e in b.statuses],
    }


def service_wire(s: SimService, shown: ShownNames) -> dict[str, Any]:
    """A service as ``GET /v2/service/{account}/{service}`` shows it."""
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
        "image_name": f"registry.jamsocket.com/{DEMO_ACCOUNT}/{shown.service(s)}",
        "last_image_digest": newest.digest if newest else None,
        "last_image_upload_time": iso(newest.upload_time) if newest else None,
        "last_spawned_at": _iso_or_none(s.last_spawned_at),
        "name": shown.service(s),
    }


def image_wire(s: SimService, image: SimImage, shown: ShownNames) -> dict[str, Any]:
    """An image as the service's image list shows it."""
    out: dict[str, Any] = {"digest": image.digest}
    if image.git_commit is not None:
        out["git_commit"] = dict(image.git_commit)
    out["repository"] = f"{DEMO_ACCOUNT}/{shown.service(s)}"
    out["tag"] = image.tag
    out["upload_time"] = _iso_seconds(image.upload_time)
    return out


def connection(ctx: SimContext, b: SimBackend, spawned: bool) -> dict[str, Any]:
    """The answer to a connect: a fresh token, and URLs into the simulator that use it."""
    rng = ctx.rng(NAME, "token", b.id, len(b.tokens))
    token = "".join(rng.choices(TOKEN_CHARS, k=43))
    b.tokens.append(token)
    base = ctx.base_url.rstrip("/")
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


def metrics_sample(seed: int, b: SimBackend, now: float, dt: float) -> dict[str, Any]:
    """CPU as nanoseconds used over the last ``dt`` simulated seconds; memory in bytes."""
    key = (seed, NAME, b.id)
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


# -- request bodies ---------------------------------------------------------------------------


def parse_connect(body: Any) -> tuple[str | None, str | None, SpawnConfig | None]:
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


def parse_timestamp(raw: str) -> int | None:
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


def millis(ts: float) -> int:
    """Unix seconds as whole milliseconds, as Jamsocket compares times."""
    return round(ts * 1000)


def _iso_or_none(ts: float | None) -> str | None:
    return iso(ts) if ts is not None else None


def _iso_seconds(ts: float) -> str:
    """ISO 8601 UTC to the second, as the spec's image upload times look."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
