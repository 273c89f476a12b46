"""The Session: everything a front end (the dashboard, ``list``, the exporter) needs to watch
a fleet. It opens the accounts from the config, owns the store and the poller, hands the
providers what the screen is looking at, and tells its listeners what happened.

Front ends never compose accounts, clients or pollers themselves; they ask the Session.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from joytui.config import Config
from joytui.core.alerts import Alerts, AlertsRaised
from joytui.core.changes import RecentChanges, polled_at
from joytui.core.detail import DetailWatch
from joytui.core.history import History
from joytui.core.poller import Poller, PollResult, PollTarget
from joytui.core.store import AccountKey, AccountState, Store
from joytui.model import MetricSample, PollHints, Resource, Snapshot

if TYPE_CHECKING:  # the providers (httpx, aiohttp) load in open(), after the first frame
    from joytui.core.accounts import AccountHandle
    from joytui.providers.base import ProviderClient


@dataclass(frozen=True)
class AccountsOpened:
    """Every account's secrets resolved (or failed) and its client opened."""

    handles: tuple[AccountHandle, ...]


@dataclass(frozen=True)
class AccountPolled:
    """One poll of one account finished, well or badly."""

    result: PollResult


FLEET_POINTS = 720
"""Fleet readings kept (one per poll of any account)."""

SessionEvent = AccountsOpened | AccountPolled | AlertsRaised
Listener = Callable[[SessionEvent], None]


class Session:
    """The accounts of one config, their store and their poller.

    ``open()`` resolves secrets off the event loop (a ``{command}`` secret is a subprocess the
    loop waits on); ``run()`` polls until ``stop()``; ``aclose()`` closes every client.
    """

    def __init__(
        self,
        config: Config,
        *,
        provider: str | None = None,
        account: str | None = None,
        read_only: bool | None = None,
        clock: Callable[[], float] = time.time,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.read_only = config.read_only if read_only is None else read_only
        self.store = Store(clock=clock)
        self.handles: list[AccountHandle] = []
        self.poller: Poller | None = None
        self._only = (provider, account)
        self._client_options = client_options or {}
        self._listeners: list[Listener] = []
        self._visible: dict[AccountKey, tuple[str, ...]] = {}
        self._opened = asyncio.Event()
        self.changes = RecentChanges()
        """The last status transitions of every account, newest first (the overview)."""
        self.alerts = Alerts.for_config(config, clock=clock)
        self.history = History(points=config.detail.history_points)
        self.fleet: deque[tuple[float, int, float]] = deque(maxlen=FLEET_POINTS)
        """After each poll: (time, resources in error, total CPU % in use) across accounts."""
        self._cpu: dict[tuple[str, str, str, str], float] = {}
        self._cpu_total = 0.0
        """Readings per resource, from polls and from open details' polls and streams."""

    # -- events ------------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every :data:`SessionEvent` (on the event loop)."""
        self._listeners.append(listener)

    def _emit(self, event: SessionEvent) -> None:
        for listener in self._listeners:
            listener(event)

    # -- accounts ----------------------------------------------------------------------------

    async def open(self) -> None:
        """Open every (matching) account; an account that fails to open shows as down."""
        from joytui.core.accounts import AccountSetupError, open_accounts

        provider, account = self._only
        self.handles = await open_accounts(
            self.config, provider=provider, account=account, **self._client_options
        )
        targets = []
        for handle in self.handles:
            self.store.register(handle.provider, handle.name)
            if handle.client is None:
                error = AccountSetupError(handle.error or f"{handle.label}: not set up")
                self.store.apply_error(handle.provider, handle.name, error)
                continue
            self.store.accounts[handle.key].interval = handle.refresh_seconds
            targets.append(
                PollTarget(
                    handle.provider,
                    handle.name,
                    handle.refresh_seconds,
                    self._fetcher(handle.client, handle.key),
                    probe=handle.client.check,
                )
            )
        self.poller = Poller(self.store, targets, on_result=self._on_result)
        self._opened.set()
        self._emit(AccountsOpened(tuple(self.handles)))

    def register_accounts(self) -> None:
        """Make every configured account known to the store before it opens (shown waiting)."""
        provider, account = self._only
        for prov, acct in self.config.accounts():
            if (not provider or prov == provider) and (not account or acct.name == account):
                self.store.register(prov, acct.name)

    def _fetcher(
        self, client: ProviderClient, key: AccountKey
    ) -> Callable[[], Awaitable[Snapshot]]:
        async def fetch() -> Snapshot:
            return await client.snapshot(PollHints(priority_ids=self._visible.get(key, ())))

        return fetch

    def _on_result(self, result: PollResult) -> None:
        changes = result.changes
        if changes is not None:
            # What a poll says of CPU and memory is history too, for the resources whose
            # detail has been open (so reopening shows the last minutes); not for the whole
            # fleet, which would hold 900 readings of each of 50,000 machines.
            now = result.account.updated_at or 0.0
            for resource in changes.changed:
                if resource.key in self.history and (
                    resource.cpu_percent is not None or resource.memory_used is not None
                ):
                    self.history.add(resource.key, _reading(resource, now))
        self._track_fleet(result)
        self._emit(AccountPolled(result))
        if raised := self.alerts.decide(self.changes.observe(result, polled_at(result))):
            self._emit(AlertsRaised(tuple(raised)))

    def _track_fleet(self, result: PollResult) -> None:
        # Kept up to date from what each poll changed: no walk over the fleet per poll.
        changes = result.changes
        if changes is not None:
            for resource in (*changes.added, *changes.changed):
                cpu = resource.cpu_percent if resource.status.value == "running" else None
                old = self._cpu.pop(resource.key, 0.0)
                self._cpu_total -= old
                if cpu:
                    self._cpu[resource.key] = cpu
                    self._cpu_total += cpu
            for key in changes.removed:
                self._cpu_total -= self._cpu.pop(key, 0.0)
        errors = sum(
            by_status.get("error", 0)
            for state in self.store.accounts.values()
            if state.totals is not None
            for by_status in state.totals.counts.values()
        )
        when = result.account.updated_at or result.account.error_at or 0.0
        if self.fleet and self.fleet[-1][0] >= when:
            self.fleet.pop()  # one reading per instant: the latest of the polls that ended
        self.fleet.append((when, errors, max(0.0, self._cpu_total)))

    def watch(self, resource: Resource, on_update: Callable[[], None]) -> DetailWatch | None:
        """Start a :class:`DetailWatch` on ``resource`` (None if its account has no client).
        The caller must ``await watch.aclose()`` when the detail closes."""
        client = self.client_for((resource.provider, resource.account))
        if client is None:
            return None
        state = self.store.accounts.get((resource.provider, resource.account))
        if state is not None and state.updated_at is not None and resource.key not in self.history:
            if resource.cpu_percent is not None or resource.memory_used is not None:
                # The poll's reading starts the series; polls feed it from now on.
                self.history.add(resource.key, _reading(resource, state.updated_at))
        watch = DetailWatch(
            client,
            resource,
            self.history,
            poll_seconds=self.config.detail.poll_seconds,
            on_update=on_update,
        )
        watch.start()
        return watch

    def log_stream(self, resource: Resource) -> Any:
        """``resource``'s live log stream, or None where the provider offers none."""
        client = self.client_for((resource.provider, resource.account))
        return None if client is None else client.log_stream(resource)

    def handle_for(self, key: AccountKey) -> AccountHandle | None:
        """The handle of account ``key`` = (provider, name)."""
        return next((h for h in self.handles if h.key == key), None)

    def client_for(self, key: AccountKey) -> ProviderClient | None:
        """The open client of account ``key``, or None if it has none (or is not known)."""
        handle = self.handle_for(key)
        return None if handle is None else handle.client

    @property
    def accounts(self) -> list[AccountState]:
        """Every account's state, in config order."""
        return list(self.store.accounts.values())

    # -- polling -----------------------------------------------------------------------------

    def set_visible(self, key: AccountKey, ids: Sequence[str]) -> None:
        """The ids of ``key``'s resources on screen now: its next poll fetches them first."""
        self._visible[key] = tuple(ids)

    async def run(self) -> None:
        """Poll every account until :meth:`stop` (opens the accounts first if need be)."""
        if self.poller is None:
            await self.open()
        assert self.poller is not None
        if self.poller.targets:
            await self.poller.run()

    def refresh_now(self, key: AccountKey | None = None) -> bool:
        """Poll ``key`` (or every account) now; False before the accounts are open."""
        if self.poller is None:
            return False
        self.poller.refresh_now(key)
        return True

    def stop(self) -> None:
        """Let every poll loop finish its current poll and end."""
        if self.poller is not None:
            self.poller.stop()

    async def poll_all_once(self) -> list[tuple[AccountHandle, AccountState]]:
        """One complete poll of every account at once (``list``, ``totals``, ``config check``):
        each account's state afterwards, its error set if the poll failed."""
        if self.poller is None:
            await self.open()
        assert self.poller is not None

        async def complete(handle: AccountHandle) -> None:
            if handle.client is None:
                return  # its setup error is already in the store
            client = handle.client
            target = PollTarget(
                handle.provider, handle.name, handle.refresh_seconds, lambda: client.snapshot(None)
            )
            assert self.poller is not None
            await self.poller.poll_once(target)

        await asyncio.gather(*(complete(h) for h in self.handles))
        return [(h, self.store.accounts[h.key]) for h in self.handles]

    async def aclose(self) -> None:
        """Stop polling and close every client."""
        self.stop()
        from joytui.core.accounts import close_accounts

        await close_accounts(self.handles)

    # -- actions (joytui.core.actions) -------------------------------------------------------

    @property
    def actions(self) -> Any:
        """The :class:`~joytui.core.actions.ActionRunner` of this session, made on first use:
        every state-changing request goes through it (read-only, exactly once, audit log)."""
        runner = self.__dict__.get("_action_runner")
        if runner is None:
            from joytui.core.actions import ActionRunner  # it imports this module

            runner = self.__dict__["_action_runner"] = ActionRunner(self)
        return runner

    def poll_early(self, key: AccountKey, ids: Sequence[str] = ()) -> bool:
        """Poll ``key`` now (after an action), its resources ``ids`` fetched first; False
        before the accounts are open."""
        if ids:
            self._visible[key] = tuple(dict.fromkeys((*ids, *self._visible.get(key, ()))))
        return self.refresh_now(key)


def _reading(resource: Resource, at: float) -> MetricSample:
    return MetricSample(
        provider=resource.provider,
        account=resource.account,
        resource_id=resource.id,
        time=at,
        cpu_percent=resource.cpu_percent,
        memory_used=resource.memory_used,
        memory_total=resource.memory_total,
    )
