"""Metric history: a bounded ring of readings per resource, fed by polls and streams, so a
detail that opens again shows the last minutes at once; and rates from cumulative counters.

Counters (network and disk bytes) only grow while a machine runs. A rate comes from two
readings in a row; where the counter went down (a reset, a restart) or the readings are too
far apart (a gap), there is no rate: a chart shows a gap, never a spike.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from itertools import pairwise

from joytui.model import MetricSample

ResourceKey = tuple[str, str, str, str]

COUNTERS = ("net_in", "net_out", "disk_read", "disk_write")
"""MetricSample fields that are cumulative byte counters."""


class History:
    """Readings per resource, newest last: ``points`` per resource, ``resources`` kept in all
    (the least recently fed or read dropped first), so memory stays bounded in a big fleet."""

    def __init__(self, points: int = 900, resources: int = 200) -> None:
        self.points = points
        self.max_resources = resources
        self._series: OrderedDict[ResourceKey, deque[MetricSample]] = OrderedDict()

    def add(self, key: ResourceKey, sample: MetricSample) -> None:
        """Keep ``sample`` (ignored if not newer than the last reading of ``key``)."""
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = deque(maxlen=self.points)
            while len(self._series) > self.max_resources:
                self._series.popitem(last=False)
        else:
            self._series.move_to_end(key)
            if series and sample.time <= series[-1].time:
                return
        series.append(sample)

    def samples(self, key: ResourceKey, since: float | None = None) -> list[MetricSample]:
        """``key``'s readings, oldest first (only those at or after ``since``)."""
        series = self._series.get(key)
        if series is None:
            return []
        self._series.move_to_end(key)
        if since is None:
            return list(series)
        return [s for s in series if s.time >= since]

    def latest(self, key: ResourceKey) -> MetricSample | None:
        series = self._series.get(key)
        return series[-1] if series else None

    def __len__(self) -> int:
        return len(self._series)

    def __contains__(self, key: object) -> bool:
        return key in self._series


def rates(
    samples: Sequence[MetricSample], field: str, max_gap: float
) -> list[tuple[float, float | None]]:
    """Per-second rates of counter ``field``: one (time, rate) per reading after the first.

    The rate is None (a gap) when either reading lacks the counter, the readings are more
    than ``max_gap`` seconds apart or not in order, the counter went down (reset), or the
    uptime went down (a restart between them)."""
    out: list[tuple[float, float | None]] = []
    for before, after in pairwise(samples):
        a, b = getattr(before, field), getattr(after, field)
        dt = after.time - before.time
        rate: float | None = None
        restarted = (
            before.uptime_seconds is not None
            and after.uptime_seconds is not None
            and after.uptime_seconds < before.uptime_seconds
        )
        if a is not None and b is not None and 0 < dt <= max_gap and b >= a and not restarted:
            rate = (b - a) / dt
        out.append((after.time, rate))
    return out


def values(samples: Iterable[MetricSample], field: str) -> list[tuple[float, float | None]]:
    """(time, value) of a gauge ``field`` (cpu_percent, memory_used…), None where missing."""
    return [(s.time, getattr(s, field)) for s in samples]
