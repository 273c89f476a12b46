"""What each view of the resource table shows: which kinds, which columns, how they sort.

Pure data and formatting; no widgets. Columns carry a priority so narrow terminals drop the
least useful first (80x24 keeps name, status and the essentials).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joytui.model import Resource, Status

STATUS_GLYPHS = {
    Status.RUNNING: "●",
    Status.PENDING: "◐",
    Status.PAUSED: "‖",
    Status.STOPPED: "■",
    Status.ERROR: "✖",
    Status.UNKNOWN: "?",
}
# Trouble first; unknown last, since it mostly means "not asked yet" (Joy's status needs a
# machine_info per machine, fetched for the visible rows first).
STATUS_ORDER = {
    s: i
    for i, s in enumerate(
        [
            Status.ERROR,
            Status.PENDING,
            Status.PAUSED,
            Status.STOPPED,
            Status.RUNNING,
            Status.UNKNOWN,
        ]
    )
}


def human_bytes(value: float | None) -> str:
    """1536 -> '1.5K'; None -> ''."""
    if value is None:
        return ""
    for unit in ("", "K", "M", "G", "T"):
        if abs(value) < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if unit == "" else f"{value:.1f}{unit}"
        value /= 1024
    return ""


def human_age(seconds: float | None) -> str:
    """42 -> '42s', 150 -> '2m', 7200 -> '2h'."""
    if seconds is None:
        return "never"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


LIVE = (Status.RUNNING, Status.PENDING)


def _mem(r: Resource) -> str:
    if r.status not in LIVE:
        return human_bytes(r.memory_total)
    if r.memory_used is not None and r.memory_total:
        return f"{human_bytes(r.memory_used)}/{human_bytes(r.memory_total)}"
    if r.memory_total is not None:
        return human_bytes(r.memory_total)
    return human_bytes(r.memory_used) if r.memory_used else ""


def _cpu(r: Resource) -> str:
    if r.cpu_percent is None or r.status not in LIVE:
        return ""
    return f"{r.cpu_percent:.0f}%"


@dataclass(frozen=True)
class Column:
    """One column of the resource table."""

    key: str
    title: str
    width: int
    value: Callable[[Resource], str]
    sort: Callable[[Resource], Any]
    priority: int = 5
    """Higher survives longer when the terminal is narrow."""
    flex: bool = False
    """Takes the width left over."""
    right: bool = False


COLUMNS: dict[str, Column] = {
    c.key: c
    for c in [
        Column("provider", "PROVIDER", 9, lambda r: r.provider, lambda r: r.provider, 6),
        Column("account", "ACCOUNT", 14, lambda r: r.account, lambda r: r.account, 4),
        Column("kind", "KIND", 8, lambda r: r.kind, lambda r: r.kind, 7),
        Column("name", "NAME", 14, lambda r: r.name, lambda r: r.name.lower(), 10, flex=True),
        Column(
            "status",
            "STATUS",
            11,
            lambda r: f"{STATUS_GLYPHS[r.status]} {r.status.value}",
            lambda r: STATUS_ORDER[r.status],
            10,
        ),
        Column("raw", "STATE", 10, lambda r: r.raw_status or "", lambda r: r.raw_status or "", 2),
        Column(
            "cpu",
            "CPU",
            5,
            _cpu,
            lambda r: -1 if r.cpu_percent is None else r.cpu_percent,
            8,
            right=True,
        ),
        Column(
            "mem", "MEM", 12, _mem, lambda r: r.memory_used or r.memory_total or 0, 5, right=True
        ),
        Column(
            "vcpus",
            "VCPU",
            4,
            lambda r: "" if r.vcpus is None else str(r.vcpus),
            lambda r: r.vcpus or 0,
            3,
            right=True,
        ),
        Column("ip", "IP", 15, lambda r: r.ip or "", lambda r: r.ip or "", 3),
        Column("location", "WHERE", 16, lambda r: r.location or "", lambda r: r.location or "", 1),
        Column("service", "SERVICE", 14, lambda r: r.parent or "", lambda r: r.parent or "", 6),
        Column("id", "ID", 12, lambda r: r.id, lambda r: r.id, 0),
    ]
}


@dataclass(frozen=True)
class View:
    """A tab of the dashboard."""

    id: str
    title: str
    kinds: frozenset[str] | None
    """Kinds shown; None for every kind. The totals view has no table."""
    columns: tuple[str, ...] = ()


VIEWS: list[View] = [
    View("totals", "Totals", None),
    View(
        "all",
        "All",
        None,
        ("provider", "account", "kind", "name", "status", "cpu", "mem", "ip", "location"),
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


def layout(columns: tuple[str, ...], width: int) -> list[tuple[Column, int]]:
    """Fit ``columns`` into ``width`` cells (one space between): drop the lowest priority
    columns until the rest fit, then give the spare width to the flexible column."""
    chosen = [COLUMNS[c] for c in columns]
    while chosen:
        need = sum(c.width for c in chosen) + len(chosen) - 1
        if need <= width or len(chosen) == 1:
            break
        chosen.remove(min(chosen, key=lambda c: c.priority))
    need = sum(c.width for c in chosen) + len(chosen) - 1
    spare = max(0, width - need)
    return [(c, c.width + (spare if c.flex else 0)) for c in chosen]


@dataclass(frozen=True)
class Query:
    """A filter typed after ``/``: words match name, id, ip, place or account;
    ``field:value`` (provider, account, kind, status, name, ip) matches that field."""

    text: str = ""

    def __post_init__(self) -> None:
        terms, fields = [], []
        for word in self.text.lower().split():
            key, colon, value = word.partition(":")
            if colon and key in ("provider", "account", "kind", "status", "name", "ip", "state"):
                fields.append((key, value))
            else:
                terms.append(word)
        object.__setattr__(self, "_terms", terms)
        object.__setattr__(self, "_fields", fields)

    def matches(self, r: Resource) -> bool:
        """True when ``r`` passes every word of the filter."""
        for key, value in self._fields:  # type: ignore[attr-defined]
            field = {
                "provider": r.provider,
                "account": r.account,
                "kind": r.kind,
                "status": r.status.value,
                "name": r.name,
                "ip": r.ip or "",
                "state": r.raw_status or "",
            }[key].lower()
            if value not in field:
                return False
        if self._terms:  # type: ignore[attr-defined]
            hay = " ".join(
                (r.name, r.id, r.ip or "", r.location or "", r.account, r.raw_status or "")
            ).lower()
            return all(t in hay for t in self._terms)  # type: ignore[attr-defined]
        return True
