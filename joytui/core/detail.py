"""A watch on one resource while its detail is open: its own poll of metrics, its metric and
status streams, each feeding the session's history. Everything starts with :meth:`start`
and stops with :meth:`aclose`: no connection, task or timer outlives the detail."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from joytui.core.history import History
from joytui.model import MetricSample, Resource, StatusEvent


class StreamLike(Protocol):
    """What a watch reads from a provider's live stream (``providers.sse.LiveStream``)."""

    state: Any
    attempt: int
    problem: str | None

    def __aiter__(self) -> AsyncIterator[Any]: ...
    async def aclose(self) -> None: ...


@dataclass
class StreamInfo:
    """How one of the watch's streams is doing, for the detail to say so (read from the
    stream itself, so it is current whenever it is drawn)."""

    name: str
    stream: StreamLike | None = None
    closed_problem: str | None = None
    ended: bool = False

    @property
    def state(self) -> str:
        if self.ended or self.stream is None:
            return "ended"
        return str(getattr(self.stream.state, "value", self.stream.state))

    @property
    def attempt(self) -> int:
        return 0 if self.stream is None else self.stream.attempt

    @property
    def problem(self) -> str | None:
        if self.closed_problem:
            return self.closed_problem
        return None if self.stream is None else self.stream.problem

    @property
    def words(self) -> str:
        """``live``, ``reconnecting… (attempt 3: connection dropped)``, ``ended``."""
        if self.state == "reconnecting":
            why = f": {self.problem}" if self.problem else ""
            return f"reconnecting… (attempt {self.attempt}{why})"
        return self.state


class DetailWatch:
    """Live data of one resource: polled metrics or a metric stream, and a status stream."""

    def __init__(
        self,
        client: Any,
        resource: Resource,
        history: History,
        *,
        poll_seconds: float = 2.0,
        on_update: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.resource = resource
        self.key = resource.key
        self.history = history
        self.poll_seconds = poll_seconds
        self.on_update = on_update or (lambda: None)
        self.clock = clock
        self.timeline: list[StatusEvent] = []
        self.streams: dict[str, StreamInfo] = {}
        self.poll_error: str | None = None
        self.polls = 0
        self.offers_metrics = False
        self.ended: str | None = None
        """Why the resource's live data ended (a terminated backend), in words."""
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Open the streams and start the poll the provider offers for this resource."""
        metric_stream = self.client.metric_stream(self.resource)
        status_stream = self.client.status_stream(self.resource)
        if metric_stream is not None:
            self.offers_metrics = True
            self._spawn(self._read_metrics(metric_stream), "metrics")
        elif self._polls_metrics():
            self.offers_metrics = True
            self._spawn(self._poll_metrics(), "poll")
        if status_stream is not None:
            self._spawn(self._read_statuses(status_stream), "status")

    def _polls_metrics(self) -> bool:
        # Hosts (and services) have no metrics of their own in any of the four APIs.
        return self.resource.kind in ("machine", "vm", "instance")

    def _spawn(self, work: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(work, name=f"detail {name} {self.key[3]}"))

    async def aclose(self) -> None:
        """Stop every stream and poll of this watch and wait until they have."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    @property
    def running(self) -> bool:
        return any(not t.done() for t in self._tasks)

    # -- the work ----------------------------------------------------------------------------

    async def _poll_metrics(self) -> None:
        while True:
            try:
                sample = await self.client.metrics(self.resource)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # shown in the detail; the next poll is the retry
                self.poll_error = str(exc)
            else:
                self.poll_error = None
                if sample is not None:
                    self.history.add(self.key, sample)
            self.polls += 1
            self.on_update()
            await asyncio.sleep(self.poll_seconds)

    def _track(self, name: str, stream: StreamLike) -> StreamInfo:
        info = self.streams[name] = StreamInfo(name, stream)
        return info

    async def _read_metrics(self, stream: StreamLike) -> None:
        info = self._track("metrics", stream)
        try:
            async with contextlib.aclosing(stream):
                async for sample in stream:
                    if isinstance(sample, MetricSample):
                        self.history.add(self.key, sample)
                    self.on_update()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a stream that gave up: said, not raised
            info.closed_problem = str(exc)
        finally:
            info.ended = True
            self.on_update()

    async def _read_statuses(self, stream: StreamLike) -> None:
        info = self._track("status", stream)
        try:
            async with contextlib.aclosing(stream):
                async for event in stream:
                    if isinstance(event, StatusEvent):
                        self.timeline.append(event)
                        if event.final:
                            self.ended = _ending(event)
                    self.on_update()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            info.closed_problem = str(exc)
        finally:
            info.ended = True
            self.on_update()

    def stream_words(self) -> str:
        """Each stream's state in a few words: ``metrics live · status reconnecting…``."""
        return " · ".join(f"{i.name} {i.words}" for i in self.streams.values())


def _ending(event: StatusEvent) -> str:
    parts = [event.raw_status or event.status.value]
    if event.reason:
        parts.append(f"reason: {event.reason}")
    if event.exit_code is not None:
        parts.append(f"exit code {event.exit_code}")
    return ", ".join(parts)
