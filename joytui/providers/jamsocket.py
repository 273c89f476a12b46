"""The Jamsocket HTTP API v2 (``jamsocket-api-v2.txt``): services, session backends, images, and
three server-sent-event streams, behind ``Authorization: Bearer <token>``.

Decisions where the spec leaves room:

- **Secrets.** A connect answer carries ``token`` and ``secret_token``; its ``url`` and
  ``ready_url`` embed the token, so all four are :class:`~pydantic.SecretStr` in
  :class:`Connection` (masked in ``repr``, ``str`` and ``model_dump_json``) and never reach a
  :class:`Resource`, a log line or an error.
- **Errors.** ``{"error": {"message", "status", "code", "id"}}`` answers become the shared
  taxonomy with the provider's message, its code and its error id in the text.
- **Writes** (connect, terminate, create/delete service, update image) are sent once, never
  retried. For the ``{"status": "ok"}`` writes the HTTP status is what says the provider
  accepted the write; a body that cannot be read (cut short, mangled) is tolerated and
  reported as ``OkAnswer(status=None)`` rather than as a failure of a write that happened.
- **Statuses** map as DESIGN.md says (``ready`` running; ``scheduled`` ... ``hard-terminating``
  pending; ``terminated`` stopped or error by ``exit_error``). The spec's status table also
  names ``hard-terminated`` (the backend "is being forcibly stopped"): pending too. A
  ``terminated`` without ``exit_error`` falls back on ``exit_code`` (0 stopped, else error),
  and is unknown when neither is known.
- **Snapshot.** Running backends of the account plus each service's backends created in the
  last :attr:`JamsocketClient.recent_seconds` (so recent deaths stay visible), deduplicated by
  id, keeping the record with the newest status. A service is ``running`` when at least one of
  its backends is not ``terminated`` (terminating ones included, as the account's running list
  counts them), else ``stopped``.
- **Actions.** Backends: ``terminate`` (SIGTERM) until termination starts, ``terminate_hard``
  (destructive) until it is terminated. Services: ``spawn`` (connect, with a key, an image
  tag, env vars and lifetime limits; the answer's tokens and URLs are never shown),
  ``update_image`` and ``delete`` (destructive). The account (a resource of kind
  ``account``): ``create_service``.
- **Streams** (:meth:`~JamsocketClient.status_stream`, :meth:`~JamsocketClient.metric_stream`,
  :meth:`~JamsocketClient.log_stream` of a backend resource, and the ``backend_*_stream``
  methods by backend id) reconnect by themselves: see
  :class:`~joytui.providers.sse.ResumableEvents`. They are
  :class:`~joytui.providers.sse.LiveStream` iterators whose ``state`` and ``attempt`` tell how
  the connection is doing; stop one early with ``contextlib.aclosing`` (or ``aclose()``), or
  cancel the task reading it: either closes its connection at once.
- **Metrics.** ``cpu_used`` and ``sys_cpu`` are nanoseconds over the same interval (the
  simulator's reading of the spec), so ``cpu_percent = 100 * cpu_used / sys_cpu``: the share of
  the host's CPU time. Memory is ``mem_used`` of ``mem_limit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import httpx
from httpx_sse import ServerSentEvent
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
)

from joytui.config import Account, JamsocketAccount
from joytui.model import (
    Action,
    ActionResult,
    LogLine,
    MetricSample,
    PollHints,
    Resource,
    Snapshot,
    Status,
    StatusEvent,
)
from joytui.providers.base import ProviderClient, gather_first_error
from joytui.providers.errors import (
    BadPayloadError,
    NotFoundError,
    ProviderError,
    RejectedError,
    snippet,
)
from joytui.providers.sse import LiveStream, ResumableEvents
from joytui.providers.wire import (
    Bool,
    Ident,
    Int,
    Text,
    Timestamp,
    WireModel,
    decode_json,
    map_status,
    parse_model,
    to_text,
)

log = logging.getLogger("joytui.providers.jamsocket")

T = TypeVar("T")
B = TypeVar("B", bound=BaseModel)

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


def _iso_param(when: datetime) -> str:
    """A query-string datetime as the spec writes them (UTC, ``Z``); naive means UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


# -- the client ---------------------------------------------------------------------------------


class JamsocketClient(ProviderClient):
    """A client for one Jamsocket account: typed methods for every v2 endpoint, the three SSE
    streams with reconnection, and the adapter to the normalized model."""

    provider = "jamsocket"
    auth_hint = "check the account's access token (Jamsocket settings page)"
    secret_fields = ("token",)

    recent_seconds: float = 86400.0
    """Terminated backends created this recently appear in snapshots."""
    concurrency: int = 8
    """Most requests one snapshot has in flight at once."""
    stream_max_reconnects: int = 5
    """Reconnections in a row, with no event in between, before a stream gives up."""
    stream_backoff_seconds: float = 0.5
    """First pause before reconnecting; doubles with each failure in a row."""
    stream_backoff_cap: float = 30.0
    """Longest pause before reconnecting (also caps the server's ``retry``)."""
    metrics_timeout: float = 5.0
    """How long :meth:`metrics` waits for one event before answering None."""

    def __init__(
        self,
        account: Account,
        secrets: Mapping[str, SecretStr],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        stream_read_timeout: float | None = 60.0,
    ) -> None:
        if not isinstance(account, JamsocketAccount):
            raise TypeError("JamsocketClient needs a JamsocketAccount")
        super().__init__(account, secrets, transport=transport)
        self.jamsocket_account: str = account.account
        self.stream_read_timeout = stream_read_timeout
        """Longest silence on an open stream (longer than the server's keep-alive), or None."""

    def _default_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._secret('token')}"}

    # -- paths and errors ---------------------------------------------------------------------

    def _account_path(self, tail: str = "") -> str:
        return f"/v2/account/{quote(self.jamsocket_account, safe='')}{tail}"

    def _service_path(self, service: str, tail: str = "") -> str:
        account = quote(self.jamsocket_account, safe="")
        return f"/v2/service/{account}/{quote(service, safe='')}{tail}"

    @staticmethod
    def _backend_path(backend_id: str, tail: str = "") -> str:
        return f"/v2/backend/{quote(backend_id, safe='')}{tail}"

    def provider_message(self, response: httpx.Response) -> str:
        """The error answer's message, code and error id (quote the id to Jamsocket support)."""
        try:
            found = parse_model(ApiError, decode_json(response.content[:8192], "error"), "error")
        except ProviderError:
            return super().provider_message(response)
        body = found.error
        if not body.message:
            return super().provider_message(response)
        extra = ", ".join(x for x in (body.code, f"error id {body.id}" if body.id else None) if x)
        return snippet(f"{body.message} ({extra})" if extra else body.message, 200)

    async def _get_model(self, model: type[B], path: str, call: str, **kwargs: Any) -> B:
        """A read (retried on transport, server and rate-limit failures), parsed as ``model``."""
        data = await self.request_json("GET", path, call=call, retry=True, **kwargs)
        return self.parse(model, data, call)

    async def _write_ok(self, method: str, path: str, call: str, body: Any = None) -> OkAnswer:
        """Send a write once; a 2xx is acceptance, whatever shape the body is in."""
        response = await self.request(method, path, call=call, json=body)
        try:
            return self.parse(OkAnswer, self.decode(response, call), call)
        except BadPayloadError as err:
            log.warning("%s %r: %s accepted, but %s", self.provider, self.name, call, err.message)
            return OkAnswer(status=None)

    # -- backends -----------------------------------------------------------------------------

    async def connect(
        self,
        service: str,
        *,
        key: str | None = None,
        user: str | None = None,
        auth: Mapping[str, Any] | None = None,
        spawn: SpawnConfig | Mapping[str, Any] | bool | None = None,
    ) -> Connection:
        """``POST /v2/service/{account}/{service}/connect``: a backend holding ``key`` (spawned
        if none does, unless ``spawn`` is False; None or True spawn with the service's
        defaults). Never retried. The answer's secrets stay masked in the returned
        :class:`Connection`."""
        body: dict[str, Any] = {}
        if key is not None:
            body["key"] = key
        if user is not None:
            body["user"] = user
        if auth is not None:
            body["auth"] = dict(auth)
        if isinstance(spawn, SpawnConfig):
            body["spawn"] = spawn.model_dump(exclude_none=True)
        elif isinstance(spawn, Mapping):
            body["spawn"] = dict(spawn)
        elif spawn is False:
            body["spawn"] = False
        call = f"connect to service {service!r}"
        response = await self.request(
            "POST", self._service_path(service, "/connect"), call=call, json=body
        )
        try:
            return self.parse(Connection, self.decode(response, call), call)
        except BadPayloadError as err:
            err.hint = "a backend may have been spawned anyway; check the service's backends"
            raise

    async def backend_status(self, backend_id: str) -> BackendStatus:
        """``GET /v2/backend/{id}/status``: its most recent status."""
        call = f"status of backend {backend_id!r}"
        return await self._get_model(BackendStatus, self._backend_path(backend_id, "/status"), call)

    async def backend(self, backend_id: str) -> BackendMetadata:
        """``GET /v2/backend/{id}``: metadata and the whole status history."""
        call = f"backend {backend_id!r}"
        return await self._get_model(BackendMetadata, self._backend_path(backend_id), call)

    async def service_backends(
        self, service: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> list[BackendItem]:
        """``GET /v2/service/{account}/{service}/backends``, newest first; ``start`` (inclusive)
        and ``end`` filter on ``created_at`` (naive datetimes are UTC)."""
        params = {}
        if start is not None:
            params["start"] = _iso_param(start)
        if end is not None:
            params["end"] = _iso_param(end)
        call = f"backends of service {service!r}"
        path = self._service_path(service, "/backends")
        found = await self._get_model(ServiceBackends, path, call, params=params or None)
        return found.backends

    async def running_backends(self) -> list[BackendItem]:
        """``GET /v2/account/{account}/backends``: every backend not yet terminated."""
        call = "running backends"
        found = await self._get_model(RunningBackends, self._account_path("/backends"), call)
        return found.running_backends

    async def terminate(self, backend_id: str, *, hard: bool = False) -> OkAnswer:
        """``POST /v2/backend/{id}/terminate``: SIGTERM, or a forced stop when ``hard``.
        Never retried (terminating twice is harmless, but the rule is the rule)."""
        call = f"{'hard ' if hard else ''}terminate backend {backend_id!r}"
        body = {"hard": True} if hard else {}
        return await self._write_ok(
            "POST", self._backend_path(backend_id, "/terminate"), call, body
        )

    # -- services -----------------------------------------------------------------------------

    async def create_service(self, name: str) -> OkAnswer:
        """``POST /v2/account/{account}/service``. Never retried."""
        call = f"create service {name!r}"
        return await self._write_ok("POST", self._account_path("/service"), call, {"name": name})

    async def check(self) -> None:
        """Probe the account with one cheap authenticated call (the list of services)."""
        await self.services()

    async def services(self) -> list[str]:
        """``GET /v2/account/{account}/services``: the service names."""
        found = await self._get_model(ServiceList, self._account_path("/services"), "services")
        return found.services

    async def service(self, name: str) -> Service:
        """``GET /v2/service/{account}/{service}``."""
        return await self._get_model(Service, self._service_path(name), f"service {name!r}")

    async def delete_service(self, name: str) -> OkAnswer:
        """``POST /v2/service/{account}/{service}/delete`` (its running backends are
        terminated). Never retried."""
        return await self._write_ok(
            "POST", self._service_path(name, "/delete"), f"delete service {name!r}"
        )

    async def related(self, resource: Resource) -> dict[str, list[str]]:
        """A service's images, newest first: tag, digest and upload time."""
        if resource.kind != "service":
            return {}
        lines = []
        for image in await self.images(resource.id):
            when = (
                datetime.fromtimestamp(image.upload_time, UTC).strftime("%Y-%m-%d %H:%M")
                if image.upload_time
                else ""
            )
            lines.append(f"{image.tag or '(no tag)'}  {image.digest[:19]}  {when}".rstrip())
        return {"images": lines}

    async def images(self, service: str) -> list[Image]:
        """``GET /v2/service/{account}/{service}/images``, newest first."""
        call = f"images of service {service!r}"
        found = await self._get_model(ImageList, self._service_path(service, "/images"), call)
        return found.images

    async def update_image_tag(self, service: str, image_tag: str) -> OkAnswer:
        """``POST /v2/service/{account}/{service}/update``: the tag or digest new backends
        spawn with. Never retried."""
        call = f"update image of service {service!r}"
        path = self._service_path(service, "/update")
        return await self._write_ok("POST", path, call, {"image_tag": image_tag})

    # -- streams ------------------------------------------------------------------------------

    def backend_status_stream(self, backend_id: str) -> LiveStream[BackendStatus]:
        """``GET /v2/backend/{id}/status/stream``: the history, then each new status; ends after
        ``terminated``. Reconnects as :class:`~joytui.providers.sse.ResumableEvents`
        describes; its state is the :class:`~joytui.providers.sse.LiveStream`'s."""
        events = self._events(backend_id, "status")

        async def statuses() -> AsyncGenerator[BackendStatus, None]:
            async with contextlib.aclosing(events):
                async for event in events:
                    status = self._event_model(BackendStatus, event, backend_id, "status")
                    if status is None:
                        continue
                    yield status
                    if (status.status or "").lower() == "terminated":
                        return

        return LiveStream(statuses(), events)

    def backend_metrics_stream(self, backend_id: str) -> LiveStream[MetricSample]:
        """``GET /v2/backend/{id}/metrics/stream`` as :class:`MetricSample` readings; ends when
        the server ends the stream of a terminated backend."""
        events = self._events(backend_id, "metrics")

        async def samples() -> AsyncGenerator[MetricSample, None]:
            async with contextlib.aclosing(events):
                async for event in events:
                    found = self._event_model(MetricsEvent, event, backend_id, "metrics")
                    if found is not None:
                        yield self.sample(backend_id, **metric_sample_fields(found))

        return LiveStream(samples(), events)

    def backend_log_stream(self, backend_id: str) -> LiveStream[str]:
        """``GET /v2/backend/{id}/logs/stream``: log lines (recent ones first); ends when the
        server ends the stream of a terminated backend."""
        events = self._events(backend_id, "logs")

        async def lines() -> AsyncGenerator[str, None]:
            async with contextlib.aclosing(events):
                async for event in events:
                    for line in event.data.split("\n"):
                        yield line

        return LiveStream(lines(), events)

    def metric_stream(self, resource: Resource) -> LiveStream[MetricSample] | None:
        """A backend's metrics stream (:meth:`backend_metrics_stream`); services have none."""
        if resource.kind != "backend":
            return None
        return self.backend_metrics_stream(resource.id)

    def status_stream(self, resource: Resource) -> LiveStream[StatusEvent] | None:
        """A backend's statuses as :class:`StatusEvent` (normalized, with the provider's word;
        the termination's reason and exit code on the ``final`` one); services have none.

        The stream's statuses carry no exit code (the spec keeps it for the authenticated
        metadata), so the final event asks :meth:`backend` for it; if that fails it stays None.
        """
        if resource.kind != "backend":
            return None

        async def event(status: BackendStatus) -> StatusEvent:
            found = status_event(status)
            if found.final and found.exit_code is None:
                found = await self._with_exit_code(resource.id, found)
            return found

        return self.backend_status_stream(resource.id).map_async(event)

    async def _with_exit_code(self, backend_id: str, event: StatusEvent) -> StatusEvent:
        """``event`` with the exit code (and reason) of the backend's last recorded status."""
        try:
            current = (await self.backend(backend_id)).current
        except ProviderError as err:
            log.info("%s %r: no exit code for %s: %s", *self._who(), backend_id, err.message)
            return event
        if current is None or (current.status or "").lower() != "terminated":
            return event
        return event.model_copy(
            update={
                "exit_code": current.exit_code,
                "reason": event.reason or current.termination_reason,
            }
        )

    def log_stream(self, resource: Resource) -> LiveStream[LogLine] | None:
        """A backend's log lines as :class:`LogLine`; services have none."""
        if resource.kind != "backend":
            return None
        return self.backend_log_stream(resource.id).map(lambda line: LogLine(text=line))

    def _event_model(
        self, model: type[B], event: ServerSentEvent, backend_id: str, stream: str
    ) -> B | None:
        """An event's JSON as ``model``; a bad event is skipped (logged), not fatal."""
        call = f"{stream} stream of backend {backend_id!r}"
        try:
            return self.parse(model, decode_json(event.data, call), call)
        except ProviderError as err:
            log.warning("%s %r: skipped an event: %s", self.provider, self.name, err.message)
            return None

    def _events(self, backend_id: str, stream: str, *, reconnect: bool = True) -> ResumableEvents:
        """The events of one SSE stream of a backend, across reconnections
        (:class:`~joytui.providers.sse.ResumableEvents`). The stream is over when the server
        ends a connection that brought nothing new and the backend is terminated (or gone).
        ``reconnect=False``: one connection only."""
        path = self._backend_path(backend_id, f"/{stream}/stream")

        async def finished() -> bool:
            return await self._backend_finished(backend_id)

        return ResumableEvents(
            self.http,
            "GET",
            path,
            call=f"{stream} stream of backend {backend_id!r}",
            error_for_response=lambda response: self.error_for_response(response, f"GET {path}"),
            connect_timeout=self.account.timeout_seconds,
            read_timeout=self.stream_read_timeout,
            max_reconnects=self.stream_max_reconnects if reconnect else 0,
            backoff=self.stream_backoff_seconds,
            backoff_cap=self.stream_backoff_cap,
            is_final=finished,
            bind=self._bind,
        )

    async def _backend_finished(self, backend_id: str) -> bool:
        """Whether a backend is terminated or gone (a stream of it may rightly end)."""
        try:
            status = await self.backend_status(backend_id)
        except NotFoundError:
            return True
        except ProviderError:
            return False
        return (status.status or "").lower() == "terminated"

    # -- the normalized model -----------------------------------------------------------------

    def backend_resource(self, item: BackendItem) -> Resource:
        """The normalized :class:`Resource` of a backend."""
        status = item.status or BackendStatus()
        return self.resource(
            kind="backend",
            id=item.id,
            name=item.key or item.id,
            status=backend_status(item.status),
            raw_status=status.status,
            location=item.cluster_name,
            parent=item.service_name,
            memory_total=item.max_mem_bytes,
            created_at=item.created_at,
            detail={
                "key": item.key,
                "service": item.service_name,
                "environment": item.environment_name,
                "image_digest": item.image_digest,
                "ready_at": item.ready_timestamp,
                "status_time": status.time,
                "termination_reason": status.termination_reason,
                "termination_kind": status.termination_kind,
                "exit_error": status.exit_error,
                "exit_code": status.exit_code,
            },
        )

    def service_resource(self, service: Service, live_backends: int) -> Resource:
        """The normalized :class:`Resource` of a service: running while it has a backend that
        is not terminated, else stopped."""
        env = service.environments[0] if service.environments else Environment()
        return self.resource(
            kind="service",
            id=service.name,
            name=service.name,
            status=Status.RUNNING if live_backends else Status.STOPPED,
            raw_status=None,
            location=env.cluster,
            created_at=service.created_at,
            detail={
                "image": service.image_name,
                "image_tag": env.image_tag,
                "environment": env.name,
                "last_image_digest": service.last_image_digest,
                "last_image_upload_time": service.last_image_upload_time,
                "last_spawned_at": service.last_spawned_at,
                "live_backends": live_backends,
            },
        )

    async def _snapshot(self, hints: PollHints | None) -> Snapshot:
        """Services and backends (running ones, and those created in the last
        :attr:`recent_seconds` by this machine's clock), deduplicated by id; reads only,
        ``2 + 2 * services`` requests, at most :attr:`concurrency` at once. A service deleted
        while the snapshot is taken is left out. ``hints`` are ignored: every status comes
        with the lists."""
        names = await self.services()
        since = datetime.now(UTC) - timedelta(seconds=self.recent_seconds)
        limit = asyncio.Semaphore(max(1, self.concurrency))

        async def bounded(coro: Awaitable[T]) -> T | None:
            async with limit:
                try:
                    return await coro
                except NotFoundError:
                    return None

        running, *rest = await gather_first_error(
            [
                bounded(self.running_backends()),
                *(bounded(self.service(n)) for n in names),
                *(bounded(self.service_backends(n, start=since)) for n in names),
            ]
        )
        services: list[Service | None] = rest[: len(names)]
        lists: list[list[BackendItem] | None] = rest[len(names) :]
        backends: dict[str, BackendItem] = {}
        for items in [running, *lists]:
            for item in items or []:
                kept = backends.get(item.id)
                if kept is None or _status_time(item) > _status_time(kept):
                    backends[item.id] = item
        live: dict[str, int] = {}
        for item in backends.values():
            if item.service_name and (item.status_word or "").lower() != "terminated":
                live[item.service_name] = live.get(item.service_name, 0) + 1
        resources = [
            self.service_resource(s, live.get(s.name, 0))
            for s in sorted((s for s in services if s is not None), key=lambda s: s.name)
        ]
        ordered = sorted(backends.values(), key=lambda b: (-(b.created_at or 0.0), b.id))
        resources += [self.backend_resource(b) for b in ordered]
        return self.make_snapshot(resources)

    async def actions(self, resource: Resource) -> list[Action]:
        """A backend: ``terminate`` until termination starts, ``terminate_hard`` until it is
        terminated. A service: ``spawn``, ``update_image``, ``delete``. The account:
        ``create_service``."""
        if resource.kind == "account":
            return [Action(id="create_service", label="Create service")]
        if resource.kind == "service":
            return [
                Action(id="spawn", label="Spawn backend"),
                Action(id="update_image", label="Update image"),
                Action(id="delete", label="Delete service", destructive=True),
            ]
        if resource.kind != "backend":
            return []
        word = (resource.raw_status or "").lower()
        if word == "terminated":
            return []
        offered = []
        if word in SOFT_STOPPABLE or word not in STATUS:
            offered.append(Action(id="terminate", label="Terminate"))
        if word != "hard-terminating":
            offered.append(Action(id="terminate_hard", label="Terminate hard", destructive=True))
        return offered

    async def perform(self, resource: Resource, action_id: str, **params: Any) -> ActionResult:
        """Terminate a backend (soft or hard); spawn on, update the image of, or delete a
        service; create a service in the account. Never retried.

        ``spawn`` takes ``key``, ``tag``, ``env`` (a mapping, or ``NAME=VALUE`` words),
        ``lifetime_limit_seconds``, ``max_idle_seconds`` and ``memory_limit_bytes``;
        ``update_image`` takes ``image_tag``; ``create_service`` takes ``name``."""
        known = {
            "backend": ("terminate", "terminate_hard"),
            "service": ("spawn", "update_image", "delete"),
            "account": ("create_service",),
        }.get(resource.kind, ())
        if action_id not in known:
            raise self.unknown_action(resource, action_id, known)
        if action_id in ("terminate", "terminate_hard"):
            hard = action_id == "terminate_hard"
            return await self.run_action(self._terminated(resource.id, hard))
        if action_id == "spawn":
            return await self.run_action(self._spawned(resource.id, params))
        if action_id == "update_image":
            tag = self._required(params, "image_tag", "the tag or digest new backends spawn with")
            return await self.run_action(self._updated(resource.id, tag))
        if action_id == "delete":
            return await self.run_action(self._service_deleted(resource.id))
        name = self._required(params, "name", "lowercase letters, digits and dashes")
        return await self.run_action(self._created(name))

    def _required(self, params: Mapping[str, Any], name: str, what: str) -> str:
        """``params[name]`` as a non-empty string, or a refusal sent nowhere."""
        value = params.get(name)
        if not isinstance(value, str) or not value.strip():
            raise self.error(RejectedError, f"{name} is required ({what})", hint=f"give {name}")
        return value.strip()

    async def _terminated(self, backend_id: str, hard: bool) -> ActionResult:
        answer = await self.terminate(backend_id, hard=hard)
        word = "hard termination" if hard else "termination (SIGTERM)"
        said = answer.status or "no readable answer"
        return ActionResult(ok=True, message=f"{word} sent: {said}")

    async def _spawned(self, service: str, params: Mapping[str, Any]) -> ActionResult:
        try:
            spawn = spawn_config(params)
        except ValueError as exc:
            raise self.error(
                RejectedError, f"spawn: {exc}", hint="check the spawn options"
            ) from None
        key = params.get("key") or None
        found = await self.connect(service, key=key, spawn=spawn)
        # Only the id, status and whether it spawned: the tokens and URLs stay secret.
        status = found.status or "status not given"
        if found.spawned is False:
            return ActionResult(
                ok=True,
                message=f"backend {found.backend_id} already holds key {key!r} ({status}); "
                "nothing spawned",
            )
        return ActionResult(ok=True, message=f"spawned backend {found.backend_id} ({status})")

    async def _updated(self, service: str, tag: str) -> ActionResult:
        answer = await self.update_image_tag(service, tag)
        said = answer.status or "no readable answer"
        return ActionResult(ok=True, message=f"new backends spawn with {tag!r}: {said}")

    async def _service_deleted(self, service: str) -> ActionResult:
        answer = await self.delete_service(service)
        said = answer.status or "no readable answer"
        return ActionResult(ok=True, message=f"service {service!r} deleted: {said}")

    async def _created(self, name: str) -> ActionResult:
        answer = await self.create_service(name)
        said = answer.status or "no readable answer"
        return ActionResult(ok=True, message=f"service {name!r} created: {said}")

    async def metrics(self, resource: Resource) -> MetricSample | None:
        """One event of the backend's metrics stream, read on a fresh connection within
        :attr:`metrics_timeout` seconds; None for a service, a terminated backend, a backend
        that sends none in time (metrics flow from ``starting`` on) or a stream that ends
        without one. Nothing is retried here (the next poll is the retry): every failure raises
        its taxonomy error, a dropped or silent connection as :class:`TransportError`."""
        if resource.kind != "backend" or (resource.raw_status or "").lower() == "terminated":
            return None
        events = self._events(resource.id, "metrics", reconnect=False)
        try:
            async with asyncio.timeout(self.metrics_timeout), contextlib.aclosing(events):
                async for event in events:
                    found = self._event_model(MetricsEvent, event, resource.id, "metrics")
                    if found is not None:
                        return self.sample(resource.id, **metric_sample_fields(found))
        except TimeoutError:
            return None
        return None


RESERVED_ENV = frozenset(
    {"PORT", "SESSION_BACKEND_ID", "SESSION_BACKEND_KEY", "SESSION_BACKEND_FENCING_TOKEN"}
)
"""Env vars the platform sets itself (the spec forbids passing them)."""


def parse_env(value: Any) -> dict[str, str]:
    """Env vars from a mapping, or from ``NAME=VALUE`` words (a string, or a list of them)."""
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        words = value.split() if isinstance(value, str) else [str(w) for w in value]
        pairs = []
        for word in words:
            name, eq, val = word.partition("=")
            if not eq or not name:
                raise ValueError(f"env: expected NAME=VALUE, got {snippet(word, 40)!r}")
            pairs.append((name, val))
    reserved = sorted({n for n, _ in pairs} & RESERVED_ENV)
    if reserved:
        raise ValueError(f"env: {', '.join(reserved)} is set by the platform")
    return dict(pairs)


def spawn_config(params: Mapping[str, Any]) -> SpawnConfig:
    """The ``spawn`` of a connect request from an action's parameters."""

    def number(name: str) -> float | None:
        value = params.get(name)
        if value is None or value == "":
            return None
        try:
            found = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected a number of seconds, got {value!r}") from None
        if found <= 0:
            raise ValueError(f"{name}: must be more than 0")
        return found

    env = parse_env(params.get("env"))
    memory = number("memory_limit_bytes")
    limits = ResourceLimits(memory_limit_bytes=int(memory)) if memory else None
    executable = ExecutableConfig(env=env or None, resource_limits=limits)
    return SpawnConfig(
        tag=params.get("tag") or None,
        lifetime_limit_seconds=number("lifetime_limit_seconds"),
        max_idle_seconds=number("max_idle_seconds"),
        executable=executable if env or limits else None,
    )


def _status_time(item: BackendItem) -> float:
    """When an item's status was reached, for choosing the fresher of two records."""
    if item.status is None or item.status.time is None:
        return float("-inf")
    return item.status.time


__all__ = [
    "ApiError",
    "BackendItem",
    "BackendMetadata",
    "BackendStatus",
    "Connection",
    "Environment",
    "ExecutableConfig",
    "GitCommit",
    "Image",
    "JamsocketClient",
    "MetricsEvent",
    "OkAnswer",
    "ResourceLimits",
    "RunningBackends",
    "Service",
    "ServiceBackends",
    "ServiceList",
    "SpawnConfig",
    "backend_status",
    "status_event",
]
