"""What every simulated provider shares: its context (clock, seed, faults) and its interface."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.responses import Response
from starlette.routing import BaseRoute

from joytui.sim.clock import SimClock, seeded_rng
from joytui.sim.faults import FaultState


class SimRefusal(Exception):
    """Ends a request early with ``response`` (refused credentials, a missing resource, a body
    that cannot be read); the simulator's app sends that response as it is."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"answered {response.status_code}")
        self.response = response


@dataclass
class SimOptions:
    """The simulator's settings, from ``joytui sim``'s flags."""

    seed: int = 7
    machines: int = 40
    """Joy machines in the fleet (up to 50,000)."""
    speed: float = 1.0
    """How many times faster than the wall clock simulated time runs (0 freezes it)."""
    epoch: float | None = None
    """Simulated Unix time at start; None means now."""
    token_ttl: int = 3600
    """Cockpit: lifetime of an access token, in simulated seconds."""
    incidents: bool = True
    """Whether things fail by themselves now and then."""
    metrics_interval: float = 1.0
    """Jamsocket: wall seconds between metrics events on a stream."""
    keepalive_seconds: float = 15.0
    """Wall seconds between SSE keep-alive comments."""


@dataclass
class SimContext:
    """Shared by every provider module of one simulator."""

    options: SimOptions
    clock: SimClock
    faults: FaultState
    base_url: str = "http://127.0.0.1"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return self.options.seed

    def rng(self, *parts: object) -> random.Random:
        """A random generator seeded from the simulator's seed and ``parts``."""
        return seeded_rng(self.options.seed, *parts)

    def now(self) -> float:
        """Simulated Unix time."""
        return self.clock.now()


class ProviderSim(Protocol):
    """One simulated API: its routes, its state and how that state moves with time."""

    name: str

    def routes(self) -> list[BaseRoute]:
        """The API's routes, at the paths its spec gives."""
        ...

    def control_routes(self) -> list[BaseRoute]:
        """Extra test controls, mounted under ``/__sim__/<name>/``."""
        ...

    def advance(self, now: float) -> None:
        """Bring state up to simulated time ``now``: finish transitions, run incidents."""
        ...

    def summary(self) -> dict[str, Any]:
        """Counts for ``GET /__sim__/``."""
        ...

    def demo_account(self, base_url: str) -> dict[str, Any]:
        """A config account table (with literal demo credentials) pointing at this simulator."""
        ...
