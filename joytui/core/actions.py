"""The action runner: the one way a state-changing request leaves joytui (the dashboard and
``joytui action`` both use it).

- **Read-only** (``--read-only``, ``read_only = true`` globally or on the account) is checked
  here, before any client is touched, so no path can send a write.
- **Exactly once.** A resource with a request in flight refuses a second one (a second key
  press, a double confirmation); the check and the claim happen with no ``await`` between
  them. ``client.perform`` is called once and never retried. A timeout, a dropped connection
  or an unreadable answer is outcome ``unknown`` ("outcome unknown: refresh to see"), never
  "failed".
- **Pending.** After an accepted write the resource is pending (``◐ stopping…``) until a poll
  reports the state the action leads to (that account is polled at once), or until
  :attr:`ActionRunner.pending_timeout`; then the outcome is told in words. The status shown is
  always the provider's: nothing here changes a resource.
- **Audit.** Every attempt, refused ones too, is one line of the audit log
  (:mod:`joytui.core.audit`).
- **Bulk** actions run at most :attr:`ActionRunner.concurrency` at once and report per resource.

The words the front ends ask for an action with (:data:`PARAMS`, :func:`consequence`,
:func:`pending_words`) live in :mod:`joytui.core.action_catalogue`, and what the runner
reports in :mod:`joytui.core.action_reports`; both are importable from here too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from joytui.core.action_catalogue import (
    ACCOUNT_KIND,
    PARAMS,
    ParamError,
    ParamSpec,
    account_target,
    coerce_params,
    consequence,
    params_of,
    pending_words,
)
from joytui.core.action_reports import (
    ActionFinished,
    ActionReport,
    ActionStarted,
    Offer,
    Outcome,
    PendingAction,
    PendingSettled,
    RunnerEvent,
    marked_offers,
)
from joytui.core.audit import AuditLog, entry_for
from joytui.core.store import AccountKey, ResourceKey
from joytui.model import Resource, Status

if TYPE_CHECKING:
    # Only for the hints: importing this module loads no provider code (cold start).
    from joytui.core.poller import PollResult
    from joytui.core.session import Session, SessionEvent
    from joytui.providers.errors import ProviderError

_SETTLES_TO: dict[str, frozenset[Status]] = {
    **dict.fromkeys(
        ("start", "resume", "reboot", "force_reboot", "restart", "force_restart"),
        frozenset({Status.RUNNING}),
    ),
    **dict.fromkeys(
        ("shutdown", "force_shutdown", "stop", "force_stop"), frozenset({Status.STOPPED})
    ),
    **dict.fromkeys(("pause", "hibernate"), frozenset({Status.PAUSED})),
    **dict.fromkeys(("terminate", "terminate_hard"), frozenset({Status.STOPPED, Status.ERROR})),
}
"""The statuses an action leads to, where one is known."""
GRACE_POLLS = 2
"""Polls after which a resource already in the status an action leads to counts as there
(a reboot too quick for any poll to see)."""


# -- the runner ------------------------------------------------------------------------------


class ActionRunner:
    """Sends actions for one :class:`~joytui.core.session.Session` and follows them."""

    concurrency = 4
    """Most requests a bulk action has in flight at once."""
    pending_timeout = 180.0
    """Seconds after which a pending action no poll has settled is given up on."""

    def __init__(
        self,
        session: Session,
        *,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session
        self.audit = audit or AuditLog()
        self.clock = clock
        self.pending: dict[ResourceKey, PendingAction] = {}
        """Accepted actions whose effect no poll has reported yet, by resource."""
        self._in_flight: set[ResourceKey] = set()
        self._listeners: list[Callable[[RunnerEvent], None]] = []
        session.subscribe(self._on_session_event)

    # -- events --------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[RunnerEvent], None]) -> None:
        """Call ``listener`` with every :data:`RunnerEvent` (on the event loop)."""
        self._listeners.append(listener)

    def _emit(self, event: RunnerEvent) -> None:
        for listener in self._listeners:
            listener(event)

    # -- what may be done ----------------------------------------------------------------

    def read_only_reason(self, account: AccountKey) -> str | None:
        """Why actions on ``account`` are refused, or None when they are allowed."""
        if self.session.read_only:
            return "read-only mode (--read-only, or read_only = true in the config)"
        for provider, acct in self.session.config.accounts():
            if (provider, acct.name) == account and getattr(acct, "read_only", False):
                return f"{provider} {acct.name!r} is read-only (read_only = true on the account)"
        return None

    def in_flight(self, key: ResourceKey) -> bool:
        """Whether a request for ``key`` has been sent and not answered yet."""
        return key in self._in_flight

    async def offered(self, resource: Resource) -> list[Offer]:
        """The actions ``resource`` offers now (for its kind and status), each with its
        parameters and, if it cannot be taken now, why. Reads nothing from the network."""
        client = self.session.client_for((resource.provider, resource.account))
        if client is None:
            return []
        reason = self.read_only_reason((resource.provider, resource.account))
        if reason is None and resource.key in self._in_flight:
            reason = "a request for it is in flight"
        pending = self.pending.get(resource.key)
        offers = []
        for action in await client.actions(resource):
            why = reason
            if why is None and pending is not None and pending.action_id == action.id:
                why = f"already sent; waiting for the provider to report it ({pending.words})"
            offers.append(Offer(action, params_of(resource.provider, action.id), why))
        return offers

    # -- doing it ------------------------------------------------------------------------

    async def perform(
        self, resource: Resource, action_id: str, params: Mapping[str, Any] | None = None
    ) -> ActionReport:
        """Send ``action_id`` for ``resource`` once, with ``params`` (words or typed values),
        unless read-only, in flight, not valid now or badly parameterized: then nothing is
        sent. Never raises for the provider's sake; always writes the audit line."""
        raw = dict(params or {})
        key = resource.key
        label = action_id.replace("_", " ").capitalize()
        reason = self.read_only_reason((resource.provider, resource.account))
        if reason is not None:
            return self._record(resource, action_id, label, raw, Outcome.REFUSED, reason, 0.0)
        if key in self._in_flight:
            why = "a request for it is already in flight: not sent again"
            return self._record(resource, action_id, label, raw, Outcome.REFUSED, why, 0.0)
        self._in_flight.add(key)  # claimed before the first await: no second request
        try:
            return await self._send(resource, action_id, label, raw)
        finally:
            self._in_flight.discard(key)

    async def _send(
        self, resource: Resource, action_id: str, label: str, raw: dict[str, Any]
    ) -> ActionReport:
        from joytui.providers.base import mask_secrets
        from joytui.providers.errors import ProviderError

        account = (resource.provider, resource.account)
        client = self.session.client_for(account)
        if client is None:
            handle = self.session.handle_for(account)
            why = (handle.error if handle else None) or f"{resource.provider} {resource.account!r}"
            why = f"the account is not open: {why}"
            return self._record(resource, action_id, label, raw, Outcome.REFUSED, why, 0.0)
        offered = {a.id: a for a in await client.actions(resource)}
        action = offered.get(action_id)
        if action is None:
            valid = ", ".join(offered) or "none"
            status = "" if resource.kind == ACCOUNT_KIND else f" that is {resource.status.value}"
            why = f"{action_id!r} is not an action of a {resource.kind}{status} (now: {valid})"
            return self._record(resource, action_id, label, raw, Outcome.REFUSED, why, 0.0)
        label = action.label
        pending = self.pending.get(resource.key)
        if pending is not None and pending.action_id == action_id:
            why = f"{label} was already sent and is {pending.words}: not sent again"
            return self._record(resource, action_id, label, raw, Outcome.REFUSED, why, 0.0)
        try:
            typed = coerce_params(resource, action_id, raw)
        except ParamError as exc:
            return self._record(resource, action_id, label, raw, Outcome.REFUSED, str(exc), 0.0)
        self._emit(ActionStarted(resource.key, action_id, pending_words(action_id)))
        started = time.monotonic()
        try:
            result = await client.perform(resource, action_id, **typed)
        except asyncio.CancelledError:
            # Cancelled with the request out: it may have been done.
            why = "cancelled while waiting for the answer: outcome unknown: refresh to see"
            elapsed = time.monotonic() - started
            self._finish(resource, action_id, label, typed, Outcome.UNKNOWN, why, elapsed)
            raise
        except ProviderError as err:
            outcome, message = _classify(err)
        except Exception as exc:  # a surprise in the client: the request may have gone out
            outcome = Outcome.UNKNOWN
            message = (
                f"{resource.provider} {resource.account!r}: outcome unknown: refresh to see "
                f"({type(exc).__name__}: {mask_secrets(str(exc))})"
            )
        else:
            outcome = Outcome.OK if result.ok else Outcome.ERROR
            message = result.message
            if not result.ok:
                message = f"{resource.provider} {resource.account!r}: refused: {message}"
        return self._finish(
            resource, action_id, label, typed, outcome, message, time.monotonic() - started
        )

    def _finish(
        self,
        resource: Resource,
        action_id: str,
        label: str,
        params: dict[str, Any],
        outcome: Outcome,
        message: str,
        duration: float,
    ) -> ActionReport:
        report = self._record(resource, action_id, label, params, outcome, message, duration)
        if report.ok:
            self.pending[resource.key] = PendingAction(
                action_id, label, pending_words(action_id), self.clock(), resource
            )
            self.session_poll_early(resource)
        self._emit(ActionFinished(report))
        return report

    def session_poll_early(self, resource: Resource) -> None:
        """Poll ``resource``'s account now, ``resource`` first."""
        account = (resource.provider, resource.account)
        ids = () if resource.kind == ACCOUNT_KIND else (resource.id,)
        self.session.poll_early(account, ids)

    def _record(
        self,
        resource: Resource,
        action_id: str,
        label: str,
        params: Mapping[str, Any],
        outcome: Outcome,
        message: str,
        duration: float,
    ) -> ActionReport:
        from joytui.providers.base import mask_secrets

        message = mask_secrets(message)
        problem = None
        entry = entry_for(
            provider=resource.provider,
            account=resource.account,
            kind=resource.kind,
            resource_id=resource.id,
            name=resource.name,
            action=action_id,
            params=params,
            outcome=outcome.value,
            message=message,
            duration=duration,
        )
        try:
            self.audit.write(entry)
        except OSError as exc:  # the action stands; the front end says the log failed
            problem = f"the audit log {self.audit.path} could not be written: {exc.strerror}"
        return ActionReport(
            resource, action_id, label, outcome, message, duration, dict(params), problem
        )

    async def perform_many(
        self,
        resources: Sequence[Resource],
        action_id: str,
        params: Mapping[str, Any] | None = None,
    ) -> list[ActionReport]:
        """:meth:`perform` on each resource, at most :attr:`concurrency` at once; one report
        per resource, in order."""
        limit = asyncio.Semaphore(self.concurrency)

        async def one(resource: Resource) -> ActionReport:
            async with limit:
                return await self.perform(resource, action_id, params)

        return list(await asyncio.gather(*(one(r) for r in resources)))

    # -- following it ----------------------------------------------------------------------

    def _on_session_event(self, event: SessionEvent) -> None:
        from joytui.core.session import AccountPolled  # it imports this module lazily

        if isinstance(event, AccountPolled):
            self.observe(event.result)

    def observe(self, result: PollResult) -> None:
        """Settle the pending actions of the polled account that its poll shows done; give
        up on any pending too long."""
        account = result.account.key
        if result.changes is not None:
            for key, pending in list(self.pending.items()):
                if (key[0], key[1]) == account:
                    pending.polls += 1
                    self._check(key, pending, result)
        self.expire()

    def _check(self, key: ResourceKey, pending: PendingAction, result: PollResult) -> None:
        before = pending.before
        action_id = pending.action_id
        if before.kind == ACCOUNT_KIND:  # create: done once a poll shows something new
            added = result.changes.added if result.changes is not None else []
            if added or pending.polls >= GRACE_POLLS:
                names = ", ".join(repr(r.name) for r in added[:3])
                words = f"new: {names}" if names else "done; the list shows no new resource"
                self._settle(key, pending, bool(added), words, None)
            return
        now = self.session.store.get(key)
        if now is None:
            if action_id == "delete":
                self._settle(key, pending, True, "gone from the list", None)
            elif pending.polls >= GRACE_POLLS:
                self._settle(key, pending, False, "gone from the list", None)
            return
        if (now.status, now.raw_status, now.parent) != (
            before.status,
            before.raw_status,
            before.parent,
        ) or _uptime(now) < _uptime(before):  # a restart too quick to see, but for uptime
            pending.changed = True
        if now.status is Status.PENDING or action_id == "delete":
            return
        settles_to = _SETTLES_TO.get(action_id)
        state = f"now {now.status.value}" + (
            f" ({now.raw_status})" if now.raw_status and now.raw_status != now.status.value else ""
        )
        if action_id == "migrate":
            if now.parent != before.parent:
                self._settle(key, pending, True, f"moved to {now.location or now.parent}", now)
            elif pending.changed:
                where = now.location or now.parent
                self._settle(key, pending, False, f"migration ended; still on {where}", now)
            return
        if settles_to is None:  # spawn, update: done once a poll shows any change
            if now != before or pending.polls >= GRACE_POLLS:
                self._settle(key, pending, True, f"done; {state}", now)
            return
        if now.status in settles_to:
            if pending.changed or before.status not in settles_to or (pending.polls >= GRACE_POLLS):
                self._settle(key, pending, True, state, now)
        elif pending.changed:
            self._settle(key, pending, False, f"{state}, not what {pending.label} leads to", now)

    def expire(self, now: float | None = None) -> None:
        """Give up on pending actions older than :attr:`pending_timeout`."""
        now = self.clock() if now is None else now
        for key, pending in list(self.pending.items()):
            if now - pending.since > self.pending_timeout:
                minutes = self.pending_timeout / 60
                words = f"no change reported in {minutes:.0f} min: refresh to see"
                self._settle(key, pending, False, words, self.session.store.get(key))

    def _settle(
        self,
        key: ResourceKey,
        pending: PendingAction,
        ok: bool,
        words: str,
        resource: Resource | None,
    ) -> None:
        if self.pending.get(key) is pending:
            del self.pending[key]
            self._emit(PendingSettled(key, pending.action_id, pending.label, ok, words, resource))

    def pending_ids(self, account: AccountKey) -> list[str]:
        """Ids of ``account``'s resources with an action pending (polls fetch them first)."""
        return [
            k[3] for k, p in self.pending.items() if (k[0], k[1]) == account and k[2] != "account"
        ]


def _uptime(resource: Resource) -> float:
    value = resource.detail.get("uptime_seconds")
    return float(value) if isinstance(value, int | float) else float("inf")


def _classify(err: ProviderError) -> tuple[Outcome, str]:
    """A write's failure: ``unknown`` when it may have been done (no answer, an unreadable
    answer, a gateway timeout), else ``error``; the message in words, naming the account."""
    from joytui.providers.errors import (
        BadPayloadError,
        RejectedError,
        ServerError,
        TransportError,
    )

    where = f"{err.where}: " if err.where else ""
    connect = err.message.startswith(("could not connect", "TLS ", "unexpected redirect"))
    if (
        (isinstance(err, TransportError) and not connect)
        or isinstance(err, BadPayloadError)
        or (isinstance(err, ServerError) and err.status in (502, 504))
    ):
        return Outcome.UNKNOWN, f"{where}outcome unknown: refresh to see ({err.message})"
    if isinstance(err, RejectedError):
        return Outcome.ERROR, f"{where}refused: {err.message}"
    hint = err.hint
    if err.retryable:  # the taxonomy's "joytui will retry" is about reads
        hint = "writes are never retried: check the resource, then try again if need be"
    return Outcome.ERROR, f"{where}failed: {err.message}" + (f" — {hint}" if hint else "")


__all__ = [
    "ACCOUNT_KIND",
    "PARAMS",
    "ActionFinished",
    "ActionReport",
    "ActionRunner",
    "ActionStarted",
    "Offer",
    "Outcome",
    "ParamError",
    "ParamSpec",
    "PendingAction",
    "PendingSettled",
    "RunnerEvent",
    "account_target",
    "coerce_params",
    "consequence",
    "marked_offers",
    "params_of",
    "pending_words",
]
