"""Recent changes: what happened to the fleet lately, newest first.

Fed one :class:`~joytui.core.poller.PollResult` at a time, :class:`RecentChanges` turns a
poll's :class:`~joytui.core.store.ChangeSet` into status transitions (``running`` ->
``error``), resources that appeared (``new``) or disappeared (``gone``), and an account's
own transitions (``down``, ``recovered``). The cost of a poll follows what it changed, not
the size of the fleet. No I/O, no Textual.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from joytui.core.poller import PollResult
from joytui.core.store import AccountKey, Health, ResourceKey

RECENT_LIMIT = 200
"""Changes kept; older ones are dropped."""

ACCOUNT_KIND = "account"
"""The ``kind`` of a change that is about an account, not a resource."""

GONE = "gone"
"""The ``new_status`` of a resource that disappeared."""

ChangeEvent = Literal["status", "new", "gone", "down", "recovered"]


@dataclass(frozen=True)
class Change:
    """One thing that changed: a resource's status, a resource appearing or going, or an
    account going down or recovering.

    For an account, ``kind`` is ``"account"``, ``id`` and ``name`` are the account's name
    and the statuses are its health (``ok``, ``degraded``, ``down``, ``waiting``). A new
    resource has ``old_status`` None; a gone one has ``new_status`` ``"gone"``.
    """

    time: float
    provider: str
    account: str
    kind: str
    id: str
    name: str
    old_status: str | None
    new_status: str

    @property
    def event(self) -> ChangeEvent:
        """What happened: ``status``, ``new``, ``gone``, ``down`` or ``recovered``."""
        if self.kind == ACCOUNT_KIND:
            return "down" if self.new_status == Health.DOWN else "recovered"
        if self.new_status == GONE:
            return "gone"
        return "new" if self.old_status is None else "status"

    @property
    def key(self) -> ResourceKey | AccountKey:
        """The resource's key, or the account's for an account change."""
        if self.kind == ACCOUNT_KIND:
            return (self.provider, self.account)
        return (self.provider, self.account, self.kind, self.id)


def polled_at(result: PollResult) -> float:
    """When ``result``'s poll was recorded, by the store's clock (its data time if it
    succeeded, its error time if it failed)."""
    state = result.account
    stamp = state.updated_at if result.changes is not None else state.error_at
    return stamp if stamp is not None else 0.0


class RecentChanges:
    """The last :data:`RECENT_LIMIT` changes, newest first.

    It remembers the status and name of every resource it has seen (the store keeps only the
    new state), and each account's health, so it can tell what a poll changed.
    """

    def __init__(self, limit: int = RECENT_LIMIT) -> None:
        self._changes: deque[Change] = deque(maxlen=limit)
        self._known: dict[ResourceKey, tuple[str, str]] = {}
        """Per resource seen: (status, name)."""
        self._seeded: set[AccountKey] = set()
        self._health: dict[AccountKey, Health] = {}

    def __iter__(self) -> Iterator[Change]:
        """The changes, newest first."""
        return iter(self._changes)

    def __len__(self) -> int:
        return len(self._changes)

    @property
    def changes(self) -> list[Change]:
        """The changes, newest first."""
        return list(self._changes)

    def observe(self, result: PollResult, now: float) -> list[Change]:
        """Record what the poll ``result`` changed at time ``now``; returns the new changes
        (in the order they happened), which are also kept, newest first."""
        state = result.account
        key = state.key
        fresh: list[Change] = []
        changes = result.changes
        if changes is not None:
            if key in self._seeded:
                fresh.extend(self._resource_changes(result, now))
            else:
                # The first good poll is the starting point, not 200 'new' resources.
                self._seeded.add(key)
                for resource in changes.added:
                    self._known[resource.key] = (resource.status.value, resource.name)
        health = state.health
        before = self._health.get(key)
        self._health[key] = health
        if health is Health.DOWN and before is not Health.DOWN:
            fresh.append(self._account_change(result, now, before, health))
        elif before is Health.DOWN and health is Health.OK:
            fresh.append(self._account_change(result, now, before, health))
        self._changes.extendleft(fresh)
        return fresh

    def _resource_changes(self, result: PollResult, now: float) -> list[Change]:
        changes = result.changes
        assert changes is not None
        fresh: list[Change] = []
        for resource in changes.added:
            status = resource.status.value
            self._known[resource.key] = (status, resource.name)
            fresh.append(_change(now, resource.key, resource.name, None, status))
        for resource in changes.changed:
            status = resource.status.value
            old = self._known.get(resource.key)
            self._known[resource.key] = (status, resource.name)
            # A status learned for the first time (Joy's "unknown" until machine_info comes)
            # is news of the fleet, not a change of it.
            if old is not None and old[0] != status and old[0] != "unknown":
                fresh.append(_change(now, resource.key, resource.name, old[0], status))
        for gone in changes.removed:
            old = self._known.pop(gone, None)
            status, name = old if old is not None else (None, gone[3])
            fresh.append(_change(now, gone, name, status, GONE))
        return fresh

    @staticmethod
    def _account_change(
        result: PollResult, now: float, before: Health | None, after: Health
    ) -> Change:
        provider, account = result.account.key
        old = before.value if before is not None else None
        return Change(now, provider, account, ACCOUNT_KIND, account, account, old, after.value)


def _change(
    now: float, key: ResourceKey, name: str, old_status: str | None, new_status: str
) -> Change:
    provider, account, kind, resource_id = key
    return Change(now, provider, account, kind, resource_id, name, old_status, new_status)
