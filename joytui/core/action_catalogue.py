"""What each action takes and does, in words: the parameters of the actions that take any
(:data:`PARAMS`) and how words from ``--param`` or a form become them (:func:`coerce_params`),
what an action does (:func:`consequence`) and what it is called while under way
(:func:`pending_words`). The front ends ask for an action with these; the runner
(:mod:`joytui.core.actions`) checks with them before it sends anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from joytui.model import Resource, Status

ACCOUNT_KIND = "account"
"""The kind of the pseudo-resource account-level actions (create) are offered on."""


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


__all__ = [
    "ACCOUNT_KIND",
    "PARAMS",
    "ParamError",
    "ParamSpec",
    "account_target",
    "coerce_params",
    "consequence",
    "params_of",
    "pending_words",
]
