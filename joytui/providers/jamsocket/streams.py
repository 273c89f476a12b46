"""The Jamsocket v2 server-sent-event streams of a backend (status, metrics, logs), with
reconnection, and as the normalized model's streams."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import TypeVar

from httpx_sse import ServerSentEvent
from pydantic import BaseModel

from joytui.model import LogLine, MetricSample, Resource, StatusEvent
from joytui.providers.errors import NotFoundError, ProviderError
from joytui.providers.jamsocket.api import JamsocketApi
from joytui.providers.jamsocket.wire import (
    BackendStatus,
    MetricsEvent,
    metric_sample_fields,
    status_event,
)
from joytui.providers.sse import LiveStream, ResumableEvents
from joytui.providers.wire import decode_json

log = logging.getLogger("joytui.providers.jamsocket")

B = TypeVar("B", bound=BaseModel)


class JamsocketStreams(JamsocketApi):
    """The three SSE streams of a backend, with reconnection (the base of
    :class:`~joytui.providers.jamsocket.JamsocketClient`)."""

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
