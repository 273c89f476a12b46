"""Cockpit's wire models and pure readers: the tolerant pydantic models of the cluster API's
answers, the readers the fuzz tests drive, status mapping and migration words (no I/O)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import AliasChoices, Field

from joytui.model import Status
from joytui.providers.errors import BadPayloadError
from joytui.providers.wire import (
    Bool,
    Ident,
    Int,
    Num,
    Text,
    Timestamp,
    WireModel,
    map_status,
    parse_model,
)

API = "/api/v1"
MiB = 2**20
COPY_STORAGE = ("none", "all", "inc")
VM_ACTIONS = ("start", "stop", "restart", "pause", "resume")

HOST_STATUS = {"connected": Status.RUNNING, "disconnected": Status.ERROR}
VM_STATUS = {
    "running": Status.RUNNING,
    "paused": Status.PAUSED,
    "stopped": Status.STOPPED,
    "shutoff": Status.STOPPED,
    "error": Status.ERROR,
    "crashed": Status.ERROR,
}
VM_PENDING = frozenset({"migrating", "starting", "stopping", "restarting", "pausing", "resuming"})

TOKEN_EXPIRED_HINT = (
    "the session token expired before the request reached the server; joytui renews it "
    "(if this repeats, the token lifetime is shorter than a round trip: check the server's "
    "token TTL and clock)"
)
WRITE_NOT_DONE_HINT = (
    "the session token expired before the request reached the server, so nothing was done; "
    "writes are never sent twice: try the action again"
)


# -- wire models --------------------------------------------------------------------------------


class TokenPair(WireModel):
    """The answer of login and refresh."""

    token: str = Field(min_length=1, validation_alias=AliasChoices("token", "access_token"))
    refresh_token: Text = None
    expires_in: Num = None


class CockpitHost(WireModel):
    """One physical server of ``GET /api/v1/hosts``."""

    id: Ident
    hostname: Text = Field(None, validation_alias=AliasChoices("hostname", "name"))
    status: Text = Field(None, validation_alias=AliasChoices("status", "state"))
    sync_cursor: Int = None
    cpus: Int = None
    memory_bytes: Int = None
    vm_count: Int = None


class CockpitVM(WireModel):
    """One VM of ``GET /api/v1/vms`` (shape not in the spec: read tolerantly)."""

    id: Ident
    name: Text = Field(None, validation_alias=AliasChoices("name", "hostname"))
    host_id: Text = Field(None, validation_alias=AliasChoices("host_id", "host", "hostId"))
    status: Text = Field(None, validation_alias=AliasChoices("status", "state"))
    vcpus: Int = Field(None, validation_alias=AliasChoices("vcpus", "cpus", "cores"))
    memory_mb: Num = None
    memory_used_mb: Num = None
    disk_gb: Num = None
    ip: Text = None
    os: Text = None
    cpu_percent: Num = None
    uptime_seconds: Num = None
    created_at: Timestamp = None
    migration_id: Text = None


class ActionAnswer(WireModel):
    """The answer to a power action (the simulator answers 202 with these)."""

    id: Text = None
    action: Text = None
    force: Bool = None
    status: Text = None


class Migration(WireModel):
    """A migration: the answer of ``migrate`` and of ``GET /api/v1/migrations/:id``."""

    migration_id: Ident = Field(validation_alias=AliasChoices("migration_id", "id"))
    status: Text = None
    vm_id: Text = None
    source_host_id: Text = None
    destination_host_id: Text = None
    live: Bool = None
    copy_storage: Text = None
    persistent: Bool = None
    undefine_source: Bool = None
    started_at: Timestamp = None


class _Hosts(WireModel):
    hosts: list[CockpitHost]


class _VMs(WireModel):
    vms: list[CockpitVM]


def _items(data: Any, key: str, call: str) -> Any:
    """The array of a list answer: ``{"<key>": [...]}`` as the spec shows, or a bare array."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and key in data:
        return data[key]
    raise BadPayloadError("missing", call=call, field=key)


def read_hosts(data: Any) -> list[CockpitHost]:
    """Hosts from a ``GET /api/v1/hosts`` answer."""
    call = "GET /api/v1/hosts"
    return parse_model(_Hosts, {"hosts": _items(data, "hosts", call)}, call).hosts


def read_vms(data: Any) -> list[CockpitVM]:
    """VMs from a ``GET /api/v1/vms`` answer."""
    call = "GET /api/v1/vms"
    return parse_model(_VMs, {"vms": _items(data, "vms", call)}, call).vms


def read_vm(data: Any) -> CockpitVM:
    """One VM (tolerating ``{"vm": {...}}`` around it)."""
    if isinstance(data, dict) and "id" not in data and isinstance(data.get("vm"), dict):
        data = data["vm"]
    return parse_model(CockpitVM, data, "GET /api/v1/vms/:id")


def read_tokens(data: Any, call: str) -> TokenPair:
    """A login or refresh answer."""
    return parse_model(TokenPair, data, call)


def read_migration(data: Any, call: str) -> Migration:
    """A migration answer."""
    return parse_model(Migration, data, call)


def host_status(raw: str | None) -> Status:
    """connected -> running, disconnected -> error, else unknown."""
    return map_status(raw, HOST_STATUS)


def vm_status(raw: str | None) -> Status:
    """A VM's status word, normalized (migrating and any transition are pending)."""
    return map_status(raw, VM_STATUS, VM_PENDING, ("ing",))


def migration_words(mig: Migration, now: float | None = None) -> str:
    """``abc123 running 4 s, to <host>, live, copy storage none``: a migration's progress."""
    parts = [f"{mig.migration_id} {mig.status or 'status unknown'}"]
    if mig.started_at is not None:
        parts[0] += f" {max(0.0, (now or time.time()) - mig.started_at):.0f} s"
    if mig.destination_host_id:
        parts.append(f"to {mig.destination_host_id}")
    if mig.live is not None:
        parts.append("live" if mig.live else "offline")
    if mig.copy_storage:
        parts.append(f"copy storage {mig.copy_storage}")
    return ", ".join(parts)
