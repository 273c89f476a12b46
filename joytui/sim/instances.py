"""The simulated REST instances API (``/api/instances``), as ``instances-api.txt`` describes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from joytui.sim.base import SimContext, SimRefusal
from joytui.sim.clock import smooth_noise

DEMO_API_KEY = "inst-demo-key-7f3a9c"
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1"]
NAMES = ["bot", "worker", "crawler", "relay", "indexer", "scheduler", "notifier", "ingest"]
TRANSITION_SECONDS = (3.0, 8.0)


@dataclass
class SimInstance:
    id: str
    name: str
    region: str
    status: str
    created_at: int
    updated_at: int
    started_at: float
    memory_base: int
    disk_mb: int
    last_heartbeat: int
    settle_at: float | None = None
    """When a transition (creating, restarting) completes and the instance is running."""
    index: int | None = None
    """Its place in the seeded fleet (the names faults cycle by it); None if a client made it."""


class InstancesSim:
    """Instances with statuses creating → running, paused, stopped, error, and moving health."""

    name = "instances"

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.instances: dict[str, SimInstance] = {}
        self._serial = 0
        self._incident_window = int(ctx.clock.elapsed() // 60)
        rng = ctx.rng("instances", "fleet")
        now = ctx.now()
        for i in range(12):
            status = rng.choices(
                ["running", "paused", "stopped", "error", "creating"], [8, 1, 1, 1, 1]
            )[0]
            created = int(now - rng.uniform(3600, 90 * 86400))
            inst = self._new(
                name=f"{rng.choice(NAMES)}-{i + 1:02d}",
                region=rng.choice(REGIONS),
                status=status,
                created_at=created,
                rng_key=i,
            )
            inst.started_at = now - rng.uniform(600, 20 * 86400)
            inst.index = i
            if status == "creating":
                inst.settle_at = now + rng.uniform(*TRANSITION_SECONDS)

    def _new(
        self, name: str, region: str, status: str, created_at: int, rng_key: object
    ) -> SimInstance:
        self._serial += 1
        rng = self.ctx.rng("instances", "instance", rng_key)
        ident = "inst_" + "".join(rng.choices("abcdefghijkmnpqrstuvwxyz23456789", k=8))
        inst = SimInstance(
            id=ident,
            name=name,
            region=region,
            status=status,
            created_at=created_at,
            updated_at=created_at,
            started_at=self.ctx.now(),
            memory_base=rng.choice([128, 256, 512, 1024]),
            disk_mb=rng.choice([512, 1024, 2048, 4096]),
            last_heartbeat=created_at,
        )
        self.instances[ident] = inst
        return inst

    # -- time ---------------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        for inst in self.instances.values():
            if inst.settle_at is not None and now >= inst.settle_at:
                inst.status = "running"
                inst.started_at = inst.settle_at
                inst.updated_at = int(inst.settle_at)
                inst.settle_at = None
        if not self.ctx.options.incidents:
            return
        window = int(self.ctx.clock.elapsed() // 60)
        while self._incident_window < window:
            self._incident_window += 1
            rng = self.ctx.rng("instances", "incident", self._incident_window)
            running = sorted(i for i, v in self.instances.items() if v.status == "running")
            if running and rng.random() < 0.2:
                inst = self.instances[rng.choice(running)]
                inst.status = "error"
                inst.updated_at = int(now)

    # -- wire shapes --------------------------------------------------------------------------

    def _health(self, inst: SimInstance) -> dict[str, Any]:
        now = self.ctx.now()
        running = inst.status == "running"
        if running:
            inst.last_heartbeat = int(now)
        cpu = smooth_noise(now, 30, self.ctx.seed, inst.id, "cpu") * 60 if running else 0.0
        mem = inst.memory_base * (0.5 + smooth_noise(now, 120, self.ctx.seed, inst.id, "mem"))
        return {
            "cpu_percent": round(cpu, 1),
            "memory_mb": int(mem) if running else 0,
            "disk_mb": inst.disk_mb,
            "last_heartbeat": inst.last_heartbeat,
            "uptime_secs": int(now - inst.started_at) if running else 0,
        }

    def _name(self, inst: SimInstance) -> str:
        shown = self.ctx.faults.name_for("instances", inst.index)
        return inst.name if shown is None else shown

    def _wire(self, inst: SimInstance) -> dict[str, Any]:
        return {
            "id": inst.id,
            "name": self._name(inst),
            "status": inst.status,
            "region": inst.region,
            "created_at": inst.created_at,
            "updated_at": inst.updated_at,
            "health": self._health(inst),
        }

    # -- routes -------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/instances", self._list, methods=["GET"]),
            Route("/api/instances", self._create, methods=["POST"]),
            Route("/api/instances/{id}", self._get, methods=["GET"]),
            Route("/api/instances/{id}", self._delete, methods=["DELETE"]),
            Route("/api/instances/{id}/pause", self._pause, methods=["POST"]),
            Route("/api/instances/{id}/restart", self._restart, methods=["POST"]),
            Route("/api/instances/{id}/health", self._health_route, methods=["GET"]),
        ]

    def control_routes(self) -> list[BaseRoute]:
        return [Route("/fail/{id}", self._force_error, methods=["POST"])]

    def _authorize(self, request: Request) -> None:
        """Raise a 401 unless the demo API key is sent."""
        if self.ctx.faults.get("instances").auth_fail:
            raise SimRefusal(_error(401, "Invalid API key"))
        key = request.headers.get("x-api-key")
        if not key:
            raise SimRefusal(_error(401, "Missing X-API-Key header"))
        if key != DEMO_API_KEY:
            raise SimRefusal(_error(401, "Invalid API key"))

    def _find(self, request: Request) -> SimInstance:
        inst = self.instances.get(request.path_params["id"])
        if inst is None:
            raise SimRefusal(_error(404, f"Instance {request.path_params['id']} not found"))
        return inst

    async def _list(self, request: Request) -> Response:
        self._authorize(request)
        return JSONResponse([self._wire(i) for i in self.instances.values()])

    async def _create(self, request: Request) -> Response:
        self._authorize(request)
        raw = await request.body()
        body: Any = {}
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                return _error(400, "Request body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "Request body must be a JSON object")
        name = body.get("name")
        region = body.get("region")
        if name is not None and not isinstance(name, str):
            return _error(400, "name must be a string")
        if region is not None and not isinstance(region, str):
            return _error(400, "region must be a string")
        now = self.ctx.now()
        inst = self._new(
            name=name or f"instance-{self._serial + 1}",
            region=region or REGIONS[0],
            status="creating",
            created_at=int(now),
            rng_key=("created", self._serial),
        )
        rng = self.ctx.rng("instances", "settle", inst.id)
        inst.settle_at = now + rng.uniform(*TRANSITION_SECONDS)
        return JSONResponse(self._wire(inst), status_code=201)

    async def _get(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find(request)
        return JSONResponse(self._wire(found))

    async def _delete(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find(request)
        del self.instances[found.id]
        return Response(status_code=204)

    async def _pause(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find(request)
        if found.status in ("stopped", "error"):
            return _error(409, f"Instance {found.id} is {found.status} and cannot be paused")
        found.status = "paused"
        found.settle_at = None
        found.updated_at = int(self.ctx.now())
        return JSONResponse({"status": "paused"})

    async def _restart(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find(request)
        now = self.ctx.now()
        found.status = "restarting"
        found.updated_at = int(now)
        rng = self.ctx.rng("instances", "restart", found.id, found.updated_at)
        found.settle_at = now + rng.uniform(*TRANSITION_SECONDS)
        return JSONResponse({"status": "restarted"})

    async def _health_route(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find(request)
        return JSONResponse(self._health(found))

    async def _force_error(self, request: Request) -> Response:
        found = self._find(request)
        found.status = "error"
        found.settle_at = None
        return JSONResponse(self._wire(found))

    # -- simulator plumbing -------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for inst in self.instances.values():
            counts[inst.status] = counts.get(inst.status, 0) + 1
        return {"instances": len(self.instances), "by_status": counts}

    def demo_account(self, base_url: str) -> dict[str, Any]:
        return {"name": "sim-instances", "base_url": base_url, "api_key": DEMO_API_KEY}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
