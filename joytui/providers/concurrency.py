"""How many requests an account has in flight: :class:`AdaptiveLimit`; and
:func:`gather_first_error`, awaiting requests together, all or nothing.

A polite client on a WAN: up to the account's ``max_concurrency`` at once, half as many after
the server answers 429 (too many requests), and back up one at a time, slowly, while it
answers well. The same idea as TCP's congestion window: cut fast, grow slowly.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

RECOVER_SECONDS = 1.0
"""At least this long between two steps back up."""


class AdaptiveLimit:
    """A semaphore whose width adapts to the server: at most :attr:`limit` holders at once.

    :attr:`limit` starts at ``maximum``. A rate-limited answer halves it (not below 1), once
    per round: answers to requests that started before the last cut cut no further, so one
    burst of 429s is one halving, not five. It grows back by one after :attr:`limit`
    successes in a row (about one round at that width) and at least ``recover_seconds``
    after the last change. Holders beyond a cut finish; no new one starts until there is
    room. Waiters are served first come, first served.
    """

    def __init__(
        self,
        maximum: int,
        *,
        recover_seconds: float = RECOVER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.maximum = max(1, maximum)
        """The configured width (the account's ``max_concurrency``)."""
        self.limit = self.maximum
        """The width now."""
        self.in_flight = 0
        """Holders now."""
        self.peak = 0
        """The most holders there have been at once."""
        self.cuts = 0
        """How many times a rate-limited answer has halved the width."""
        self.recover_seconds = recover_seconds
        self._clock = clock
        self._changed = clock()
        self._successes = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def __repr__(self) -> str:
        return f"<AdaptiveLimit {self.in_flight}/{self.limit} of {self.maximum}>"

    async def acquire(self) -> int:
        """Wait for room, take it, and return the round it was taken in (for
        :meth:`release`)."""
        if not self._waiters and self.in_flight < self.limit:
            self._take()
            return self.cuts
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # _wake takes the room for us before it wakes us
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.in_flight -= 1  # handed room while being cancelled: give it back
                self._wake()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        return self.cuts

    def _take(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def release(self, round_taken: int, *, ok: bool = False, rate_limited: bool = False) -> None:
        """Give room back; ``rate_limited`` halves the width (once per round), ``ok`` counts
        towards growing it back. Neither (a failure of another kind) changes nothing."""
        self.in_flight = max(0, self.in_flight - 1)
        if rate_limited:
            if round_taken == self.cuts:
                if self.limit > 1:
                    self.limit //= 2
                    self.cuts += 1
                self._successes = 0  # still refused: growing back starts over
                self._changed = self._clock()
        elif ok and self.limit < self.maximum:
            self._successes += 1
            if (
                self._successes >= self.limit
                and self._clock() - self._changed >= self.recover_seconds
            ):
                self.limit += 1
                self._successes = 0
                self._changed = self._clock()
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled waiter is skipped
                self._take()
                waiter.set_result(None)


async def gather_first_error(aws: Iterable[Awaitable[T]]) -> list[T]:
    """Await every awaitable concurrently and return their results in order; on the first
    failure cancel the rest and raise it (a snapshot is all or nothing, so why wait)."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        if tasks:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                return [task.result()]  # raises its exception
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["RECOVER_SECONDS", "AdaptiveLimit", "gather_first_error"]
