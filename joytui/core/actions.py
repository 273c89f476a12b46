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

It also holds what the front ends need to ask for an action: the parameters each takes
(:data:`PARAMS`), what it does in words (:func:`consequence`), and what it is called while
under way (:func:`pending_words`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from joytui.core.audit import AuditLog, entry_for
from joytui.core.session import AccountPolled, Session, SessionEvent
from joytui.core.store import AccountKey, ResourceKey
from joytui.model import Action, Resource, Status
from joytui.providers.base import mask_secrets
from joytui.providers.errors import (
    BadPayloadError,
    ProviderError,
    RejectedError,
    ServerError,
    TransportError,
)

if TYPE_CHECKING:
    from joytui.core.poller import PollResult

ACCOUNT_KIND = "account"
"""The kind of the pseudo-resource account-level actions (create) are offered on."""


class Outcome(StrEnum):
    """How an attempted action ended (the audit log's ``outcome``)."""

    OK = "ok"
    REFUSED = "refused"
    """joytui sent nothing: read-only, already in flight, not valid now, bad parameters."""
    ERROR = "error"
    """The provider refused or failed."""
    UNKNOWN = "unknown"
    """No answer (a timeout, a dropped connection): it may have been done."""


# -- what each action takes and does, in words ----------------------------------------------


@dataclass(frozen=True)
class ParamSpec:
    """One parameter an action takes (a form field, a ``--param KEY=VALUE``)."""

    name: str
    label: str
    kind: Literal["text", "bool", "number", "choice", "host", "env"] = "text"
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""


PARAMS: dict[tuple[str, str], tuple[ParamSpec, ...]] = {
    ("cockpit", "migrate"): (
        ParamSpec(
            "destination_host_id",
            "Destination host",
            "host",
            required=True,
            help="the connected host to move the VM to (its id)",
        ),
        ParamSpec("live", "Live (keep it running)", "bool", help="default: if it is running"),
        ParamSpec("persistent", "Save the VM's config on the target", "bool", default=True),
        ParamSpec("undefine_source", "Remove it from the old host", "bool", default=True),
        ParamSpec(
            "copy_storage",
            "Copy storage",
            "choice",
            default="none",
            choices=("none", "inc", "all"),
            help="none when both hosts share network storage",
        ),
    ),
    ("jamsocket", "spawn"): (
        ParamSpec("key", "Key", help="reuse the backend holding this key, or spawn one with it"),
        ParamSpec("tag", "Image tag", help="default: the service's image tag"),
        ParamSpec("env", "Env vars", "env", help="NAME=VALUE words, space separated"),
        ParamSpec("lifetime_limit_seconds", "Lifetime limit (s)", "number"),
        ParamSpec("max_idle_seconds", "Max idle (s)", "number", help="default 300"),
    ),
    ("jamsocket", "update_image"): (
        ParamSpec("image_tag", "Image tag", required=True, help="a tag or an image digest"),
    ),
    ("jamsocket", "create_service"): (
        ParamSpec("name", "Service name", required=True, help="lowercase letters, digits, -"),
    ),
    ("instances", "create"): (
        ParamSpec("name", "Name", help="default: one the API picks"),
        ParamSpec("region", "Region", help="default: the API's first region"),
    ),
}
"""The parameters of the actions that take any, by (provider, action id)."""

_PENDING_WORDS = {
    "start": "starting",
    "shutdown": "stopping",
    "force_shutdown": "stopping",
    "stop": "stopping",
    "force_stop": "stopping",
    "reboot": "rebooting",
    "force_reboot": "resetting",
    "restart": "restarting",
    "force_restart": "resetting",
    "pause": "pausing",
    "hibernate": "sleeping",
    "resume": "resuming",
    "migrate": "migrating",
    "terminate": "stopping",
    "terminate_hard": "killing",
    "spawn": "spawning",
    "update_image": "updating",
    "delete": "deleting",
    "create": "creating",
    "create_service": "creating",
}

_CONSEQUENCES = {
    "start": "Powers it on.",
    "shutdown": "Asks the guest to shut down cleanly; it stops when the guest is done.",
    "force_shutdown": "Cuts the power at once: equivalent to pulling the power cord. "
    "Anything not written to disk is lost.",
    "reboot": "Asks the guest to restart cleanly.",
    "force_reboot": "Resets it at once: equivalent to pressing the reset button. "
    "Anything not written to disk is lost.",
    "pause": "Suspends it in memory; resume carries on where it was.",
    "hibernate": "Saves its memory to disk and stops it; resume carries on where it was.",
    "resume": "Carries on from where it was paused or hibernated.",
    "stop": "Asks the guest to shut down cleanly.",
    "force_stop": "Stops it at once (unplugs the power): equivalent to pulling the power cord. "
    "Anything not written to disk is lost.",
    "restart": "Asks the guest to restart cleanly.",
    "force_restart": "Resets it at once: equivalent to pressing the reset button. "
    "Anything not written to disk is lost.",
    "migrate": "Moves it to another host; a live migration keeps it running.",
    "terminate": "Sends the backend SIGTERM so it can finish and exit.",
    "terminate_hard": "Kills the backend's container at once, with no SIGTERM: "
    "equivalent to pulling the power cord. Its connections drop and unsaved state is lost.",
    "spawn": "Starts a new backend (billed while it runs), or returns the one holding the key.",
    "update_image": "New backends spawn with this image; running ones are not touched.",
    "create": "Creates a new instance (billed while it exists).",
    "create_service": "Creates a new, empty service.",
}
_DELETE_WORDS = {
    "service": "Deletes the service for good and terminates its running backends. "
    "It cannot be undone.",
    "instance": "Deletes the instance and everything on it for good. It cannot be undone.",
}


def pending_words(action_id: str) -> str:
    """What a resource is doing while ``action_id`` is under way: ``stopping…``."""
    return f"{_PENDING_WORDS.get(action_id, 'working')}…"


def consequence(action_id: str, kind: str) -> str:
    """What ``action_id`` does to a ``kind``, in words a person can weigh."""
    if action_id == "delete":
        return _DELETE_WORDS.get(kind, "Deletes it for good. It cannot be undone.")
    return _CONSEQUENCES.get(action_id, "Changes its state.")


def params_of(provider: str, action_id: str) -> tuple[ParamSpec, ...]:
    """The parameters ``action_id`` of ``provider`` takes (none for most)."""
    return PARAMS.get((provider, action_id), ())


def account_target(provider: str, account: str) -> Resource:
    """The pseudo-resource an account's own actions (create) are asked of and sent to."""
    return Resource(
        provider=provider,
        account=account,
        kind=ACCOUNT_KIND,
        id=account,
        name=account,
        status=Status.UNKNOWN,
    )


class ParamError(ValueError):
    """Parameters that do not fit the action (refused before anything is sent)."""


_TRUE = ("true", "yes", "on", "1", "y")
_FALSE = ("false", "no", "off", "0", "n")


def coerce_params(resource: Resource, action_id: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` (words from ``--param`` or a form) as the typed parameters ``action_id`` takes,
    with defaults filled in. Raises :class:`ParamError` naming the problem."""
    specs = {s.name: s for s in params_of(resource.provider, action_id)}
    unknown = sorted(set(raw) - set(specs))
    if unknown:
        takes = ", ".join(specs) or "no parameters"
        raise ParamError(f"{action_id} takes {takes}; not {', '.join(unknown)}")
    typed: dict[str, Any] = {}
    for name, spec in specs.items():
        value = raw.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "" or value == []:
            if spec.required:
                raise ParamError(f"{action_id} needs {name} ({spec.help or spec.label})")
            default = _default(resource, action_id, spec)
            if default is not None:
                typed[name] = default
            continue
        typed[name] = _coerce(action_id, spec, value)
    return typed


def _default(resource: Resource, action_id: str, spec: ParamSpec) -> Any:
    if (action_id, spec.name) == ("migrate", "live"):
        return resource.status is Status.RUNNING  # only a running VM migrates live
    return spec.default


def _coerce(action_id: str, spec: ParamSpec, value: Any) -> Any:
    where = f"{action_id} {spec.name}"
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value
        word = str(value).lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ParamError(f"{where}: expected true or false, not {value!r}")
    if spec.kind == "number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ParamError(f"{where}: expected a number, not {value!r}") from None
        if number <= 0:
            raise ParamError(f"{where}: must be more than 0")
        return int(number) if number.is_integer() else number
    if spec.kind == "choice" and str(value) not in spec.choices:
        raise ParamError(f"{where}: expected one of {', '.join(spec.choices)}, not {value!r}")
    if spec.kind == "env":
        words = value.split() if isinstance(value, str) else [str(v) for v in value]
        for word in words:
            name, eq, _ = word.partition("=")
            if not eq or not name:
                raise ParamError(f"{where}: expected NAME=VALUE words, not {name!r}")
        return " ".join(words)
    return value if isinstance(value, str) else str(value)


# -- what the runner reports -----------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """An action a resource offers now, and why it cannot be taken, if it cannot."""

    action: Action
    params: tuple[ParamSpec, ...] = ()
    disabled: str | None = None
    """Why it is refused now (read-only, a request in flight), or None."""


@dataclass(frozen=True)
class ActionReport:
    """What became of one attempted action on one resource."""

    resource: Resource
    action_id: str
    label: str
    outcome: Outcome
    message: str
    """The provider's answer, or why nothing was sent, in words."""
    duration: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    audit_problem: str | None = None
    """Why the audit line could not be written, if it could not."""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def sent(self) -> bool:
        """Whether a request went out (refused ones never do)."""
        return self.outcome is not Outcome.REFUSED

    def words(self) -> str:
        """One line: ``Shut down 'web-1' (joy 'london'): graceful shutdown accepted``."""
        r = self.resource
        what = f"{self.label} {r.name!r}" if r.kind != ACCOUNT_KIND else self.label
        return f"{what} ({r.provider} {r.account!r}): {self.message}"


@dataclass
class PendingAction:
    """An accepted write whose effect no poll has reported yet."""

    action_id: str
    label: str
    words: str
    """``stopping…``: what the row shows meanwhile."""
    since: float
    before: Resource
    polls: int = 0
    """Good polls of its account since it was accepted."""
    changed: bool = False
    """Whether a poll has shown the resource other than it was before."""


@dataclass(frozen=True)
class ActionStarted:
    """A request for ``key`` is about to be sent."""

    key: ResourceKey
    action_id: str
    words: str


@dataclass(frozen=True)
class ActionFinished:
    """The provider answered (or did not): ``report`` says how."""

    report: ActionReport


@dataclass(frozen=True)
class PendingSettled:
    """A poll reported what an accepted action led to (or it took too long)."""

    key: ResourceKey
    action_id: str
    label: str
    ok: bool
    words: str
    """The outcome in words: ``now stopped``, ``gone``, ``no change reported in 3 min…``."""
    resource: Resource | None


RunnerEvent = ActionStarted | ActionFinished | PendingSettled

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


def marked_offers(offers: Iterable[list[Offer]]) -> list[Offer]:
    """The actions every one of several resources offers (a bulk action), in the first one's
    order; disabled if any is disabled; only those without parameters."""
    lists = list(offers)
    if not lists:
        return []
    common = [o for o in lists[0] if not o.params]
    for other in lists[1:]:
        ids = {o.action.id: o for o in other}
        kept = []
        for offer in common:
            match = ids.get(offer.action.id)
            if match is not None:
                kept.append(offer if offer.disabled or not match.disabled else match)
        common = kept
    return common


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
