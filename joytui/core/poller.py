"""The polling scheduler: one loop per account, never overlapping itself.

Each loop polls, feeds the :class:`~joytui.core.store.Store`, tells a listener, then waits
``refresh_seconds`` with jitter, or longer after failures (exponential backoff, capped, never
less than a 429's Retry-After). A semaphore bounds the polls in flight across all accounts.
``refresh_now`` wakes a loop early. Time and randomness are injected, so tests need no sleeps.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from joytui.core.store import AccountKey, AccountState, ChangeSet, Store
from joytui.model import Snapshot

MAX_BACKOFF_SECONDS = 300.0
JITTER = 0.1


@dataclass
class PollTarget:
    """One account to poll: how often, and how to fetch its snapshot."""

    provider: str
    account: str
    interval: float
    fetch: Callable[[], Awaitable[Snapshot]]
    probe: Callable[[], Awaitable[object]] | None = None
    """One cheap call that succeeds when the account works again: while a failing account
    backs off, it runs once an interval, so recovery is seen within about two intervals."""

    @property
    def key(self) -> AccountKey:
        return (self.provider, self.account)


@dataclass
class PollResult:
    """What one poll did, for a listener (the UI turns it into a message)."""

    account: AccountState
    changes: ChangeSet | None
    """The change set of a good poll; None after a failure."""
    next_in: float
    """Seconds until the next poll of this account."""


Sleeper = Callable[[float, asyncio.Event], Awaitable[None]]


async def wait_or_wake(delay: float, wake: asyncio.Event) -> None:
    """Sleep ``delay`` seconds, or less if ``wake`` is set."""
    try:
        await asyncio.wait_for(wake.wait(), timeout=delay)
    except TimeoutError:
        pass


def backoff_delay(interval: float, failures: int, retry_after: float | None = None) -> float:
    """The wait after ``failures`` consecutive failures: doubling, capped, honouring Retry-After."""
    delay = min(MAX_BACKOFF_SECONDS, interval * 2 ** max(0, failures - 1))
    delay = max(delay, min(interval, MAX_BACKOFF_SECONDS))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_BACKOFF_SECONDS))
    return delay


class Poller:
    """Polls every target forever (until :meth:`stop`), feeding ``store``."""

    def __init__(
        self,
        store: Store,
        targets: list[PollTarget],
        *,
        on_result: Callable[[PollResult], None] | None = None,
        max_concurrent: int = 4,
        sleep: Sleeper = wait_or_wake,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.targets = {t.key: t for t in targets}
        self.on_result = on_result
        self._limit = asyncio.Semaphore(max_concurrent)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._wake: dict[AccountKey, asyncio.Event] = {k: asyncio.Event() for k in self.targets}
        self._stopped = asyncio.Event()
        self.polls = 0
        self.probes = 0
        for target in targets:
            store.register(target.provider, target.account)

    def _jitter(self, delay: float) -> float:
        return delay * (1 + self._rng.uniform(-JITTER, JITTER))

    async def poll_once(self, target: PollTarget) -> PollResult:
        """Poll ``target`` now and record the outcome; never raises (but for cancellation)."""
        async with self._limit:
            try:
                snapshot = await target.fetch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure becomes the account's error, never a crash
                state = self.store.apply_error(target.provider, target.account, exc)
                retry_after = getattr(exc, "retry_after", None)
                delay = backoff_delay(target.interval, state.failures, retry_after)
                result = PollResult(state, None, self._jitter(delay))
            else:
                changes = self.store.apply_snapshot(snapshot)
                state = self.store.accounts[target.key]
                result = PollResult(state, changes, self._jitter(target.interval))
            finally:
                self.polls += 1
        if self.on_result is not None:
            self.on_result(result)
        return result

    async def _loop(self, target: PollTarget) -> None:
        wake = self._wake[target.key]
        while not self._stopped.is_set():
            wake.clear()
            result = await self.poll_once(target)
            if self._stopped.is_set():
                break
            if result.changes is None and target.probe is not None:
                await self._back_off(target, result, wake)
            else:
                await self._sleep(result.next_in, wake)

    async def _back_off(self, target: PollTarget, result: PollResult, wake: asyncio.Event) -> None:
        """Wait out a failed poll's backoff, probing once an interval; a probe that succeeds
        ends the wait. Nothing probes before a 429's Retry-After has passed."""
        retry_after = getattr(result.account.error, "retry_after", None) or 0.0
        left = max(result.next_in, retry_after)  # jitter never cuts a Retry-After short
        wait = min(left, max(target.interval, retry_after))
        while not self._stopped.is_set():
            await self._sleep(wait, wake)
            left -= wait
            if wake.is_set() or left <= 0 or self._stopped.is_set():
                return
            self.probes += 1
            try:
                assert target.probe is not None
                await target.probe()
            except asyncio.CancelledError:
                raise
            except Exception:  # still failing: keep backing off
                wait = min(self._jitter(target.interval), left)
                continue
            return

    async def run(self) -> None:
        """Poll every target until :meth:`stop` or cancellation."""
        async with asyncio.TaskGroup() as group:
            for target in self.targets.values():
                name = f"poll {target.provider}:{target.account}"
                group.create_task(self._loop(target), name=name)
            group.create_task(self._watch_stop())

    async def _watch_stop(self) -> None:
        await self._stopped.wait()
        for event in self._wake.values():
            event.set()

    def refresh_now(self, key: AccountKey | None = None) -> None:
        """Poll ``key`` (or every account) as soon as its current poll, if any, finishes."""
        for k, event in self._wake.items():
            if key is None or k == key:
                event.set()

    def stop(self) -> None:
        """Let every loop finish its current poll and end."""
        self._stopped.set()
