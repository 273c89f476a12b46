"""The simulator: every provider module under one Starlette app, plus its /__sim__/ controls."""

from __future__ import annotations

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
