"""Placeholder: the simulated joy API is being written."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from joytui.sim.base import SimContext


class JoySim:
    name = "joy"

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        return []

    def control_routes(self) -> list[BaseRoute]:
        return []

    def advance(self, now: float) -> None:
        pass

    def summary(self) -> dict[str, Any]:
        return {}

    def demo_account(self, base_url: str) -> dict[str, Any]:
        return {"name": "sim-joy", "base_url": base_url}
