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

from joytui.providers.jamsocket.api import (
    JamsocketApi,
)
from joytui.providers.jamsocket.client import (
    RESERVED_ENV,
    JamsocketClient,
    parse_env,
    spawn_config,
)
from joytui.providers.jamsocket.streams import (
    JamsocketStreams,
)
from joytui.providers.jamsocket.wire import (
    SOFT_STOPPABLE,
    STATUS,
    ApiError,
    ApiErrorBody,
    BackendItem,
    BackendMetadata,
    BackendStatus,
    Connection,
    Environment,
    ExecutableConfig,
    GitCommit,
    Image,
    ImageList,
    MetricsEvent,
    OkAnswer,
    ResourceLimits,
    RunningBackends,
    Secret,
    Service,
    ServiceBackends,
    ServiceList,
    SpawnConfig,
    backend_status,
    metric_sample_fields,
    status_event,
)

__all__ = [
    "RESERVED_ENV",
    "SOFT_STOPPABLE",
    "STATUS",
    "ApiError",
    "ApiErrorBody",
    "BackendItem",
    "BackendMetadata",
    "BackendStatus",
    "Connection",
    "Environment",
    "ExecutableConfig",
    "GitCommit",
    "Image",
    "ImageList",
    "JamsocketApi",
    "JamsocketClient",
    "JamsocketStreams",
    "MetricsEvent",
    "OkAnswer",
    "ResourceLimits",
    "RunningBackends",
    "Secret",
    "Service",
    "ServiceBackends",
    "ServiceList",
    "SpawnConfig",
    "backend_status",
    "metric_sample_fields",
    "parse_env",
    "spawn_config",
    "status_event",
]
