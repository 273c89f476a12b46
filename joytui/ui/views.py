"""The tabs of the dashboard: which kinds each shows, with which columns (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, eq=False)
class View:
    """A tab of the dashboard."""

    id: str
    title: str
    kinds: frozenset[str] | None
    """Kinds shown; None for every kind. The totals view has no table."""
    columns: tuple[str, ...] = ()
    priority: dict[str, int] = field(default_factory=dict)
    """Column priorities of this view where they differ from the column's own."""


VIEWS: list[View] = [
    View("totals", "Totals", None),
    View(
        "all",
        "All",
        None,
        ("provider", "account", "kind", "name", "status", "cpu", "mem", "ip", "location"),
        # The kind already says the provider; on a narrow terminal the IP says more than
        # an account name repeated on every row.
        {"provider": 0, "account": 2, "ip": 6},
    ),
    View(
        "machines",
        "Joy",
        frozenset({"machine"}),
        ("account", "name", "status", "raw", "cpu", "mem", "vcpus", "ip", "location", "id"),
    ),
    View(
        "hosts",
        "Hosts",
        frozenset({"host"}),
        ("account", "name", "status", "raw", "vcpus", "mem", "ip", "id"),
    ),
    View(
        "vms",
        "VMs",
        frozenset({"vm"}),
        ("account", "name", "status", "raw", "cpu", "mem", "vcpus", "ip", "location", "id"),
    ),
    View(
        "services",
        "Services",
        frozenset({"service"}),
        ("account", "name", "status", "raw", "location", "id"),
    ),
    View(
        "backends",
        "Backends",
        frozenset({"backend"}),
        ("account", "service", "name", "status", "raw", "cpu", "mem", "location", "id"),
    ),
    View(
        "instances",
        "Instances",
        frozenset({"instance"}),
        ("account", "name", "status", "raw", "cpu", "mem", "location", "id"),
    ),
]
VIEWS_BY_ID = {v.id: v for v in VIEWS}
