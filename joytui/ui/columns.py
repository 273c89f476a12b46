"""The columns of the resource table: what each shows, how it sorts, and how a row of
columns fits a terminal's width (narrow terminals drop the least useful first)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joytui.model import Resource, Status
from joytui.ui.formatting import STATUS_GLYPHS, STATUS_ORDER, human_bytes

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
