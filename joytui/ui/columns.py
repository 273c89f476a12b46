"""The columns of the resource table: what each shows, how it sorts, and how a row of
columns shares a terminal's width.

Each column has a smallest legible width and a cap; the table measures what the rows on
screen need. :func:`layout` keeps the columns a view ranks highest at the width they need,
drops the rest when the terminal is narrow, and gives what is left to the name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def _mem_sort(r: Resource) -> int | None:
    value = (r.memory_used if r.status in LIVE else None) or r.memory_total
    return value or None


def _cpu(r: Resource) -> str:
    if r.cpu_percent is None or r.status not in LIVE:
        return ""
    return f"{r.cpu_percent:.0f}%"


def _cpu_sort(r: Resource) -> float | None:
    return r.cpu_percent if r.cpu_percent is not None and r.status in LIVE else None


def _text_sort(value: str | None) -> str | None:
    return value.lower() if value else None


@dataclass(frozen=True)
class Column:
    """One column of the resource table."""

    key: str
    title: str
    min_width: int
    """Narrowest legible width; also room for the title and its sort arrow."""
    cap: int
    """Widest it ever gets (but the name, which takes what is left)."""
    value: Callable[[Resource], str]
    sort: Callable[[Resource], Any]
    """The sort key; None for a blank cell, which sorts last in either direction."""
    priority: int = 5
    """Higher survives longer when the terminal is narrow (a view may override it)."""
    flex: bool = False
    """Takes the width left over."""
    right: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "min_width", max(self.min_width, len(self.title) + 1))


COLUMNS: dict[str, Column] = {
    c.key: c
    for c in [
        Column("provider", "PROVIDER", 9, 9, lambda r: r.provider, lambda r: r.provider, 6),
        Column("account", "ACCOUNT", 8, 24, lambda r: r.account, lambda r: r.account, 4),
        Column("kind", "KIND", 8, 8, lambda r: r.kind, lambda r: r.kind, 7),
        Column(
            "name", "NAME", 16, 200, lambda r: r.name, lambda r: _text_sort(r.name), 10, flex=True
        ),
        Column(
            "status",
            "STATUS",
            10,
            12,
            lambda r: f"{STATUS_GLYPHS[r.status]} {r.status.value}",
            lambda r: STATUS_ORDER[r.status],
            10,
        ),
        Column(
            "raw",
            "STATE",
            6,
            18,
            lambda r: r.raw_status or "",
            lambda r: _text_sort(r.raw_status),
            2,
        ),
        Column("cpu", "CPU", 4, 5, _cpu, _cpu_sort, 8, right=True),
        Column("mem", "MEM", 5, 13, _mem, _mem_sort, 5, right=True),
        Column(
            "vcpus",
            "VCPU",
            4,
            5,
            lambda r: "" if r.vcpus is None else str(r.vcpus),
            lambda r: r.vcpus,
            3,
            right=True,
        ),
        Column("ip", "IP", 7, 39, lambda r: r.ip or "", lambda r: r.ip or None, 3),
        Column(
            "location",
            "WHERE",
            6,
            32,
            lambda r: r.location or "",
            lambda r: _text_sort(r.location),
            1,
        ),
        Column(
            "service", "SERVICE", 8, 24, lambda r: r.parent or "", lambda r: _text_sort(r.parent), 6
        ),
        Column("id", "ID", 6, 40, lambda r: r.id, lambda r: r.id, 0),
    ]
}

DEFAULT_WANT = {"name": 24, "account": 14, "location": 16, "ip": 15, "id": 12, "raw": 10}
"""What a column wants before any row has been measured."""


def layout(
    columns: Sequence[str],
    width: int,
    wants: Mapping[str, int] | None = None,
    priority: Mapping[str, int] | None = None,
) -> list[tuple[Column, int]]:
    """Fit ``columns`` (in display order) into ``width`` cells, one space between.

    Every kept column gets the width its cells need (``wants``, measured; capped), the name
    at least its minimum; the lowest ``priority`` columns are dropped until that fits; the
    width left over goes to the name (or, with no name, spreads over no one).
    """
    wants = wants or {}
    priority = priority or {}
    chosen = [COLUMNS[c] for c in columns]

    def rank(c: Column) -> int:
        return priority.get(c.key, c.priority)

    def want(c: Column) -> int:
        measured = wants.get(c.key, DEFAULT_WANT.get(c.key, c.min_width))
        return max(c.min_width, min(c.cap, measured))

    def need(cols: list[Column]) -> int:
        return sum(c.min_width if c.flex else want(c) for c in cols) + len(cols) - 1

    while len(chosen) > 1 and need(chosen) > width:
        chosen.remove(min(chosen, key=rank))
    widths = {c.key: (c.min_width if c.flex else want(c)) for c in chosen}
    if len(chosen) == 1:
        widths[chosen[0].key] = max(1, width)
    spare = max(0, width - need(chosen))
    flex = [c for c in chosen if c.flex]
    if flex:
        widths[flex[0].key] += spare
    return [(c, widths[c.key]) for c in chosen]
