"""The simulated Jamsocket HTTP API v2 (``/v2/...``), as ``jamsocket-api-v2.txt`` describes.

One demo account holds a few services (each with a ``default`` environment and pushed images)
and a fleet of session backends. The package is split by job:

- :mod:`.fleet`: services, images, backends and how their statuses move with simulated time;
- :mod:`.seed`: the fleet's seeded past;
- :mod:`.wire`: the JSON the API answers with, and the request bodies it reads;
- :mod:`.routes`: the endpoints (:class:`JamsocketSim`) and the simulator's controls;
- :mod:`.streams`: the status, logs and metrics server-sent-event streams.

Behaviour the spec leaves open is described in each module. Across them: ``max_idle_seconds``
(default 300) counts from ``ready`` for a backend nobody has connected to, and connecting again
with its key, or opening its ``url``, resets it; idle and lifetime sweeps always happen, random
incidents only when ``SimOptions.incidents`` is on; a memory limit under 32 MiB makes the
backend die of OOM (exit code 137) while starting.
"""

from joytui.sim.jamsocket.fleet import (
    DEMO_ACCOUNT,
    DEMO_TOKEN,
    NAME,
    RANK,
    STATUSES,
    TERMINATION_REASONS,
    JamsocketFleet,
    SimBackend,
    SimService,
)
from joytui.sim.jamsocket.routes import JamsocketSim

__all__ = [
    "DEMO_ACCOUNT",
    "DEMO_TOKEN",
    "NAME",
    "RANK",
    "STATUSES",
    "TERMINATION_REASONS",
    "JamsocketFleet",
    "JamsocketSim",
    "SimBackend",
    "SimService",
]
