"""The simulated Cockpit cluster API (``/api/v1``), as ``cockpit-api.txt`` describes.

Where the spec is silent (the shape of a VM, the answer to an action) the simulator is
plausible: ``{"vms": [...]}`` mirrors ``{"hosts": [...]}``, and actions answer 202.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from joytui.sim.base import SimContext, SimRefusal
from joytui.sim.clock import smooth_noise

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "cockpit-demo-pass"
REFRESH_TTL = 7 * 86400
ACTIONS = ("start", "stop", "restart", "pause", "resume")
COPY_STORAGE_SECONDS = {"none": 6.0, "inc": 15.0, "all": 30.0}
HOSTNAMES = ["vapor-node-01", "vapor-node-02", "vapor-node-03", "ember-node-01", "ember-node-02"]
VM_NAMES = ["web", "db", "cache", "queue", "build", "mail", "vpn", "monitor", "search", "git"]
OSES = ["ubuntu-24.04", "debian-12", "rocky-9", "windows-2022", "alpine-3.20"]


@dataclass
class SimHost:
    id: str
    hostname: str
    status: str
    sync_cursor: int
    cpus: int
    memory_bytes: int
    reconnect_at: float | None = None
    index: int = 0
    """Its place among the hosts (the names faults cycle by it)."""


@dataclass
class SimVM:
    id: str
    name: str
    host_id: str
    status: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    ip: str
    os: str
    created_at: float
    started_at: float
    settle: tuple[float, str] | None = None
    """(due time, status it settles to) while a transition is under way."""
    migration: str | None = None
    index: int = 0
    """Its place among the VMs (the names faults cycle by it)."""


@dataclass
class SimMigration:
    id: str
    vm_id: str
    source_host_id: str
    destination_host_id: str
    live: bool
    copy_storage: str
    started_at: float
    due: float
    resume_status: str
    status: str = "initiated"
    options: dict[str, Any] = field(default_factory=dict)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CockpitSim:
    """Hosts and VMs behind JWT auth; VMs follow power actions and live migrations."""

    name = "cockpit"

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.token_ttl = ctx.options.token_ttl
        self._secret = hashlib.sha256(f"cockpit-{ctx.seed}".encode()).digest()
        self._refresh_tokens: dict[str, float] = {}  # token -> expiry (sim time)
        self._revoked_upto = 0  # tokens whose serial (jti) is at most this are treated as expired
        self._serial = 0
        self._due: list[tuple[float, int, str, str]] = []  # (when, serial, kind, id)
        self.hosts: dict[str, SimHost] = {}
        self.vms: dict[str, SimVM] = {}
        self.migrations: dict[str, SimMigration] = {}
        self._incident_window = int(ctx.clock.elapsed() // 60)
        self._seed_fleet()

    def _seed_fleet(self) -> None:
        rng = self.ctx.rng("cockpit", "fleet")
        now = self.ctx.now()
        for i, hostname in enumerate(HOSTNAMES[:4]):
            host_id = f"019e0014-{rng.getrandbits(16):04x}-7057-b326-{i + 1:012d}"
            self.hosts[host_id] = SimHost(
                id=host_id,
                hostname=f"{hostname}.corp.awan.io",
                status="connected",
                sync_cursor=int(now) - rng.randint(0, 300),
                cpus=rng.choice([32, 48, 64]),
                memory_bytes=rng.choice([256, 384, 512]) * 2**30,
                index=i,
            )
        host_ids = list(self.hosts)
        for i in range(14):
            status = rng.choices(["running", "stopped", "paused", "error"], [10, 3, 1, 1])[0]
            vm_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            self.vms[vm_id] = SimVM(
                id=vm_id,
                name=f"{rng.choice(VM_NAMES)}-{i + 1:02d}",
                host_id=rng.choice(host_ids),
                status=status,
                vcpus=rng.choice([1, 2, 4, 8]),
                memory_mb=rng.choice([1024, 2048, 4096, 8192, 16384]),
                disk_gb=rng.choice([20, 40, 80, 160]),
                ip=f"10.20.{rng.randint(0, 15)}.{rng.randint(2, 254)}",
                os=rng.choice(OSES),
                created_at=now - rng.uniform(86400, 400 * 86400),
                started_at=now - rng.uniform(300, 30 * 86400),
                index=i,
            )

    # -- tokens -------------------------------------------------------------------------------

    def _issue(self, username: str) -> dict[str, Any]:
        now = self.ctx.now()
        self._serial += 1
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {
            "sub": username,
            "iat": int(now),
            "exp": int(now + self.token_ttl),
            "jti": f"{self._serial:08x}",
        }
        signing = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        sig = hmac.new(self._secret, signing.encode(), hashlib.sha256).digest()
        refresh = str(
            uuid.UUID(int=self.ctx.rng("cockpit", "refresh", self._serial).getrandbits(128))
        )
        self._refresh_tokens[refresh] = now + REFRESH_TTL
        return {
            "token": signing + "." + _b64(sig),
            "refresh_token": refresh,
            "expires_in": self.token_ttl,
        }

    def _authorize(self, request: Request) -> None:
        """Raise a 401 unless the request carries a good bearer token."""
        if reason := self._check_token(request):
            raise SimRefusal(_error(401, reason))

    def _find_vm(self, request: Request) -> SimVM:
        vm = self.vms.get(request.path_params["id"])
        if vm is None:
            raise SimRefusal(_error(404, "vm not found"))
        return vm

    def _check_token(self, request: Request) -> str | None:
        """None when the bearer token is good, else the reason it is refused."""
        if self.ctx.faults.get("cockpit").auth_fail:
            return "invalid token"
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "missing bearer token"
        try:
            head, body, sig = token.split(".")
            expected = hmac.new(self._secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(sig)):
                return "invalid token"
            claims = json.loads(_unb64(body))
        except ValueError:
            return "invalid token"
        now = self.ctx.now()
        try:
            serial = int(claims.get("jti", "0"), 16)
        except (TypeError, ValueError):
            return "invalid token"
        if now >= claims.get("exp", 0) or serial <= self._revoked_upto:
            return "token expired"
        return None

    # -- time ---------------------------------------------------------------------------------

    def _schedule(self, when: float, kind: str, ident: str) -> None:
        self._serial += 1
        heapq.heappush(self._due, (when, self._serial, kind, ident))

    def advance(self, now: float) -> None:
        while self._due and self._due[0][0] <= now:
            when, _, kind, ident = heapq.heappop(self._due)
            if kind == "vm":
                self._settle_vm(ident, when)
            elif kind == "migration":
                self._finish_migration(ident, when)
            elif kind == "host":
                host = self.hosts.get(ident)
                if host is not None and host.reconnect_at is not None:
                    host.status = "connected"
                    host.reconnect_at = None
                    host.sync_cursor = int(when)
        if self.ctx.options.incidents:
            self._incidents(now)

    def _settle_vm(self, vm_id: str, when: float) -> None:
        vm = self.vms.get(vm_id)
        if vm is None or vm.settle is None or vm.settle[0] > when:
            return
        vm.status = vm.settle[1]
        if vm.status == "running":
            vm.started_at = when
        vm.settle = None
        self._touch(vm.host_id, when)

    def _finish_migration(self, mig_id: str, when: float) -> None:
        mig = self.migrations[mig_id]
        vm = self.vms.get(mig.vm_id)
        if vm is None or mig.status != "running":
            return
        dest = self.hosts.get(mig.destination_host_id)
        if dest is None or dest.status != "connected":
            mig.status = "failed"
            vm.status = mig.resume_status
        else:
            mig.status = "completed"
            vm.host_id = dest.id
            vm.status = mig.resume_status
        vm.migration = None
        self._touch(mig.source_host_id, when)
        self._touch(mig.destination_host_id, when)

    def _incidents(self, now: float) -> None:
        window = int(self.ctx.clock.elapsed() // 60)
        while self._incident_window < window:
            self._incident_window += 1
            rng = self.ctx.rng("cockpit", "incident", self._incident_window)
            roll = rng.random()
            if roll < 0.08:
                connected = sorted(h for h, v in self.hosts.items() if v.status == "connected")
                if len(connected) > 1:
                    host = self.hosts[rng.choice(connected)]
                    host.status = "disconnected"
                    host.reconnect_at = now + rng.uniform(60, 300)
                    self._schedule(host.reconnect_at, "host", host.id)
            elif roll < 0.2:
                running = sorted(v for v, vm in self.vms.items() if vm.status == "running")
                if running:
                    vm = self.vms[rng.choice(running)]
                    vm.status = "error"
                    self._touch(vm.host_id, now)

    def _touch(self, host_id: str, when: float) -> None:
        host = self.hosts.get(host_id)
        if host is not None:
            host.sync_cursor = max(host.sync_cursor + 1, int(when))

    # -- wire shapes --------------------------------------------------------------------------

    def _hostname(self, host: SimHost) -> str:
        shown = self.ctx.faults.name_for("cockpit", host.index)
        return host.hostname if shown is None else shown

    def _vm_name(self, vm: SimVM) -> str:
        shown = self.ctx.faults.name_for("cockpit", vm.index)
        return vm.name if shown is None else shown

    def _host_wire(self, host: SimHost) -> dict[str, Any]:
        vms = [v for v in self.vms.values() if v.host_id == host.id]
        return {
            "id": host.id,
            "hostname": self._hostname(host),
            "status": host.status,
            "sync_cursor": host.sync_cursor,
            "cpus": host.cpus,
            "memory_bytes": host.memory_bytes,
            "vm_count": len(vms),
        }

    def _vm_wire(self, vm: SimVM) -> dict[str, Any]:
        now = self.ctx.now()
        running = vm.status in ("running", "migrating")
        cpu = smooth_noise(now, 45, self.ctx.seed, vm.id, "cpu") * 80 if running else 0.0
        mem = vm.memory_mb * (0.3 + 0.6 * smooth_noise(now, 200, self.ctx.seed, vm.id, "mem"))
        return {
            "id": vm.id,
            "name": self._vm_name(vm),
            "host_id": vm.host_id,
            "status": vm.status,
            "vcpus": vm.vcpus,
            "memory_mb": vm.memory_mb,
            "disk_gb": vm.disk_gb,
            "ip": vm.ip,
            "os": vm.os,
            "cpu_percent": round(cpu, 1),
            "memory_used_mb": int(mem) if running else 0,
            "uptime_seconds": int(now - vm.started_at) if running else 0,
            "created_at": int(vm.created_at),
            "migration_id": vm.migration,
        }

    def _migration_wire(self, mig: SimMigration) -> dict[str, Any]:
        return {
            "migration_id": mig.id,
            "vm_id": mig.vm_id,
            "source_host_id": mig.source_host_id,
            "destination_host_id": mig.destination_host_id,
            "live": mig.live,
            "copy_storage": mig.copy_storage,
            "status": mig.status,
            "started_at": int(mig.started_at),
            **mig.options,
        }

    # -- routes -------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v1/auth/login", self._login, methods=["POST"]),
            Route("/api/v1/auth/refresh", self._refresh, methods=["POST"]),
            Route("/api/v1/hosts", self._hosts, methods=["GET"]),
            Route("/api/v1/vms", self._vms, methods=["GET"]),
            Route("/api/v1/vms/{id}", self._vm, methods=["GET"]),
            Route("/api/v1/vms/{id}/action", self._action, methods=["POST"]),
            Route("/api/v1/vms/{id}/migrate", self._migrate, methods=["POST"]),
            Route("/api/v1/migrations/{id}", self._migration, methods=["GET"]),
        ]

    def control_routes(self) -> list[BaseRoute]:
        return [
            Route("/expire-tokens", self._expire_tokens, methods=["POST"]),
            Route("/token-ttl", self._set_token_ttl, methods=["POST"]),
            Route("/disconnect/{id}", self._disconnect, methods=["POST"]),
        ]

    async def _login(self, request: Request) -> Response:
        body = await _json_object(request)
        if self.ctx.faults.get("cockpit").auth_fail or (
            body.get("username") != DEMO_USERNAME or body.get("password") != DEMO_PASSWORD
        ):
            return _error(401, "invalid username or password")
        return JSONResponse(self._issue(DEMO_USERNAME))

    async def _refresh(self, request: Request) -> Response:
        body = await _json_object(request)
        token = body.get("refresh_token")
        expiry = self._refresh_tokens.pop(token, None) if isinstance(token, str) else None
        if expiry is None or self.ctx.faults.get("cockpit").auth_fail:
            return _error(401, "invalid refresh token")
        if expiry <= self.ctx.now():
            return _error(401, "refresh token expired")
        return JSONResponse(self._issue(DEMO_USERNAME))

    async def _hosts(self, request: Request) -> Response:
        self._authorize(request)
        return JSONResponse({"hosts": [self._host_wire(h) for h in self.hosts.values()]})

    async def _vms(self, request: Request) -> Response:
        self._authorize(request)
        return JSONResponse({"vms": [self._vm_wire(v) for v in self.vms.values()]})

    async def _vm(self, request: Request) -> Response:
        self._authorize(request)
        vm = self._find_vm(request)
        return JSONResponse(self._vm_wire(vm))

    async def _action(self, request: Request) -> Response:
        self._authorize(request)
        vm = self._find_vm(request)
        body = await _json_object(request)
        action = body.get("action")
        force = body.get("force") is True
        if action not in ACTIONS:
            return _error(400, f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
        if vm.migration is not None:
            return _error(409, "vm is migrating")
        host = self.hosts[vm.host_id]
        if host.status != "connected":
            return _error(409, f"host {self._hostname(host)} is disconnected")
        plan = {
            "start": ({"stopped", "error"}, "starting", "running"),
            "stop": (
                {"running", "paused", "error", "starting", "restarting"},
                "stopping",
                "stopped",
            ),
            "restart": ({"running", "error"}, "restarting", "running"),
            "pause": ({"running"}, "pausing", "paused"),
            "resume": ({"paused"}, "resuming", "running"),
        }
        allowed, transitional, final = plan[action]
        if vm.status not in allowed:
            return _error(409, f"cannot {action} a vm that is {vm.status}")
        now = self.ctx.now()
        rng = self.ctx.rng("cockpit", "action", vm.id, self._serial)
        duration = rng.uniform(0.5, 1.5) if force else rng.uniform(2.0, 6.0)
        vm.status = transitional
        vm.settle = (now + duration, final)
        self._schedule(now + duration, "vm", vm.id)
        self._touch(vm.host_id, now)
        return JSONResponse(
            {"id": vm.id, "action": action, "force": force, "status": "accepted"},
            status_code=202,
        )

    async def _migrate(self, request: Request) -> Response:
        self._authorize(request)
        vm = self._find_vm(request)
        body = await _json_object(request)
        dest_id = body.get("destination_host_id")
        dest = self.hosts.get(dest_id) if isinstance(dest_id, str) else None
        copy_storage = body.get("copy_storage", "none")
        live = body.get("live", True)
        if dest is None:
            return _error(400, "destination_host_id: no such host")
        if dest.id == vm.host_id:
            return _error(400, "destination_host_id: the vm is already on that host")
        if dest.status != "connected":
            return _error(409, f"destination host {self._hostname(dest)} is disconnected")
        if copy_storage not in COPY_STORAGE_SECONDS:
            return _error(400, "copy_storage: expected none, all or inc")
        if not isinstance(live, bool):
            return _error(400, "live: expected a boolean")
        if vm.migration is not None or vm.settle is not None:
            return _error(409, f"vm is busy ({vm.status})")
        if live and vm.status != "running":
            return _error(409, f"live migration needs a running vm; this one is {vm.status}")
        now = self.ctx.now()
        self._serial += 1
        mig_id = hashlib.sha1(f"{self.ctx.seed}-{self._serial}".encode()).hexdigest()[:12]
        due = now + COPY_STORAGE_SECONDS[copy_storage]
        mig = SimMigration(
            id=mig_id,
            vm_id=vm.id,
            source_host_id=vm.host_id,
            destination_host_id=dest.id,
            live=live,
            copy_storage=copy_storage,
            started_at=now,
            due=due,
            resume_status=vm.status,
            status="running",
            options={
                "persistent": body.get("persistent") is True,
                "undefine_source": body.get("undefine_source") is True,
            },
        )
        self.migrations[mig_id] = mig
        vm.migration = mig_id
        vm.status = "migrating"
        self._schedule(due, "migration", mig_id)
        return JSONResponse({"migration_id": mig_id, "status": "initiated"})

    async def _migration(self, request: Request) -> Response:
        self._authorize(request)
        mig = self.migrations.get(request.path_params["id"])
        if mig is None:
            return _error(404, "migration not found")
        return JSONResponse(self._migration_wire(mig))

    async def _expire_tokens(self, request: Request) -> Response:
        self._revoked_upto = self._serial
        return JSONResponse({"expired": True})

    async def _set_token_ttl(self, request: Request) -> Response:
        body = await _json_object(request)
        seconds = body.get("seconds")
        if not isinstance(seconds, int) or seconds < 1:
            return _error(400, "seconds: expected a positive integer")
        self.token_ttl = seconds
        return JSONResponse({"token_ttl": seconds})

    async def _disconnect(self, request: Request) -> Response:
        host = self.hosts.get(request.path_params["id"])
        if host is None:
            return _error(404, "host not found")
        host.status = "disconnected"
        host.reconnect_at = None
        return JSONResponse(self._host_wire(host))

    # -- simulator plumbing -------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        for vm in self.vms.values():
            by_status[vm.status] = by_status.get(vm.status, 0) + 1
        return {"hosts": len(self.hosts), "vms": len(self.vms), "vms_by_status": by_status}

    def demo_account(self, base_url: str) -> dict[str, Any]:
        return {
            "name": "sim-cockpit",
            "base_url": base_url,
            "username": DEMO_USERNAME,
            "password": DEMO_PASSWORD,
        }


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise SimRefusal(_error(400, "request body is not valid JSON")) from None
    if not isinstance(body, dict):
        raise SimRefusal(_error(400, "request body must be a JSON object"))
    return body


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
