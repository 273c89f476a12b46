"""Alerts: which of the recent changes deserve a person's attention.

:class:`Alerts` reads ``[alerts]`` from the config: it raises an alert when a resource goes
into ``error``, when an account goes down, and (if asked) when a resource disappears; at
most one per resource or account in ``min_interval_seconds``; never for an account whose
``alerts = false``. It returns :class:`Alert` objects and does no I/O: ringing the bell or
showing a notification is the front end's job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from joytui.config import AlertSettings, AlertTrigger, Config
from joytui.core.changes import Change
from joytui.core.store import AccountKey, ResourceKey
from joytui.safe_text import printable


@dataclass(frozen=True)
class Alert:
    """One alert: a short title, a message naming the resource and its account, and the
    change behind it."""

    title: str
    message: str
    change: Change
    trigger: AlertTrigger
    severity: Literal["error", "warning"]


@dataclass(frozen=True)
class AlertsRaised:
    """A session event: the alerts one poll raised (none is never sent)."""

    alerts: tuple[Alert, ...]


def trigger_of(change: Change) -> AlertTrigger | None:
    """Which alert ``change`` could raise, if any."""
    event = change.event
    if event == "down":
        return "account_down"
    if event == "gone":
        return "gone"
    if event in ("status", "new") and change.new_status == "error":
        return "error"
    return None


def _quoted(text: str) -> str:
    # repr escapes control, bidi and zero-width characters; printable() is the guarantee.
    return printable(repr(text))


def describe(change: Change, trigger: AlertTrigger) -> tuple[str, str]:
    """The title and message of an alert on ``change``, naming the resource and account the
    way error messages do (``vm 'web-01' of cockpit 'lab'``); outside text made printable."""
    account = f"{change.provider} {_quoted(change.account)}"
    if trigger == "account_down":
        return "Account down", f"{account} is down: its polls keep failing"
    what = f"{change.kind} {_quoted(change.name)}"
    if change.name != change.id:
        what += f" (id {printable(change.id)})"
    if trigger == "gone":
        return "Resource gone", f"{what} of {account} has disappeared"
    was = f"was {change.old_status}" if change.old_status else "new"
    return "Resource in error", f"{what} of {account} is in error ({was})"


class Alerts:
    """Decides which changes alert, debounced per resource and per account."""

    def __init__(
        self,
        settings: AlertSettings,
        *,
        silenced: Iterable[AccountKey] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.silenced = set(silenced)
        """Accounts (provider, name) that never alert (``alerts = false``)."""
        self._clock = clock
        self._last: dict[ResourceKey | AccountKey, float] = {}

    @classmethod
    def for_config(cls, config: Config, *, clock: Callable[[], float] = time.time) -> Alerts:
        """The alerts of ``config``: its ``[alerts]`` table and each account's ``alerts``."""
        silenced = [(p, a.name) for p, a in config.accounts() if not a.alerts]
        return cls(config.alerts, silenced=silenced, clock=clock)

    def decide(self, changes: Iterable[Change]) -> list[Alert]:
        """The alerts ``changes`` raise now, in order; remembers them for the debounce."""
        wanted = set(self.settings.on)
        alerts = []
        for change in changes:
            trigger = trigger_of(change)
            if trigger is None or trigger not in wanted:
                continue
            if (change.provider, change.account) in self.silenced:
                continue
            now = self._clock()
            last = self._last.get(change.key)
            if last is not None and now - last < self.settings.min_interval_seconds:
                continue  # flapping: one alert per interval is enough to look
            self._last[change.key] = now
            title, message = describe(change, trigger)
            severity: Literal["error", "warning"] = "warning" if trigger == "gone" else "error"
            alerts.append(Alert(title, message, change, trigger, severity))
        return alerts


def sample_alert(config: Config, now: float | None = None) -> Alert:
    """The alert ``joytui alerts test`` shows: a made-up resource of the first account
    (or of a made-up one) going from running to error, regardless of debounce."""
    accounts = config.accounts()
    provider, account = (accounts[0][0], accounts[0][1].name) if accounts else ("joy", "example")
    change = Change(
        now if now is not None else time.time(),
        provider,
        account,
        "test",
        "alert-test",
        "alert-test",
        "running",
        "error",
    )
    title, message = describe(change, "error")
    return Alert(f"{title} (test)", message, change, "error", "error")
