"""Resumable server-sent-event streams, for any provider that offers them.

httpx-sse parses events but reconnects never; :class:`ResumableEvents` does the rest: it keeps
the last event id (sent back as ``Last-Event-ID``, and used to drop replayed events) and the
server's ``retry``, reconnects with capped exponential backoff, gives up after a number of
reconnections in a row with no event in between, and reads with a timeout longer than the
server's keep-alive so that a stalled connection is noticed. :class:`LiveStream` is what a
client hands out: an async iterator of items made from the events that also tells how its
connection is doing (:attr:`LiveStream.state`, :attr:`LiveStream.attempt`), so a UI can show
``reconnecting… (attempt 3)``.

Errors are the shared taxonomy; nothing here knows which provider it talks to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

import httpx
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse

from joytui.providers.errors import (
    BadPayloadError,
    ProviderError,
    RateLimitedError,
    TransportError,
    connect_failure,
    ssl_error_in,
)

log = logging.getLogger("joytui.providers.sse")

T = TypeVar("T")
U = TypeVar("U")


class StreamState(StrEnum):
    """How a live stream's connection is doing."""

    CONNECTING = "connecting"
    """The first connection is being opened."""
    LIVE = "live"
    """A connection is open and events can arrive."""
    RECONNECTING = "reconnecting"
    """The connection was lost; waiting out the backoff or opening the next one."""
    ENDED = "ended"
    """Over: the stream finished, failed, or was closed. Nothing more will come."""


def is_replay(event_id: str, last_id: str | None, first_in_connection: bool) -> bool:
    """Whether an event is one already delivered (numeric ids only; others are trusted)."""
    if not event_id or not last_id:
        return False
    try:
        new, old = int(event_id), int(last_id)
    except ValueError:
        return False
    # Within one connection an event without an id line inherits the previous id: not a replay.
    return new < old or (new == old and first_in_connection)


def reconnect_delay(
    attempt: int,
    *,
    backoff: float,
    backoff_cap: float,
    retry_ms: int | None = None,
    error: ProviderError | None = None,
) -> float:
    """Seconds to wait before reconnection number ``attempt`` (1 for the first): ``backoff``
    doubling with each attempt (a little jitter), at least the server's ``retry`` and a 429's
    Retry-After, at most ``backoff_cap``."""
    delay = backoff * (2 ** (attempt - 1)) * (1 + 0.25 * random.random())
    if retry_ms is not None:
        delay = max(delay, retry_ms / 1000)
    if isinstance(error, RateLimitedError) and error.retry_after is not None:
        delay = max(delay, error.retry_after)
    return min(delay, backoff_cap)


def _unbound(err: ProviderError) -> ProviderError:
    return err


class ResumableEvents(AsyncIterator[ServerSentEvent]):
    """The events of one SSE stream, across reconnections.

    A dropped connection, a silence longer than ``read_timeout``, a retryable error (5xx, 429,
    transport) or the server ending a stream that is not over means: wait
    (:func:`reconnect_delay`) and reconnect with ``Last-Event-ID``. After ``max_reconnects``
    such failures with no event in between it raises :class:`TransportError`; 401/403, 404 and
    refusals raise at once. When the server ends a connection that brought no new event,
    ``is_final()`` decides whether the stream is over (None: it is); a connection that did bring
    events may have been cut short, so the rest is asked for once more.

    TLS trouble (``https://`` to a plain-HTTP server, an untrusted certificate) raises at once
    too: no reconnection can fix it.

    ``max_reconnects=0`` means one connection and no reconnection: the server ending it ends
    the stream, a retryable error is raised as it is, and a drop is a :class:`TransportError`.

    ``on_attempt(attempt, delay, problem)`` is called before each reconnection's wait; the
    same facts are in :attr:`state`, :attr:`attempt` and :attr:`problem`. Stop early with
    :meth:`aclose` (or ``contextlib.aclosing``), or cancel the task reading: either closes the
    connection at once. Every error passes through ``bind`` (to name the account).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        call: str,
        error_for_response: Callable[[httpx.Response], ProviderError],
        connect_timeout: float,
        read_timeout: float | None,
        max_reconnects: int,
        backoff: float,
        backoff_cap: float,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        is_final: Callable[[], Awaitable[bool]] | None = None,
        on_attempt: Callable[[int, float, str], None] | None = None,
        bind: Callable[[ProviderError], ProviderError] = _unbound,
    ) -> None:
        self.client = client
        self.method = method
        self.url = url
        self.call = call
        self.headers = dict(headers or {})
        self.params = params
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_reconnects = max_reconnects
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.is_final = is_final
        self.on_attempt = on_attempt
        self._error_for_response = error_for_response
        self._bind = bind
        self.state = StreamState.CONNECTING
        """How the connection is doing now."""
        self.attempt = 0
        """Reconnections in a row with no event in between (0 once an event arrives)."""
        self.problem: str | None = None
        """Why the last connection ended, in words (None before any ended)."""
        self.last_event_id: str | None = None
        """The id of the last event delivered (sent back as ``Last-Event-ID``)."""
        self.retry_ms: int | None = None
        """The server's last ``retry`` (milliseconds), a floor for the reconnect delay."""
        self._events = self._run()

    def __aiter__(self) -> ResumableEvents:
        return self

    async def __anext__(self) -> ServerSentEvent:
        try:
            return await self._events.__anext__()
        except BaseException:
            self.state = StreamState.ENDED
            raise

    async def aclose(self) -> None:
        """Close the connection and end the stream (idempotent)."""
        self.state = StreamState.ENDED
        await self._events.aclose()

    def _fail(self, cls: type[ProviderError], message: str, **kwargs: Any) -> ProviderError:
        return self._bind(cls(message, **kwargs))

    async def _run(self) -> AsyncGenerator[ServerSentEvent, None]:
        timeout = httpx.Timeout(self.connect_timeout, read=self.read_timeout)
        base = str(self.client.base_url).rstrip("/") or self.url
        while True:
            headers = dict(self.headers)
            if self.last_event_id:
                headers["Last-Event-ID"] = self.last_event_id
            ended = opened = accepted = False
            error: ProviderError | None = None
            fatal: ProviderError | None = None
            problem = ""
            try:
                async with aconnect_sse(
                    self.client,
                    self.method,
                    self.url,
                    headers=headers,
                    params=self.params,
                    timeout=timeout,
                ) as source:
                    response = source.response
                    if not response.is_success:
                        await response.aread()
                        raise self._bind(self._error_for_response(response))
                    opened = True
                    self.state = StreamState.LIVE
                    async for event in source.aiter_sse():
                        if event.retry is not None and event.retry >= 0:
                            self.retry_ms = event.retry
                        if is_replay(event.id, self.last_event_id, not accepted):
                            continue
                        if event.id:
                            self.last_event_id = event.id
                        if not event.data and event.retry is not None:
                            continue  # a retry-only event
                        accepted = True
                        self.attempt = 0
                        yield event
                ended = True
                problem = "the server ended the stream"
            except httpx.ConnectTimeout:
                problem = f"could not connect within {self.connect_timeout:g} s"
            except httpx.TimeoutException:
                waited = self.read_timeout or 0.0  # None never times out a read
                if opened:
                    problem = f"no data for {waited:g} s (stalled)"
                else:
                    problem = f"no answer within {waited:g} s"
            except httpx.ConnectError as exc:
                failed = connect_failure(exc, base)
                if ssl_error_in(exc) is not None:
                    fatal = self._bind(failed)  # TLS trouble does not pass with a retry
                problem = failed.message
            except httpx.RequestError as exc:
                problem = f"the connection dropped ({type(exc).__name__})"
            except SSEError:
                # Raised outside this block: httpx-sse's error needs no place in ours.
                fatal = self._fail(
                    BadPayloadError,
                    "an answer that is not an event stream",
                    call=self.call,
                    hint="check base_url: the server did not answer with an event stream",
                )
            except ProviderError as err:
                if not err.retryable:
                    raise
                error, problem = err, err.message
            if fatal is not None:
                raise fatal
            self.problem = problem
            if self.max_reconnects <= 0:
                if ended:
                    return
                if error is not None:
                    raise error
                raise self._fail(TransportError, f"{self.call} dropped: {problem}")
            # A finished stream is over once a connection brings nothing new; one that did
            # bring events may have been cut short, so ask again for the rest.
            if ended and not accepted and (self.is_final is None or await self.is_final()):
                return
            self.attempt += 1
            if self.attempt > self.max_reconnects:
                raise self._fail(
                    TransportError,
                    f"{self.call} dropped and did not recover after {self.attempt - 1}"
                    f" reconnects (last: {problem})",
                    hint="check the network and the provider's status, then reopen the stream",
                )
            self.state = StreamState.RECONNECTING
            delay = reconnect_delay(
                self.attempt,
                backoff=self.backoff,
                backoff_cap=self.backoff_cap,
                retry_ms=self.retry_ms,
                error=error,
            )
            log.info("%s: %s; reconnecting in %.2f s", self.call, problem, delay)
            if self.on_attempt is not None:
                self.on_attempt(self.attempt, delay, problem)
            await asyncio.sleep(delay)


class LiveStream(AsyncIterator[T]):
    """An async iterator of a live stream's items (samples, statuses, log lines) that also
    tells how its connection is doing.

    :attr:`state` is a :class:`StreamState` (``connecting``, ``live``, ``reconnecting``,
    ``ended``); :attr:`attempt` counts the reconnections in a row with no event in between
    (0 while things are well); :attr:`problem` says why the last connection ended. Stop early
    with :meth:`aclose` (or ``contextlib.aclosing``), or cancel the task reading it.
    """

    def __init__(self, items: AsyncGenerator[T, None], source: ResumableEvents | None) -> None:
        self._items = items
        self._source = source
        self._ended = False

    @property
    def state(self) -> StreamState:
        """How the stream's connection is doing now."""
        if self._ended:
            return StreamState.ENDED
        return self._source.state if self._source is not None else StreamState.LIVE

    @property
    def attempt(self) -> int:
        """Reconnections in a row with no event in between (0 while things are well)."""
        return self._source.attempt if self._source is not None else 0

    @property
    def problem(self) -> str | None:
        """Why the last connection ended, in words (None before any ended)."""
        return self._source.problem if self._source is not None else None

    def __aiter__(self) -> LiveStream[T]:
        return self

    def map(self, convert: Callable[[T], U]) -> LiveStream[U]:
        """This stream with each item converted (its state stays this stream's)."""

        async def converted() -> AsyncGenerator[U, None]:
            async with contextlib.aclosing(self):
                async for item in self:
                    yield convert(item)

        return LiveStream(converted(), self._source)

    def map_async(self, convert: Callable[[T], Awaitable[U]]) -> LiveStream[U]:
        """:meth:`map` with a converter that may need I/O (awaited item by item)."""

        async def converted() -> AsyncGenerator[U, None]:
            async with contextlib.aclosing(self):
                async for item in self:
                    yield await convert(item)

        return LiveStream(converted(), self._source)

    async def __anext__(self) -> T:
        try:
            return await self._items.__anext__()
        except BaseException:
            self._ended = True
            raise

    async def aclose(self) -> None:
        """Close the connection and end the stream (idempotent)."""
        self._ended = True
        await self._items.aclose()
        if self._source is not None:
            await self._source.aclose()


__all__ = [
    "LiveStream",
    "ResumableEvents",
    "StreamState",
    "is_replay",
    "reconnect_delay",
]
