"""The Jamsocket client: the adapter to the normalized model (snapshot, actions, metrics) over
the endpoints and streams, and the reading of spawn options."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from joytui.model import Action, ActionResult, MetricSample, PollHints, Resource, Snapshot, Status
from joytui.providers.base import gather_first_error
from joytui.providers.errors import NotFoundError, RejectedError, snippet
from joytui.providers.jamsocket.streams import JamsocketStreams
from joytui.providers.jamsocket.wire import (
    SOFT_STOPPABLE,
    STATUS,
    BackendItem,
    BackendStatus,
    Environment,
    ExecutableConfig,
    MetricsEvent,
    ResourceLimits,
    Service,
    SpawnConfig,
    backend_status,
    metric_sample_fields,
)

T = TypeVar("T")


# -- the client ---------------------------------------------------------------------------------


class JamsocketClient(JamsocketStreams):
    """A client for one Jamsocket account: typed methods for every v2 endpoint, the three SSE
    streams with reconnection, and the adapter to the normalized model."""

    # -- the normalized model -----------------------------------------------------------------

    def backend_resource(self, item: BackendItem) -> Resource:
        """The normalized :class:`Resource` of a backend."""
        status = item.status or BackendStatus()
        return self.resource(
            kind="backend",
            id=item.id,
            name=item.key or item.id,
            status=backend_status(item.status),
            raw_status=status.status,
            location=item.cluster_name,
            parent=item.service_name,
            memory_total=item.max_mem_bytes,
            created_at=item.created_at,
            detail={
                "key": item.key,
                "service": item.service_name,
                "environment": item.environment_name,
                "image_digest": item.image_digest,
                "ready_at": item.ready_timestamp,
                "status_time": status.time,
                "termination_reason": status.termination_reason,
                "termination_kind": status.termination_kind,
                "exit_error": status.exit_error,
                "exit_code": status.exit_code,
            },
        )

    def service_resource(self, service: Service, live_backends: int) -> Resource:
        """The normalized :class:`Resource` of a service: running while it has a backend that
        is not terminated, else stopped."""
        env = service.environments[0] if service.environments else Environment()
        return self.resource(
            kind="service",
            id=service.name,
            name=service.name,
            status=Status.RUNNING if live_backends else Status.STOPPED,
            raw_status=None,
            location=env.cluster,
            created_at=service.created_at,
            detail={
                "image": service.image_name,
                "image_tag": env.image_tag,
                "environment": env.name,
                "last_image_digest": service.last_image_digest,
                "last_image_upload_time": service.last_image_upload_time,
                "last_spawned_at": service.last_spawned_at,
                "live_backends": live_backends,
            },
        )

    async def _snapshot(self, hints: PollHints | None) -> Snapshot:
        """Services and backends (running ones, and those created in the last
        :attr:`recent_seconds` by this machine's clock), deduplicated by id; reads only,
        ``2 + 2 * services`` requests, at most :attr:`concurrency` at once. A service deleted
        while the snapshot is taken is left out. ``hints`` are ignored: every status comes
        with the lists."""
        names = await self.services()
        since = datetime.now(UTC) - timedelta(seconds=self.recent_seconds)
        limit = asyncio.Semaphore(max(1, self.concurrency))

        async def bounded(coro: Awaitable[T]) -> T | None:
            async with limit:
                try:
                    return await coro
                except NotFoundError:
                    return None

        running, *rest = await gather_first_error(
            [
                bounded(self.running_backends()),
                *(bounded(self.service(n)) for n in names),
                *(bounded(self.service_backends(n, start=since)) for n in names),
            ]
        )
        services: list[Service | None] = rest[: len(names)]
        lists: list[list[BackendItem] | None] = rest[len(names) :]
        backends: dict[str, BackendItem] = {}
        for items in [running, *lists]:
            for item in items or []:
                kept = backends.get(item.id)
                if kept is None or _status_time(item) > _status_time(kept):
                    backends[item.id] = item
        live: dict[str, int] = {}
        for item in backends.values():
            if item.service_name and (item.status_word or "").lower() != "terminated":
                live[item.service_name] = live.get(item.service_name, 0) + 1
        resources = [
            self.service_resource(s, live.get(s.name, 0))
            for s in sorted((s for s in services if s is not None), key=lambda s: s.name)
        ]
        ordered = sorted(backends.values(), key=lambda b: (-(b.created_at or 0.0), b.id))
        resources += [self.backend_resource(b) for b in ordered]
        return self.make_snapshot(resources)

    async def actions(self, resource: Resource) -> list[Action]:
        """A backend: ``terminate`` until termination starts, ``terminate_hard`` until it is
        terminated. A service: ``spawn``, ``update_image``, ``delete``. The account:
        ``create_service``."""
        if resource.kind == "account":
            return [Action(id="create_service", label="Create service")]
        if resource.kind == "service":
            return [
                Action(id="spawn", label="Spawn backend"),
                Action(id="update_image", label="Update image"),
                Action(id="delete", label="Delete service", destructive=True),
            ]
        if resource.kind != "backend":
            return []
        word = (resource.raw_status or "").lower()
        if word == "terminated":
            return []
        offered = []
        if word in SOFT_STOPPABLE or word not in STATUS:
            offered.append(Action(id="terminate", label="Terminate"))
        if word != "hard-terminating":
            offered.append(Action(id="terminate_hard", label="Terminate hard", destructive=True))
        return offered

    async def perform(self, resource: Resource, action_id: str, **params: Any) -> ActionResult:
        """Terminate a backend (soft or hard); spawn on, update the image of, or delete a
        service; create a service in the account. Never retried.

        ``spawn`` takes ``key``, ``tag``, ``env`` (a mapping, or ``NAME=VALUE`` words),
        ``lifetime_limit_seconds``, ``max_idle_seconds`` and ``memory_limit_bytes``;
        ``update_image`` takes ``image_tag``; ``create_service`` takes ``name``."""
        known = {
            "backend": ("terminate", "terminate_hard"),
            "service": ("spawn", "update_image", "delete"),
            "account": ("create_service",),
        }.get(resource.kind, ())
        if action_id not in known:
            raise self.unknown_action(resource, action_id, known)
        if action_id in ("terminate", "terminate_hard"):
            hard = action_id == "terminate_hard"
            return await self.run_action(self._terminated(resource.id, hard))
        if action_id == "spawn":
            return await self.run_action(self._spawned(resource.id, params))
        if action_id == "update_image":
            tag = self._required(params, "image_tag", "the tag or digest new backends spawn with")
            return await self.run_action(self._updated(resource.id, tag))
        if action_id == "delete":
            return await self.run_action(self._service_deleted(resource.id))
        name = self._required(params, "name", "lowercase letters, digits and dashes")
        return await self.run_action(self._created(name))

    def _required(self, params: Mapping[str, Any], name: str, what: str) -> str:
        """``params[name]`` as a non-empty string, or a refusal sent nowhere."""
        value = params.get(name)
        if not isinstance(value, str) or not value.strip():
            raise self.error(RejectedError, f"{name} is required ({what})", hint=f"give {name}")
        return value.strip()

    async def _terminated(self, backend_id: str, hard: bool) -> ActionResult:
        answer = await self.terminate(backend_id, hard=hard)
        word = "hard termination" if hard else "termination (SIGTERM)"
        said = answer.status or "no readable answer"
        return ActionResult(ok=True, message=f"{word} sent: {said}")

    async def _spawned(self, service: str, params: Mapping[str, Any]) -> ActionResult:
        try:
            spawn = spawn_config(params)
        except ValueError as exc:
            raise self.error(
                RejectedError, f"spawn: {exc}", hint="check the spawn options"
            ) from None
        key = params.get("key") or None
        found = await self.connect(service, key=key, spawn=spawn)
        # Only the id, status and whether it spawned: the tokens and URLs stay secret.
        status = found.status or "status not given"
        if found.spawned is False:
            return ActionResult(
                ok=True,
                message=f"backend {found.backend_id} already holds key {key!r} ({status}); "
                "nothing spawned",
            )
        return ActionResult(ok=True, message=f"spawned backend {found.backend_id} ({status})")

    async def _updated(self, service: str, tag: str) -> ActionResult:
        answer = await self.update_image_tag(service, tag)
        said = answer.status or "no readable answer"
        return ActionResult(ok=True, message=f"new backends spawn with {tag!r}: {said}")

    async def _service_deleted(self, service: str) -> ActionResult:
        answer = await self.delete_service(service)
        said = answer.status or "no readable answer"
        return ActionResult(ok=True, message=f"service {service!r} deleted: {said}")

    async def _created(self, name: str) -> ActionResult:
        answer = await self.create_service(name)
        said = answer.status or "no readable answer"
        return ActionResult(ok=True, message=f"service {name!r} created: {said}")

    async def metrics(self, resource: Resource) -> MetricSample | None:
        """One event of the backend's metrics stream, read on a fresh connection within
        :attr:`metrics_timeout` seconds; None for a service, a terminated backend, a backend
        that sends none in time (metrics flow from ``starting`` on) or a stream that ends
        without one. Nothing is retried here (the next poll is the retry): every failure raises
        its taxonomy error, a dropped or silent connection as :class:`TransportError`."""
        if resource.kind != "backend" or (resource.raw_status or "").lower() == "terminated":
            return None
        events = self._events(resource.id, "metrics", reconnect=False)
        try:
            async with asyncio.timeout(self.metrics_timeout), contextlib.aclosing(events):
                async for event in events:
                    found = self._event_model(MetricsEvent, event, resource.id, "metrics")
                    if found is not None:
                        return self.sample(resource.id, **metric_sample_fields(found))
        except TimeoutError:
            return None
        return None


RESERVED_ENV = frozenset(
    {"PORT", "SESSION_BACKEND_ID", "SESSION_BACKEND_KEY", "SESSION_BACKEND_FENCING_TOKEN"}
)
"""Env vars the platform sets itself (the spec forbids passing them)."""


def parse_env(value: Any) -> dict[str, str]:
    """Env vars from a mapping, or from ``NAME=VALUE`` words (a string, or a list of them)."""
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        words = value.split() if isinstance(value, str) else [str(w) for w in value]
        pairs = []
        for word in words:
            name, eq, val = word.partition("=")
            if not eq or not name:
                raise ValueError(f"env: expected NAME=VALUE, got {snippet(word, 40)!r}")
            pairs.append((name, val))
    reserved = sorted({n for n, _ in pairs} & RESERVED_ENV)
    if reserved:
        raise ValueError(f"env: {', '.join(reserved)} is set by the platform")
    return dict(pairs)


def spawn_config(params: Mapping[str, Any]) -> SpawnConfig:
    """The ``spawn`` of a connect request from an action's parameters."""

    def number(name: str) -> float | None:
        value = params.get(name)
        if value is None or value == "":
            return None
        try:
            found = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected a number of seconds, got {value!r}") from None
        if found <= 0:
            raise ValueError(f"{name}: must be more than 0")
        return found

    env = parse_env(params.get("env"))
    memory = number("memory_limit_bytes")
    limits = ResourceLimits(memory_limit_bytes=int(memory)) if memory else None
    executable = ExecutableConfig(env=env or None, resource_limits=limits)
    return SpawnConfig(
        tag=params.get("tag") or None,
        lifetime_limit_seconds=number("lifetime_limit_seconds"),
        max_idle_seconds=number("max_idle_seconds"),
        executable=executable if env or limits else None,
    )


def _status_time(item: BackendItem) -> float:
    """When an item's status was reached, for choosing the fresher of two records."""
    if item.status is None or item.status.time is None:
        return float("-inf")
    return item.status.time
