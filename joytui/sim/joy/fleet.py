"""The simulated Joy fleet: the seeded machines (slotted records, everything else derived
from hashes when asked), the plans, nodes and names, and their power transitions."""

from __future__ import annotations

import time
from dataclasses import dataclass

from joytui.sim.clock import unit

DEMO_TOKEN = "JOY-API-DEMO#API"
DEMO_KEY = "joy-5f0c9e2a7b14d8e63a9f1c0b7d2e4a86f3b5c9d1e7a2f40b8c6d3e9a1f5b7c2e04d-sim"

NODES = [
    "c15-node-joy-london",
    "c12-node-joy-frankfurt",
    "node4-512gb-mumbai",
    "node2-256gb-newyork",
    "c9-node-joy-singapore",
    "node7-1tb-amsterdam",
]
PLATFORMS = ["ubuntu", "debian", "windows", "centos"]
PLATFORM_WEIGHTS = [55, 20, 15, 10]
# (ram GB, cores, storage GB): plans as a hosting dashboard sells them.
PLANS = [
    (1, 1, 24),
    (2, 1, 32),
    (2, 2, 48),
    (4, 2, 48),
    (4, 2, 80),
    (8, 4, 120),
    (8, 4, 160),
    (16, 4, 240),
    (16, 8, 320),
    (32, 8, 480),
    (64, 16, 960),
]
PLAN_WEIGHTS = [6, 10, 14, 18, 10, 12, 8, 8, 6, 5, 3]
INITIAL_STATES = ["running", "stopped", "paused", "suspended", "starting"]
INITIAL_WEIGHTS = [78, 14, 3, 3, 2]
NAME_PREFIXES = ["web", "db", "app", "build", "vpn", "game", "mail", "user-x", "dev", "ci"]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
FULL_NAMES = ["Asha Rao", "Liam Carter", "Mei Tanaka", "Omar Haddad", "Sofia Lind"]

NO_EXPIRY = "33285031929"
"""The far-future ``extime`` the spec's example carries for machines that never expire."""

GiB = 2**30
INCIDENT_RATE = 0.3
"""Chance that a simulated minute sees one running machine fail."""

SETTLED_QMP = {
    "running": "running",
    "stopped": "stopped",
    "paused": "paused",
    "suspended": "suspended",
    "error": "internal-error",
}


@dataclass(frozen=True, slots=True)
class _Action:
    reply: str
    """The ``value`` of a successful answer, exactly as the spec lists it."""
    transitional: str
    target: str
    seconds: tuple[float, float]
    applies_to: frozenset[str]
    """Settled states the action changes; from any other it does nothing (and still succeeds)."""


_ANY = frozenset(SETTLED_QMP)
ACTIONS: dict[str, _Action] = {
    "start": _Action(
        "machine_already_started",
        "starting",
        "running",
        (3.0, 8.0),
        frozenset({"stopped", "suspended", "paused", "error"}),
    ),
    "shutdown": _Action(
        "shutdown_success",
        "stopping",
        "stopped",
        (5.0, 12.0),
        frozenset({"running", "paused", "suspended", "error"}),
    ),
    "force_shutdown": _Action(
        "stopped_successfully",
        "stopping",
        "stopped",
        (1.0, 2.0),
        frozenset({"running", "paused", "suspended", "error"}),
    ),
    "reboot": _Action("reboot_success", "rebooting", "running", (6.0, 14.0), _ANY),
    "force_reboot": _Action("power_reset_success", "rebooting", "running", (1.0, 2.5), _ANY),
    "pause": _Action("machine_paused", "suspending", "paused", (1.0, 2.0), frozenset({"running"})),
    "hibernate": _Action(
        "machine_hibernated",
        "suspending",
        "suspended",
        (4.0, 10.0),
        frozenset({"running", "paused"}),
    ),
    "resume": _Action(
        "machine_already_resumed",
        "resuming",
        "running",
        (2.0, 5.0),
        frozenset({"paused", "suspended"}),
    ),
}


@dataclass(slots=True)
class SimMachine:
    """One Joy machine: what ``machine_list`` shows, plus its power state and run clock."""

    id: int
    vmid: int
    node: str
    ip: str
    platform: str
    price: float | None
    extime: str
    expire: str | None
    ram: int
    core: int
    storage: int
    ihash: str
    status: str
    qmp: str
    run_seconds: float
    """Seconds spent running before ``started_at`` (counters grow only while running)."""
    started_at: float | None
    """Simulated time the guest last came up; None while it is not running."""
    target: str | None = None
    """The settled state a transition in progress ends in."""
    gen: int = 0
    """Bumped by every new transition so the heap can skip superseded entries."""
    index: int = 0
    """Its place in the fleet (the names faults cycle by it)."""


def _created(seed: int, m: SimMachine) -> int:
    return 1_600_000_000 + int(unit(seed, m.ihash, "ctime") * 150_000_000)


def _vm_name(seed: int, m: SimMachine) -> str:
    prefix = NAME_PREFIXES[int(unit(seed, m.ihash, "name") * len(NAME_PREFIXES))]
    created = time.gmtime(_created(seed, m))
    return f"{prefix}-{m.vmid}-{created.tm_mday}{MONTHS[created.tm_mon - 1]}"
