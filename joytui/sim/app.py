"""The simulator: every provider module under one Starlette app, plus its /__sim__/ controls."""

from __future__ import annotations

import json
from typing import Any

import tomli_w
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from joytui.sim.base import ProviderSim, SimContext, SimOptions, SimRefusal
from joytui.sim.clock import SimClock
from joytui.sim.faults import (
    ASGIApp,
    FaultMiddleware,
    FaultSpecError,
    FaultState,
    Receive,
    Scope,
    Send,
    parse_fault_spec,
    provider_of,
)


class Simulator:
    """A seeded fleet behind the four simulated APIs, and the Starlette app that serves it."""

    def __init__(self, options: SimOptions | None = None, faults: str | None = None) -> None:
        from joytui.sim.cockpit import CockpitSim
        from joytui.sim.instances import InstancesSim
        from joytui.sim.jamsocket import JamsocketSim
        from joytui.sim.joy import JoySim

        self.options = options or SimOptions()
        self.clock = SimClock(self.options.epoch, self.options.speed)
        self.faults = FaultState(self.options.seed)
        if faults:
            self.faults.update(parse_fault_spec(faults))
        self.ctx = SimContext(self.options, self.clock, self.faults)
        self.writes: dict[str, int] = {}
        """State-changing requests that arrived, by what they change (``/__sim__/``
        shows them): ``joy change_machine_state <instance_token>``, else ``METHOD path``."""
        self.hang_writes = False
        """Hold every state-changing request unanswered (reads are served): a write that
        times out while polls still work. Set with ``POST /__sim__/writes {"hang": true}``."""
        sims: list[ProviderSim] = [
            JoySim(self.ctx),
            CockpitSim(self.ctx),
            JamsocketSim(self.ctx),
            InstancesSim(self.ctx),
        ]
        self.providers: dict[str, ProviderSim] = {s.name: s for s in sims}
        self.app = self._build_app()

    def advance(self) -> None:
        """Bring every provider up to the current simulated time."""
        now = self.clock.now()
        for sim in self.providers.values():
            sim.advance(now)

    def set_base_url(self, base_url: str) -> None:
        """Tell the modules where they are served (Jamsocket puts it in URLs it returns)."""
        self.ctx.base_url = base_url

    def config(self, base_url: str) -> dict[str, Any]:
        """A joytui config (as data) with one account per provider pointing at ``base_url``."""
        config: dict[str, Any] = {"refresh_seconds": 5}
        for name, sim in self.providers.items():
            config[name] = [sim.demo_account(base_url)]
        return config

    def config_toml(self, base_url: str) -> str:
        """:meth:`config` as TOML text, ready to save as config.toml."""
        header = (
            f"# joytui config for the simulator at {base_url} (seed {self.options.seed}).\n"
            "# The credentials below are the simulator's demo credentials, not real ones.\n"
        )
        return header + tomli_w.dumps(self.config(base_url))

    # -- the app ------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        routes: list[Any] = [
            Route("/__sim__/", self._info, methods=["GET"]),
            Route("/__sim__/faults", self._faults, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/__sim__/clock", self._clock, methods=["GET", "POST"]),
            Route("/__sim__/writes", self._writes, methods=["GET", "POST", "DELETE"]),
        ]
        for name, sim in self.providers.items():
            controls = sim.control_routes()
            if controls:
                routes.append(Mount(f"/__sim__/{name}", routes=controls))
        for sim in self.providers.values():
            routes.extend(sim.routes())
        return Starlette(
            routes=routes,
            middleware=[
                Middleware(_WriteCounter, simulator=self),
                Middleware(_AdvanceMiddleware, simulator=self),
                Middleware(FaultMiddleware, faults=self.faults),
            ],
            exception_handlers={SimRefusal: _send_refusal},
        )

    async def _info(self, request: Request) -> JSONResponse:
        self.advance()
        return JSONResponse(
            {
                "seed": self.options.seed,
                "speed": self.clock.speed,
                "now": self.clock.now(),
                "elapsed": self.clock.elapsed(),
                "providers": {n: s.summary() for n, s in self.providers.items()},
                "faults": self.faults.as_dict(),
                "writes": dict(sorted(self.writes.items())),
            }
        )

    async def _faults(self, request: Request) -> JSONResponse:
        if request.method == "DELETE":
            self.faults.reset()
        elif request.method in ("POST", "PUT"):
            try:
                body = await request.json()
                if isinstance(body, dict) and isinstance(body.get("spec"), str):
                    body = parse_fault_spec(body["spec"])
                if not isinstance(body, dict):
                    raise FaultSpecError("expected a JSON object")
                self.faults.update(body)
            except (FaultSpecError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.faults.as_dict())

    async def _writes(self, request: Request) -> JSONResponse:
        if request.method == "DELETE":
            self.writes.clear()
        elif request.method == "POST":
            try:
                body = await request.json()
                hang = body["hang"]
                if not isinstance(hang, bool):
                    raise ValueError("hang: expected true or false")
            except (ValueError, TypeError, KeyError) as exc:
                return JSONResponse({"error": f"bad writes request: {exc}"}, status_code=400)
            self.hang_writes = hang
        return JSONResponse({"writes": dict(sorted(self.writes.items())), "hang": self.hang_writes})

    async def _clock(self, request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                body = await request.json()
                if "speed" in body:
                    self.clock.set_speed(float(body["speed"]))
                if "advance" in body:
                    self.clock.advance(float(body["advance"]))
            except (ValueError, TypeError, AttributeError) as exc:
                return JSONResponse({"error": f"bad clock request: {exc}"}, status_code=400)
            self.advance()
        return JSONResponse(
            {"now": self.clock.now(), "elapsed": self.clock.elapsed(), "speed": self.clock.speed}
        )


async def _send_refusal(request: Request, exc: Exception) -> Response:
    """The answer a :class:`SimRefusal` carries, unchanged."""
    if not isinstance(exc, SimRefusal):  # registered for SimRefusal only; never reached
        raise exc
    return exc.response


class _AdvanceMiddleware:
    """Moves the fleet to the present before any provider call is answered."""

    def __init__(self, app: ASGIApp, simulator: Simulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and provider_of(scope["path"]) is not None:
            self.simulator.advance()
        await self.app(scope, receive, send)


class _WriteCounter:
    """Counts every state-changing request as it arrives (before any fault answers it), so a
    test can see how many times a write was sent. Joy's writes are POSTs to one path: they are
    told apart by the ``type`` and ``instance_token`` of their body."""

    def __init__(self, app: ASGIApp, simulator: Simulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        provider = provider_of(path)
        if provider is None or "/auth/" in path:
            await self.app(scope, receive, send)
            return
        if provider != "joy":
            self._count(f"{scope['method']} {path}")
            if self.simulator.hang_writes:
                await _hold(receive)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        body = b"".join(chunks)
        key = _joy_write(body)
        if key is not None:
            self._count(key)
            if self.simulator.hang_writes:
                await _hold(receive)
                return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await receive())

        await self.app(scope, replay, send)

    def _count(self, key: str) -> None:
        writes = self.simulator.writes
        writes[key] = writes.get(key, 0) + 1


async def _hold(receive: Receive) -> None:
    """Answer nothing until the client gives up (a write that times out)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _joy_write(body: bytes) -> str | None:
    """``joy change_machine_state <token>`` for a Joy write, None for a read."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("type") != "change_machine_state":
        return None
    return f"joy change_machine_state {data.get('instance_token')}"
