"""The Jamsocket v2 wire models (tolerant pydantic models of the answers, strict ones of the
request bodies) and the readers from them to the normalized model (no I/O)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr

from joytui.model import Status, StatusEvent
from joytui.providers.wire import Bool, Ident, Int, Text, Timestamp, WireModel, map_status, to_text

STATUS = {
    "ready": Status.RUNNING,
    "scheduled": Status.PENDING,
    "loading": Status.PENDING,
    "starting": Status.PENDING,
    "waiting": Status.PENDING,
    "terminating": Status.PENDING,
    "hard-terminating": Status.PENDING,
    # The spec's status table spells it so ("the backend is being forcibly stopped").
    "hard-terminated": Status.PENDING,
}
"""Backend status words with a fixed normalized status (``terminated`` depends on exit_error)."""

SOFT_STOPPABLE = frozenset({"scheduled", "loading", "starting", "waiting", "ready"})
"""Statuses in which a soft terminate still means something."""


# -- wire models --------------------------------------------------------------------------------


def _to_secret(value: Any) -> SecretStr | None:
    """A secret string field: masked once read, never quoted in a validation error."""
    if value is None or isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        return SecretStr(value)
    raise ValueError("expected a string")


Secret = Annotated[SecretStr | None, BeforeValidator(_to_secret)]
"""A tolerant secret field: a string, kept as :class:`SecretStr`."""


class BackendStatus(WireModel):
    """A backend status: ``/status``, each status-stream event, and each ``statuses`` entry."""

    status: Text = None
    time: Timestamp = None
    termination_reason: Text = Field(
        None, validation_alias=AliasChoices("termination_reason", "terminatation_reason")
    )
    termination_kind: Text = None
    exit_error: Bool = None
    exit_code: Int = None
    last_status: Text = None

    @property
    def normalized(self) -> Status:
        """The normalized status (see the module docstring)."""
        return backend_status(self)


class BackendMetadata(WireModel):
    """``GET /v2/backend/{id}``: where the backend runs and its whole status history."""

    id: Ident
    account_name: Text = None
    cluster_name: Text = None
    created_at: Timestamp = None
    environment_name: Text = None
    image_digest: Text = None
    key: Text = None
    max_mem_bytes: Int = None
    service_name: Text = None
    statuses: list[BackendStatus] = Field(default_factory=list)

    @property
    def current(self) -> BackendStatus | None:
        """The latest status, if the history has any."""
        return self.statuses[-1] if self.statuses else None


class BackendItem(WireModel):
    """One backend in a service's backends list or the account's running backends."""

    id: Ident
    account_name: Text = None
    cluster_name: Text = None
    created_at: Timestamp = None
    environment_name: Text = None
    image_digest: Text = None
    key: Text = None
    max_mem_bytes: Int = None
    ready_timestamp: Timestamp = None
    service_name: Text = None
    status: BackendStatus | None = None

    @property
    def status_word(self) -> str | None:
        """The current status word (``ready``, ``terminated``...)."""
        return self.status.status if self.status else None


class ServiceBackends(WireModel):
    """``GET /v2/service/{account}/{service}/backends``."""

    backends: list[BackendItem]


class RunningBackends(WireModel):
    """``GET /v2/account/{account}/backends``."""

    running_backends: list[BackendItem]


class Environment(WireModel):
    """One environment of a service: its cluster and the image tag it spawns."""

    name: Text = None
    cluster: Text = None
    created_at: Timestamp = None
    image_tag: Text = None
    last_spawned_at: Timestamp = None


class Service(WireModel):
    """``GET /v2/service/{account}/{service}``."""

    name: Ident
    account_name: Text = None
    created_at: Timestamp = None
    environments: list[Environment] = Field(default_factory=list)
    image_name: Text = None
    last_image_digest: Text = None
    last_image_upload_time: Timestamp = None
    last_spawned_at: Timestamp = None


def _service_names(value: Any) -> Any:
    # One unusable entry (empty, not text) must not cost the account its whole list.
    if not isinstance(value, list):
        return value
    names = [to_text(v) if not isinstance(v, dict | list | bool) else None for v in value]
    return [n for n in names if n]


class ServiceList(WireModel):
    """``GET /v2/account/{account}/services``: service names (unusable entries skipped)."""

    services: Annotated[list[Ident], BeforeValidator(_service_names)]


class GitCommit(WireModel):
    """The commit an image was built from, when it was pushed with it."""

    branch: Text = None
    hash: Text = None
    message: Text = None
    repository: Text = None


class Image(WireModel):
    """One pushed image of a service (``git_commit`` only when it was pushed with one)."""

    digest: Ident
    git_commit: GitCommit | None = None
    repository: Text = None
    tag: Text = None
    upload_time: Timestamp = None


class ImageList(WireModel):
    """``GET /v2/service/{account}/{service}/images``."""

    images: list[Image]


class OkAnswer(WireModel):
    """A write's answer, ``{"status": "ok"}``.

    The 2xx status is what says the write was accepted; ``status`` is the body's word, None when
    the body could not be read (the write is not sent again either way).
    """

    status: Text = None

    @property
    def confirmed(self) -> bool:
        """Whether the body said ``ok`` as well."""
        return self.status == "ok"


class ApiErrorBody(WireModel):
    """The inside of an error answer."""

    message: Text = None
    status: Int = None
    code: Text = None
    id: Text = None


class ApiError(WireModel):
    """An error answer: ``{"error": {"message", "status", "code", "id"}}``."""

    error: ApiErrorBody


class Connection(WireModel):
    """The answer of connect. ``token``, ``secret_token``, ``url`` and ``ready_url`` (both embed
    the token) are secrets: masked in ``repr``, ``str`` and JSON dumps; read them with
    ``.get_secret_value()`` only to hand them to whoever must connect."""

    model_config = ConfigDict(frozen=True)

    backend_id: Ident
    spawned: Bool = None
    status: Text = None
    token: Secret = None
    secret_token: Secret = None
    url: Secret = None
    ready_url: Secret = None
    status_url: Text = None


class MetricsEvent(WireModel):
    """One metrics-stream event: CPU nanoseconds over an interval, memory in bytes."""

    backend_id: Text = None
    cpu_used: Int = None
    sys_cpu: Int = None
    mem_used: Int = None
    mem_limit: Int = None
    mem_available: Int = None

    @property
    def cpu_percent(self) -> float | None:
        """``100 * cpu_used / sys_cpu``, within 0-100; None when either is unknown."""
        if self.cpu_used is None or not self.sys_cpu or self.sys_cpu <= 0:
            return None
        return max(0.0, min(100.0, 100.0 * self.cpu_used / self.sys_cpu))

    @property
    def memory_total(self) -> int | None:
        """The memory limit (or used + available when the limit is missing)."""
        if self.mem_limit is not None:
            return self.mem_limit
        if self.mem_used is not None and self.mem_available is not None:
            return self.mem_used + self.mem_available
        return None


# -- request bodies -----------------------------------------------------------------------------


class _Body(BaseModel):
    """Base of the request bodies we send: unknown fields are a programming error."""

    model_config = ConfigDict(extra="forbid")


class ResourceLimits(_Body):
    """``spawn.executable.resource_limits``."""

    memory_limit_bytes: int | None = None
    cpu_period_percent: float | None = None
    cpu_period: int | None = None
    cpu_time_limit: float | None = None


class ExecutableConfig(_Body):
    """``spawn.executable``: the Docker executor's settings."""

    mount: str | bool | None = None
    env: dict[str, str] | None = None
    resource_limits: ResourceLimits | None = None


class SpawnConfig(_Body):
    """``spawn`` of a connect request: how to start a new backend if one is needed."""

    tag: str | None = None
    cluster: str | None = None
    lifetime_limit_seconds: float | None = None
    max_idle_seconds: float | None = None
    executable: ExecutableConfig | None = None


# -- adapters -----------------------------------------------------------------------------------


def backend_status(status: BackendStatus | None) -> Status:
    """The normalized status of a backend status (DESIGN.md, with ``exit_error``)."""
    if status is None:
        return Status.UNKNOWN
    word = (status.status or "").strip().lower()
    if word == "terminated":
        failed = status.exit_error
        if failed is None and status.exit_code is not None:
            failed = status.exit_code != 0
        if failed is None:
            return Status.UNKNOWN
        return Status.ERROR if failed else Status.STOPPED
    return map_status(status.status, STATUS)


def status_event(status: BackendStatus) -> StatusEvent:
    """The :class:`StatusEvent` of a backend status (``final`` once terminated; a status
    without a time is taken as now)."""
    final = (status.status or "").strip().lower() == "terminated"
    return StatusEvent(
        time=status.time if status.time is not None else time.time(),
        status=backend_status(status),
        raw_status=status.status,
        reason=status.termination_reason,
        exit_code=status.exit_code,
        final=final,
    )


def metric_sample_fields(event: MetricsEvent) -> dict[str, Any]:
    """The :class:`MetricSample` fields of one metrics event."""
    return {
        "cpu_percent": event.cpu_percent,
        "memory_used": event.mem_used,
        "memory_total": event.memory_total,
    }
