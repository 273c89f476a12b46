"""The store: per account, the last good snapshot, its time, and the last error and its time.

Every update returns a :class:`ChangeSet` (added / changed / removed) so a UI redraws only
what changed. The store is passive and synchronous: the poller feeds it, the UI reads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from joytui.model import Resource, Snapshot, Totals

ResourceKey = tuple[str, str, str, str]
AccountKey = tuple[str, str]

DOWN_AFTER_FAILURES = 3
"""Consecutive failed polls after which an account counts as down rather than degraded."""
STALE_AFTER_INTERVALS = 3
"""Data older than this many poll intervals is stale, whatever the last poll said (a poll
that never finishes fails no poll)."""


class Health(StrEnum):
    """How an account is doing, as the totals screen shows it."""

    WAITING = "waiting"
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass
class ChangeSet:
    """What one update changed, for incremental redraws."""

    account: AccountKey
    added: list[Resource] = field(default_factory=list)
    changed: list[Resource] = field(default_factory=list)
    removed: list[ResourceKey] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when nothing changed."""
        return not (self.added or self.changed or self.removed)


@dataclass
class AccountState:
    """Everything the store knows about one account."""

    provider: str
    account: str
    # Not in the repr: 10,000 resources make a 15 MB string wherever a state is shown.
    resources: dict[ResourceKey, Resource] = field(default_factory=dict, repr=False)
    totals: Totals | None = None
    updated_at: float | None = None
    """When the last good snapshot arrived (Unix seconds, by the store's clock)."""
    latency_ms: float | None = None
    error: Exception | None = None
    """The last error, cleared by the next good snapshot."""
    error_at: float | None = None
    failures: int = 0
    """Consecutive failed polls."""
    interval: float | None = None
    """The account's poll interval, where it is polled (for staleness by age)."""
    failing_since: float | None = None
    """When the current run of failed polls began (None while polls succeed)."""

    @property
    def key(self) -> AccountKey:
        return (self.provider, self.account)

    @property
    def health(self) -> Health:
        """ok, degraded (failing, last data kept), down (failing repeatedly) or waiting."""
        if self.error is None:
            return Health.OK if self.updated_at is not None else Health.WAITING
        if self.failures >= DOWN_AFTER_FAILURES or self.updated_at is None:
            return Health.DOWN
        return Health.DEGRADED

    @property
    def stale(self) -> bool:
        """True when the data on show is older than the last failed poll."""
        return self.error is not None and self.updated_at is not None

    def stale_at(self, now: float) -> bool:
        """True when the data on show is older than the last failed poll, or older than a
        few poll intervals (a poll stuck in flight)."""
        if self.stale:
            return True
        age = self.age(now)
        return (
            age is not None
            and self.interval is not None
            and age > STALE_AFTER_INTERVALS * self.interval + 1
        )

    def health_at(self, now: float) -> Health:
        """:attr:`health`, but degraded when the data is stale by age with no error yet."""
        health = self.health
        if health is Health.OK and self.stale_at(now):
            return Health.DEGRADED
        return health

    def problem_at(self, now: float) -> str | None:
        """What is wrong, in words: the last error, or that no poll has finished lately."""
        if self.error is not None:
            return str(self.error)
        if self.stale_at(now):
            age = self.age(now) or 0.0
            return f"no poll has finished for {age:.0f}s: the server may be slow or stuck"
        return None

    def age(self, now: float) -> float | None:
        """Seconds since the last good snapshot."""
        return None if self.updated_at is None else max(0.0, now - self.updated_at)


class Store:
    """The latest good snapshot of every account, and how each account is doing."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.accounts: dict[AccountKey, AccountState] = {}

    def register(self, provider: str, account: str) -> AccountState:
        """Make an account known before its first poll (so it shows as waiting)."""
        key = (provider, account)
        if key not in self.accounts:
            self.accounts[key] = AccountState(provider, account)
        return self.accounts[key]

    def apply_snapshot(self, snapshot: Snapshot) -> ChangeSet:
        """Take a good snapshot; clears the account's error. Returns what changed."""
        state = self.register(snapshot.provider, snapshot.account)
        fresh = {r.key: r for r in snapshot.resources}
        changes = ChangeSet(state.key)
        for key, resource in fresh.items():
            old = state.resources.get(key)
            if old is None:
                changes.added.append(resource)
            elif old != resource:
                changes.changed.append(resource)
        changes.removed = [key for key in state.resources if key not in fresh]
        state.resources = fresh
        state.totals = snapshot.totals
        state.updated_at = self._clock()
        state.latency_ms = snapshot.latency_ms
        state.error = None
        state.error_at = None
        state.failing_since = None
        state.failures = 0
        return changes

    def apply_error(self, provider: str, account: str, error: Exception) -> AccountState:
        """Record a failed poll; the last good data stays."""
        state = self.register(provider, account)
        state.error = error
        state.error_at = self._clock()
        if state.failures == 0:
            state.failing_since = state.error_at
        state.failures += 1
        return state

    def resources(self) -> list[Resource]:
        """Every resource of every account, in account order."""
        return [r for state in self.accounts.values() for r in state.resources.values()]

    def get(self, key: ResourceKey) -> Resource | None:
        """A resource by its key, if any account still has it."""
        state = self.accounts.get((key[0], key[1]))
        return None if state is None else state.resources.get(key)
