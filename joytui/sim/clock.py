"""Simulated time, deterministic noise and timestamp helpers shared by every simulated API."""

from __future__ import annotations

import hashlib
import math
import random
import struct
import time
from datetime import UTC, datetime


class SimClock:
    """Simulated time: starts at ``epoch`` and runs ``speed`` times as fast as the wall clock.

    ``speed`` 0 freezes it; :meth:`advance` jumps it forward (tests use both).
    """

    def __init__(self, epoch: float | None = None, speed: float = 1.0) -> None:
        self.epoch = time.time() if epoch is None else float(epoch)
        self.speed = float(speed)
        self._mono0 = time.monotonic()
        self._offset = 0.0

    def elapsed(self) -> float:
        """Simulated seconds since the simulator started."""
        return (time.monotonic() - self._mono0) * self.speed + self._offset

    def now(self) -> float:
        """Simulated Unix time in seconds."""
        return self.epoch + self.elapsed()

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward."""
        self._offset += max(0.0, float(seconds))

    def set_speed(self, speed: float) -> None:
        """Change the rate of simulated time without a jump."""
        self._offset = self.elapsed()
        self._mono0 = time.monotonic()
        self.speed = max(0.0, float(speed))

    def wall(self, sim_seconds: float) -> float:
        """Wall-clock seconds that ``sim_seconds`` of simulated time take (for sleeps)."""
        if self.speed <= 0:
            return sim_seconds
        return sim_seconds / self.speed


def stable_hash(*parts: object) -> int:
    """A 64-bit hash of ``parts`` that is the same in every process (unlike ``hash``)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return struct.unpack("<Q", digest)[0]


def unit(*parts: object) -> float:
    """A deterministic number in [0, 1) for ``parts``."""
    return stable_hash(*parts) / 2**64


def seeded_rng(*parts: object) -> random.Random:
    """A ``random.Random`` seeded from ``parts``, the same in every process."""
    return random.Random(stable_hash(*parts))


def smooth_noise(t: float, period: float, *key: object) -> float:
    """Deterministic value noise in [0, 1) that wanders smoothly with ``t``: a cheap random walk.

    The value at any time is computed directly, so 50,000 machines cost nothing until read.
    """
    x = t / period
    i = math.floor(x)
    f = x - i
    f = f * f * (3 - 2 * f)
    a = unit(*key, i)
    b = unit(*key, i + 1)
    fine = unit(*key, "fine", math.floor(t / max(period / 8, 1e-9)))
    return min(0.999999, max(0.0, (a + (b - a) * f) * 0.9 + fine * 0.1))


def counter(run_seconds: float, rate: float, period: float = 600.0) -> int:
    """A cumulative byte counter that only grows: ``rate`` per running second, with a wobble."""
    wobble = rate * period / (2 * math.pi) * (1 - math.cos(2 * math.pi * run_seconds / period))
    return int(rate * run_seconds + wobble)


def iso(ts: float) -> str:
    """Unix seconds as ISO 8601 UTC with milliseconds and a ``Z``, as Jamsocket writes them."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
