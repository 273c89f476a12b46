"""The REST instances API (``instances-api.txt``): ``/api/instances`` behind an ``X-API-Key``.

Seven operations: list, create (201), get (404 when gone), delete (204), pause, restart and
health. Statuses: creating/restarting are pending; running, paused, stopped, error map to
themselves. No streams: the spec offers logs "via the CLI only", so ``log_stream`` is None.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from joytui.model import (
    Action,
    ActionResult,
    MetricSample,
    PollHints,
    Resource,
    Snapshot,
    Status,
)
from joytui.providers.base import ProviderClient
from joytui.providers.errors import BadPayloadError
from joytui.providers.wire import (
    Ident,
    Num,
    Text,
    Timestamp,
    WireModel,
    map_status,
    parse_model,
    scaled_int,
)

MiB = 2**20
BASE = "/api/instances"

STATUS = {
    "running": Status.RUNNING,
    "creating": Status.PENDING,
    "restarting": Status.PENDING,
    "paused": Status.PAUSED,
    "stopped": Status.STOPPED,
    "error": Status.ERROR,
}


# -- wire models --------------------------------------------------------------------------------


class InstanceHealth(WireModel):
    """``GET /api/instances/:id/health``, also embedded in every instance."""

    cpu_percent: Num = None
    memory_mb: Num = None
    disk_mb: Num = None
    last_heartbeat: Timestamp = None
    uptime_secs: Num = None


class Instance(WireModel):
    """One instance, as list, get and create return it."""

    id: Ident
    name: Text = None
    status: Text = None
    region: Text = None
    created_at: Timestamp = None
    updated_at: Timestamp = None
    health: InstanceHealth | None = None


class StatusAnswer(WireModel):
    """The answer of pause and restart: ``{"status": "paused"}``."""

    status: Text = None


class _InstanceList(WireModel):
    instances: list[Instance]


def read_instance_list(data: Any, call: str = "GET /api/instances") -> list[Instance]:
    """Instances from a list answer: a bare array (the spec), or one wrapped in an object."""
    if isinstance(data, dict):
        for key in ("instances", "data", "items"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            raise BadPayloadError("expected a list of instances", call=call)
    return parse_model(_InstanceList, {"instances": data}, call).instances


def read_instance(data: Any, call: str = "GET /api/instances/:id") -> Instance:
    """One instance (tolerating ``{"instance": {...}}`` around it)."""
    if isinstance(data, dict) and "id" not in data and isinstance(data.get("instance"), dict):
        data = data["instance"]
    return parse_model(Instance, data, call)


def instance_status(raw: str | None) -> Status:
    """The normalized status of an instance status word."""
    return map_status(raw, STATUS)


# -- the client ---------------------------------------------------------------------------------


class InstancesClient(ProviderClient):
    """A client for one instances API account."""

    provider = "instances"
    auth_hint = "check api_key"
    secret_fields = ("api_key",)

    def _default_headers(self) -> dict[str, str]:
        return {"X-API-Key": self._secret("api_key")}

    @staticmethod
    def _path(instance_id: str, tail: str = "") -> str:
        return f"{BASE}/{quote(instance_id, safe='')}{tail}"

    # -- the seven operations -----------------------------------------------------------------

    async def list_instances(self) -> list[Instance]:
        """``GET /api/instances``."""
        call = "list instances"
        data = await self.request_json("GET", BASE, call=call, retry=True)
        return self.apply_reader(lambda d: read_instance_list(d, call), data)

    async def create_instance(self, name: str | None = None, region: str | None = None) -> Instance:
        """``POST /api/instances`` (201 Created); never retried."""
        body = {k: v for k, v in (("name", name), ("region", region)) if v is not None}
        call = "create instance"
        data = await self.request_json("POST", BASE, call=call, json=body)
        return self.parse(Instance, data, call)

    async def get_instance(self, instance_id: str) -> Instance:
        """``GET /api/instances/:id``; a missing one raises :class:`NotFoundError`."""
        call = "get instance"
        data = await self.request_json("GET", self._path(instance_id), call=call, retry=True)
        return self.parse(Instance, data, call)

    async def delete_instance(self, instance_id: str) -> None:
        """``DELETE /api/instances/:id`` (204 No Content); never retried."""
        await self.request("DELETE", self._path(instance_id), call="delete instance")

    async def pause_instance(self, instance_id: str) -> str:
        """``POST /api/instances/:id/pause``; returns the answer's status word."""
        call = "pause instance"
        data = await self.request_json("POST", self._path(instance_id, "/pause"), call=call)
        return self.parse(StatusAnswer, data, call).status or "paused"

    async def restart_instance(self, instance_id: str) -> str:
        """``POST /api/instances/:id/restart``; returns the answer's status word."""
        call = "restart instance"
        data = await self.request_json("POST", self._path(instance_id, "/restart"), call=call)
        return self.parse(StatusAnswer, data, call).status or "restarted"

    async def health(self, instance_id: str) -> InstanceHealth:
        """``GET /api/instances/:id/health``."""
        call = "instance health"
        path = self._path(instance_id, "/health")
        data = await self.request_json("GET", path, call=call, retry=True)
        return self.parse(InstanceHealth, data, call)

    # -- the normalized model -----------------------------------------------------------------

    def to_resource(self, inst: Instance) -> Resource:
        """The normalized :class:`Resource` of an instance."""
        health = inst.health or InstanceHealth()
        return self.resource(
            kind="instance",
            id=inst.id,
            name=inst.name or inst.id,
            status=instance_status(inst.status),
            raw_status=inst.status,
            location=inst.region,
            cpu_percent=health.cpu_percent,
            memory_used=_mib(health.memory_mb),
            created_at=inst.created_at,
            detail={
                "region": inst.region,
                "disk_mb": health.disk_mb,
                "uptime_seconds": health.uptime_secs,
                "last_heartbeat": health.last_heartbeat,
                "updated_at": inst.updated_at,
            },
        )

    async def _snapshot(self, hints: PollHints | None) -> Snapshot:
        """Every instance (one request)."""
        instances = await self.list_instances()
        return self.make_snapshot([self.to_resource(i) for i in instances])

    async def check(self) -> None:
        """Probe the account with one list call."""
        await self.list_instances()

    async def actions(self, resource: Resource) -> list[Action]:
        """An instance: pause (unless already paused, stopped or failed), restart, delete.
        The account (a resource of kind ``account``): create."""
        if resource.kind == "account":
            return [Action(id="create", label="Create instance")]
        if resource.kind != "instance":
            return []
        offered = []
        if resource.status not in (Status.PAUSED, Status.STOPPED, Status.ERROR):
            offered.append(Action(id="pause", label="Pause"))
        offered.append(Action(id="restart", label="Restart"))
        offered.append(Action(id="delete", label="Delete", destructive=True))
        return offered

    async def perform(self, resource: Resource, action_id: str, **params: Any) -> ActionResult:
        """pause, restart or delete an instance; create one in the account (params: name,
        region, both optional). Never retried."""
        if resource.kind == "account":
            if action_id != "create":
                raise self.unknown_action(resource, action_id, ("create",))
            name = params.get("name") or None
            region = params.get("region") or None
            return await self.run_action(self._created(name, region))
        if action_id == "pause":
            return await self.run_action(self._answer(self.pause_instance(resource.id)))
        if action_id == "restart":
            return await self.run_action(self._answer(self.restart_instance(resource.id)))
        if action_id == "delete":
            return await self.run_action(self._deleted(resource.id))
        raise self.unknown_action(resource, action_id, ("pause", "restart", "delete"))

    async def _created(self, name: str | None, region: str | None) -> ActionResult:
        inst = await self.create_instance(name, region)
        where = f" in {inst.region}" if inst.region else ""
        return ActionResult(
            ok=True,
            message=f"created instance {inst.id} ({inst.name or 'no name'}{where}): "
            f"{inst.status or 'status not given'}",
        )

    @staticmethod
    async def _answer(coro: Any) -> ActionResult:
        return ActionResult(ok=True, message=await coro)

    async def _deleted(self, instance_id: str) -> ActionResult:
        await self.delete_instance(instance_id)
        return ActionResult(ok=True, message="deleted")

    async def metrics(self, resource: Resource) -> MetricSample | None:
        """A reading from ``/health``."""
        health = await self.health(resource.id)
        return self.sample(
            resource.id,
            cpu_percent=health.cpu_percent,
            memory_used=_mib(health.memory_mb),
            uptime_seconds=health.uptime_secs,
        )


def _mib(value: float | None) -> int | None:
    return scaled_int(value, MiB)
