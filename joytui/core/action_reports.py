"""What the action runner (:mod:`joytui.core.actions`) reports: how an attempt ended
(:class:`Outcome`, :class:`ActionReport`), what a resource offers now (:class:`Offer`,
:func:`marked_offers` for several at once), an accepted write awaiting its effect
(:class:`PendingAction`) and the events front ends follow (:data:`RunnerEvent`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from joytui.core.action_catalogue import ACCOUNT_KIND, ParamSpec
from joytui.core.store import ResourceKey
from joytui.model import Action, Resource


class Outcome(StrEnum):
    """How an attempted action ended (the audit log's ``outcome``)."""

    OK = "ok"
    REFUSED = "refused"
    """joytui sent nothing: read-only, already in flight, not valid now, bad parameters."""
    ERROR = "error"
    """The provider refused or failed."""
    UNKNOWN = "unknown"
    """No answer (a timeout, a dropped connection): it may have been done."""


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
    "ActionFinished",
    "ActionReport",
    "ActionStarted",
    "Offer",
    "Outcome",
    "PendingAction",
    "PendingSettled",
    "RunnerEvent",
    "marked_offers",
]
