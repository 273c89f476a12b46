"""Joy's wire models and pure readers: the tolerant pydantic models of the ``/api/connect``
answers, the readers the fuzz tests drive, and the facts kept of each machine (no I/O)."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from joytui.model import Scalar, Status
from joytui.providers.errors import (
    AuthError,
    BadPayloadError,
    NotFoundError,
    ProviderError,
    RejectedError,
    ServerError,
)
from joytui.providers.wire import (
    Bool,
    Ident,
    Int,
    Num,
    Text,
    Timestamp,
    WireModel,
    decode_json,
    map_status,
    parse_model,
    percent,
    to_float,
)

PATH = "/api/connect/"
GiB = 2**30
FIRST_POLL_INFOS = 200
"""machine_info calls in the first repeating poll: a screenful and more, before anything is
visible to put first. Also the most a later poll spends on the rotation."""
ROTATION_INFOS = 8
"""machine_info calls per repeating poll beyond the priority machines, at least."""
CYCLE_POLLS = 60
"""A big fleet's rotation is sized to visit every machine within about this many polls."""
CATCH_UP_POLLS = 3
"""More machines without a status than the rotation reaches in this many polls: catch up."""
CATCH_UP_SECONDS = 2.0
"""About how long a catch-up poll may spend on machine_info (at the measured rate)."""
CHUNK = 2000
"""Machines parsed or adapted between two yields to the event loop."""

POWER_STATES: dict[str, tuple[str, bool]] = {
    "start": ("Start", False),
    "shutdown": ("Shut down", False),
    "force_shutdown": ("Force shutdown", True),
    "reboot": ("Reboot", False),
    "force_reboot": ("Force reboot", True),
    "pause": ("Pause", False),
    "hibernate": ("Hibernate", False),
    "resume": ("Resume", False),
}
"""machine_state -> (label, destructive): the eight states change_machine_state accepts."""
POWER_WORDS = {
    "machine_already_started": "power on accepted",
    "shutdown_success": "graceful shutdown accepted",
    "stopped_successfully": "hard stop accepted",
    "reboot_success": "graceful reboot accepted",
    "power_reset_success": "hard reset accepted",
    "machine_paused": "suspend accepted",
    "machine_hibernated": "hibernate accepted",
    "machine_already_resumed": "resume accepted",
}
"""The spec's success value of each state, in words."""
POWER_FITS: dict[Status, tuple[str, ...]] = {
    Status.RUNNING: ("shutdown", "force_shutdown", "reboot", "force_reboot", "pause", "hibernate"),
    Status.STOPPED: ("start",),
    Status.PAUSED: ("resume", "shutdown", "force_shutdown"),
    Status.ERROR: ("start", "shutdown", "force_shutdown", "reboot", "force_reboot"),
    Status.PENDING: ("force_shutdown", "force_reboot"),
}
"""The states offered per status (an unknown status offers all eight)."""

STATUS = {
    "running": Status.RUNNING,
    "paused": Status.PAUSED,
    "suspended": Status.PAUSED,
    "hibernated": Status.PAUSED,
    "stopped": Status.STOPPED,
    "shutoff": Status.STOPPED,
    "error": Status.ERROR,
    "internal-error": Status.ERROR,
    "io-error": Status.ERROR,
    "guest-panicked": Status.ERROR,
}
PENDING = frozenset(
    {
        "starting",
        "stopping",
        "rebooting",
        "suspending",
        "resuming",
        "prelaunch",
        "inmigrate",
        "postmigrate",
        "finish-migrate",
        "restore-vm",
        "save-vm",
        "suspend",
        "migrating",
        "shutdown",
    }
)
PENDING_SUFFIXES = ("ing",)


# -- tolerant readers of Joy's own shapes -------------------------------------------------------


def to_amount(value: Any) -> float | None:
    """A money amount: ``932.91``, ``"932.91"``, ``"$ 932.91"``, ``"1,204.50"``."""
    if isinstance(value, str):
        value = re.sub(r"[^\d.\-]", "", value) or None
    return to_float(value)


def mask_secret(value: str | None) -> str | None:
    """Keep only the last 4 characters of a credential (all masked when it is short)."""
    if value is None:
        return None
    if len(value) <= 8:
        return "****"
    return "****" + value[-4:]


Amount = Annotated[float | None, BeforeValidator(to_amount)]
Masked = Annotated[Text, AfterValidator(mask_secret)]


# -- wire models --------------------------------------------------------------------------------


class Envelope(WireModel):
    """What every answer has: ``success`` (bool or "true"/"false"), and on failure ``error``
    and maybe ``message``."""

    success: Bool = None
    error: Text = None
    message: Text = None


class DashboardInfo(WireModel):
    """``type=dashboardinfo``: wallet and counts."""

    amount: Amount = None
    instances: Int = None
    iram: Int = None
    icore: Int = None
    hostings: Int = None
    databases: Int = None
    dns_domains: Int = None
    cdn_domains: Int = None
    total: Int = None

    def figures(self) -> dict[str, Scalar]:
        """The non-null figures, for :class:`Totals`."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class ApiTokenInfo(WireModel):
    """``account_info.api_token``; the token and key are masked as they are read."""

    id: Int = None
    api_token: Masked = None
    api_key: Masked = None
    timestamp: Text = None
    api_date: Text = None
    api_reg_ip: Text = None
    status: Text = None


class AccountInfo(WireModel):
    """``type=account_info``: the profile (credentials masked)."""

    amount: Text = None
    email: Text = None
    verify: Bool = None
    ip: Text = None
    time: Timestamp = None
    twofa: Bool = None
    username: Text = None
    full_name: Text = None
    gender: Int = None
    profile_pic: Text = None
    api_token: ApiTokenInfo | None = None

    @property
    def amount_value(self) -> float | None:
        """``amount`` as a number (``"$ 932.91"`` -> 932.91), or None if unreadable."""
        try:
            return to_amount(self.amount)
        except ValueError:
            return None


class MachineListItem(WireModel):
    """One machine of ``type=machine_list`` (no state here)."""

    id: Int = None
    machine: Text = None
    machine_node: Text = None
    ip: Text = None
    platform: Text = None
    price: Num = None
    extime: Text = None
    expire: Text = None
    ram: Num = None
    core: Int = None
    storage: Num = None
    ihash: Ident

    def model_post_init(self, context: Any, /) -> None:
        # pydantic gives each instance its own set of the fields it was given (~0.7 KiB);
        # 50,000 list items share one instead. Nothing reads a wire model's fields_set.
        object.__setattr__(self, "__pydantic_fields_set__", _ALL_LIST_ITEM_FIELDS)


_ALL_LIST_ITEM_FIELDS = set(MachineListItem.model_fields)


class MachineCurrent(WireModel):
    """``machine_info.Current``: runtime state and counters."""

    name: Text = None
    status: Text = None
    qmpstatus: Text = None
    cpu: Num = None
    cpus: Int = None
    mem: Int = None
    maxmem: Int = None
    freemem: Int = None
    uptime: Num = None
    netin: Int = None
    netout: Int = None
    diskread: Int = None
    diskwrite: Int = None
    disk: Int = None
    maxdisk: Int = None
    vmid: Int = None
    pid: Int = None
    tags: Text = None
    running_qemu: Text = Field(None, alias="running-qemu")
    running_machine: Text = Field(None, alias="running-machine")


class QemuConfig(WireModel):
    """``machine_info.qemuConfig`` (the parts joytui shows)."""

    name: Text = None
    cores: Int = None
    sockets: Int = None
    memory: Int = None
    ostype: Text = None
    cpu: Text = None
    net0: Text = None
    scsi0: Text = None
    meta: Text = None

    @property
    def created_at(self) -> float | None:
        """Creation time from ``meta`` (``creation-qemu=8.1.5,ctime=1712772985``)."""
        found = re.search(r"(?:^|,)ctime=(\d+)", self.meta or "")
        return float(found.group(1)) if found else None


class MachineInfo(WireModel):
    """``type=machine_info``: a machine's live state and configuration."""

    value: Text = None
    current: MachineCurrent | None = Field(None, alias="Current")
    qemu_config: QemuConfig | None = Field(None, alias="qemuConfig")
    ip: Text = None
    os: Text = None
    extime: Text = None


class _MachineList(WireModel):
    value: list[MachineListItem]


# -- pure readers (no I/O; the fuzz tests drive these) -------------------------------------------

_ERRORS: dict[str, tuple[type[ProviderError], str, str | None]] = {
    "invalid_api_credentials": (AuthError, "credentials refused", "check api_token and api_key"),
    "machine_not_found": (NotFoundError, "no such machine", None),
    "invalid_state": (
        RejectedError,
        "the API does not accept that machine_state",
        f"expected one of {', '.join(POWER_STATES)}",
    ),
    "instance_token_required": (RejectedError, "the call needs an instance_token", None),
    "unsupported_type": (RejectedError, "the API does not know this call type", None),
    "invalid_json": (RejectedError, "the API could not read the request", None),
}


def envelope_error(call: str, data: Any, status: int | None = None) -> ProviderError | None:
    """The taxonomy error a ``success: false`` document stands for, or None if it succeeded.

    ``invalid_api_credentials`` is an auth error, ``machine_not_found`` not found,
    ``invalid_state`` and other request problems rejected, anything else a server error.
    A document without ``success`` counts as success unless it names an ``error``.
    """
    if not isinstance(data, dict):
        raise BadPayloadError("expected an object", call=call, status=status)
    env = parse_model(Envelope, data, call)
    failed = env.success is False or (env.success is None and env.error is not None)
    if not failed:
        return None
    code = (env.error or "").strip()
    cls, words, hint = _ERRORS.get(code, (ServerError, f"{call} failed", None))
    detail = code if code in _ERRORS else (code or "no reason given")
    message = f"{words}: {detail}"
    if env.message and env.message != code:
        message += f" ({env.message})"
    if status is not None and status >= 400:
        message += f" [{status}]"
    return cls(message, hint=hint, status=status)


def read_answer(call: str, content: bytes | str, status: int | None = None) -> dict[str, Any]:
    """Decode a Joy answer (double-encoded or not) and raise the error it stands for, if any."""
    data = decode_json(content, call)
    error = envelope_error(call, data, status)
    if error is not None:
        raise error
    return data


def read_dashboardinfo(data: Any) -> DashboardInfo:
    """Totals from a ``dashboardinfo`` answer."""
    return parse_model(DashboardInfo, data, "dashboardinfo")


def read_account_info(data: Any) -> AccountInfo:
    """The profile from an ``account_info`` answer, credentials masked."""
    return parse_model(AccountInfo, data, "account_info")


def read_machine_list(data: Any) -> list[MachineListItem]:
    """Machines from a ``machine_list`` answer (``value`` is the array)."""
    if isinstance(data, dict) and "value" not in data:
        raise BadPayloadError("missing", call="machine_list", field="value")
    return parse_model(_MachineList, data, "machine_list").value


def read_machine_info(data: Any) -> MachineInfo:
    """A ``machine_info`` answer."""
    info = parse_model(MachineInfo, data, "machine_info")
    if info.current is None:
        raise BadPayloadError("missing", call="machine_info", field="Current")
    return info


def machine_status(current: MachineCurrent | None) -> tuple[Status, str | None]:
    """(normalized status, raw word) from ``Current.status`` and ``Current.qmpstatus``.

    ``status`` leads; but a guest the hypervisor calls running while QMP says paused or in
    error (Proxmox reports a paused VM so) follows ``qmpstatus``, and a missing or unknown
    ``status`` falls back to it.
    """
    if current is None:
        return Status.UNKNOWN, None
    raw = current.status or current.qmpstatus
    status = map_status(current.status, STATUS, PENDING, PENDING_SUFFIXES)
    qmp = map_status(current.qmpstatus, STATUS, PENDING, PENDING_SUFFIXES)
    if status is Status.UNKNOWN and qmp is not Status.UNKNOWN:
        return qmp, raw
    if status is Status.RUNNING and qmp in (Status.PAUSED, Status.ERROR):
        return qmp, current.qmpstatus
    return status, raw


@dataclass(frozen=True, slots=True)
class KnownMachine:
    """What the client keeps of a machine's last machine_info between polls: only what its
    :class:`Resource` shows (a parsed MachineInfo is about 4 KiB; 50,000 of them add up)."""

    status: Status
    raw_status: str | None
    qemu_name: str | None
    vm_name: str | None
    cpu_percent: float | None
    memory_used: int | None
    memory_total: int | None
    cpus: int | None
    uptime: float | None
    qmpstatus: str | None
    vmid: int | None
    created_at: float | None
    ip: str | None
    os: str | None
    fetched_at: float
    """When the machine_info was answered (Unix seconds)."""

    @classmethod
    def of(cls, info: MachineInfo, fetched_at: float) -> KnownMachine:
        """The facts of ``info``, answered at ``fetched_at``."""
        cur, qemu = info.current, info.qemu_config
        status, raw = machine_status(cur)
        return cls(
            status=status,
            raw_status=_word(raw),
            qemu_name=qemu.name if qemu is not None else None,
            vm_name=cur.name if cur is not None else None,
            cpu_percent=percent(cur.cpu) if cur is not None else None,
            memory_used=cur.mem if cur is not None else None,
            memory_total=cur.maxmem if cur is not None and cur.maxmem else None,
            cpus=cur.cpus if cur is not None else None,
            uptime=cur.uptime if cur is not None else None,
            qmpstatus=_word(cur.qmpstatus) if cur is not None else None,
            vmid=cur.vmid if cur is not None else None,
            created_at=qemu.created_at if qemu is not None else None,
            ip=info.ip,
            os=_word(info.os),
            fetched_at=fetched_at,
        )


def _word(value: str | None) -> str | None:
    """A status-like word, interned: 50,000 machines share a handful of them."""
    return sys.intern(value) if value is not None and len(value) <= 32 else value
