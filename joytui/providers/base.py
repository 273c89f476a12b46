"""What every provider client shares: one ``httpx.AsyncClient`` per account on one aiohttp
session (:mod:`joytui.providers.http`), a request helper that turns every failure into the error
taxonomy, helpers to build the normalized model, and the abstract public API the rest of joytui
calls. Reading what providers send is :mod:`joytui.providers.wire`'s job.

Reads may be retried (``retry=True``: at most :attr:`ProviderClient.max_retries` more
attempts, short exponential backoff, Retry-After honoured up to a small cap); writes never.
At most the account's ``max_concurrency`` requests are in flight at once, half as many after a
429 (:class:`~joytui.providers.concurrency.AdaptiveLimit`).
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import random
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

import httpx
from pydantic import BaseModel, SecretStr

from joytui import __version__
from joytui.config import Account
from joytui.model import (
    Action,
    ActionResult,
    LogLine,
    MetricSample,
    PollHints,
    Resource,
    Scalar,
    Snapshot,
    StatusEvent,
    Totals,
)
from joytui.providers.concurrency import AdaptiveLimit, gather_first_error
from joytui.providers.errors import (
    AuthError,
    BadPayloadError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    RejectedError,
    ServerError,
    TransportError,
    connect_failure,
    snippet,
)
from joytui.providers.http import AccountTransport, account_limits, env_proxy, tls_context
from joytui.providers.secrets import _LIVE_CLIENTS, MIN_SECRET_CHARS, known_secrets, mask_secrets
from joytui.providers.sse import LiveStream
from joytui.providers.wire import (
    decode_json,
    error_message_in,
    looks_like_html,
    parse_model,
    parse_retry_after,
)

log = logging.getLogger("joytui.providers")

USER_AGENT = f"joytui/{__version__}"

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


# -- the client ---------------------------------------------------------------------------------


class ProviderClient(abc.ABC):
    """An async client for one account of one provider, on one ``httpx.AsyncClient``.

    Use as ``async with make_client(...) as client:`` or call :meth:`aclose`. Secrets are kept
    only in the HTTP client's default headers (or the subclass's auth state); they never appear
    in ``repr``, in an error or in a log line.
    """

    provider: ClassVar[str] = ""
    auth_hint: ClassVar[str] = "check the account's credentials"
    secret_fields: ClassVar[tuple[str, ...]] = ()
    """Secrets this provider needs (keys of the ``secrets`` mapping)."""

    max_retries: int = 2
    """Extra attempts a read gets after a retryable failure."""
    backoff_seconds: float = 0.2
    """First pause between attempts; doubles each time (with a little jitter)."""
    retry_after_cap: float = 2.0
    """Longest Retry-After a read waits out in place; a longer one is raised at once."""

    def __init__(
        self,
        account: Account,
        secrets: Mapping[str, SecretStr],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.account = account
        self.name = account.name
        missing = [f for f in self.secret_fields if f not in secrets]
        if missing:
            raise AuthError(
                f"no {', '.join(missing)} given",
                provider=self.provider,
                account=self.name,
                hint="check the account's secrets in the config",
            )
        self._secrets: dict[str, SecretStr] = {
            k: v if isinstance(v, SecretStr) else SecretStr(str(v)) for k, v in secrets.items()
        }
        _LIVE_CLIENTS.add(self)
        self._round_trips: deque[float] = deque(maxlen=8)
        self.limit = AdaptiveLimit(account.max_concurrency)
        """Requests in flight: at most the account's ``max_concurrency``, halved by a 429."""
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        headers.update(self._default_headers())
        # An injected transport (tests) is used as it is; otherwise the account's own session.
        self._session: AccountTransport | None = None
        if transport is None:
            transport = self._session = AccountTransport(
                verify=tls_context(account.base_url, account.verify_tls),
                limits=account_limits(account.max_concurrency),
                timeout_seconds=account.timeout_seconds,
                proxy=env_proxy(account.base_url),
            )
        self.http = httpx.AsyncClient(
            base_url=account.base_url,
            timeout=httpx.Timeout(account.timeout_seconds),
            verify=account.verify_tls,
            headers=headers,
            transport=transport,
            follow_redirects=False,
        )
        self._base = account.base_url.rstrip("/")
        self._header_source: list[tuple[bytes, bytes]] = []
        self._headers: dict[str, str] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client (idempotent)."""
        await self.http.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.provider} {self.name!r} at {self.account.base_url}>"

    # -- hooks for subclasses -----------------------------------------------------------------

    def _default_headers(self) -> dict[str, str]:
        """Headers sent on every request (static auth headers go here)."""
        return {}

    def _secret(self, field: str) -> str:
        """The plain value of a secret, for building a header or a login body only."""
        return self._secrets[field].get_secret_value()

    def secret_values(self) -> list[str]:
        """The plain values this client must never show: its account's secrets (subclasses
        add live tokens). Read by :func:`mask_secrets` for every client's messages."""
        return [secret.get_secret_value() for secret in self._secrets.values()]

    def _scrub(self, text: str) -> str:
        """``text`` with every secret of every account masked (:func:`mask_secrets`)."""
        return mask_secrets(text)

    def _bind(self, err: ProviderError) -> ProviderError:
        """Name this account in ``err`` and mask any secret that slipped into it."""
        err.bind(self.provider, self.name)
        err.message = self._scrub(err.message)
        err.hint = self._scrub(err.hint)
        err.args = (err.message,)
        return err

    def error(self, cls: type[ProviderError], message: str, **kwargs: Any) -> ProviderError:
        """A bound error of class ``cls`` for this account (to ``raise``)."""
        return self._bind(cls(message, **kwargs))

    def parse(self, model: type[M], data: Any, call: str) -> M:
        """:func:`parse_model`, with errors naming this account."""
        try:
            return parse_model(model, data, call)
        except ProviderError as err:
            self._bind(err)
            raise

    def apply_reader(self, reader: Callable[[Any], T], data: Any) -> T:
        """``reader(data)`` (a pure wire reader), with its errors naming this account."""
        try:
            return reader(data)
        except ProviderError as err:
            self._bind(err)
            raise

    def decode(self, response: httpx.Response, call: str) -> Any:
        """:func:`decode_json` of ``response``'s body (None for 204), naming this account."""
        if response.status_code == 204:
            return None
        try:
            return decode_json(response.content, call)
        except ProviderError as err:
            err.status = response.status_code
            self._bind(err)
            raise

    def provider_message(self, response: httpx.Response) -> str:
        """What the provider said in an error answer, shortened: its ``error``/``message``
        field, ``an HTML page, not JSON``, or a snippet of plain text."""
        content = response.content[:8192]
        text = content.decode("utf-8", "replace")
        if not text.strip():
            return ""
        if looks_like_html(text) or "html" in response.headers.get("content-type", ""):
            return "an HTML page, not JSON"
        try:
            data = decode_json(content, "error")
        except ProviderError:
            return snippet(text, 80)
        return snippet(error_message_in(data), 160)

    def error_for_response(self, response: httpx.Response, call: str) -> ProviderError:
        """The taxonomy error for a non-2xx answer (subclasses refine it per API)."""
        status = response.status_code
        said = self.provider_message(response)
        if status in (401, 403):
            word = "credentials refused" if status == 401 else "access denied"
            msg = f"{word} ({status})" + (f": {said}" if said else "")
            return AuthError(msg, status=status, hint=self.auth_hint)
        if status == 404:
            msg = f"not found (404) at {call}" + (f": {said}" if said else "")
            return NotFoundError(msg, status=status)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return RateLimitedError("rate limited (429)", status=status, retry_after=retry_after)
        if status >= 500 or status == 408:
            if said == "an HTML page, not JSON":
                detail = f" ({said})"
            else:
                detail = f": {said}" if said else ""
            return ServerError(f"server error {status}{detail}", status=status)
        if 300 <= status < 400:
            where = snippet(response.headers.get("location", "elsewhere"), 80)
            return TransportError(
                f"unexpected redirect ({status}) to {where}",
                status=status,
                hint="check base_url (http or https? a trailing path?)",
            )
        msg = f"refused ({status})" + (f": {said}" if said else "")
        return RejectedError(msg, status=status)

    # -- requests -----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        call: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = False,
    ) -> httpx.Response:
        """Send one request; return a 2xx response or raise a bound :class:`ProviderError`.

        ``retry=True`` (reads only) retries transport, server and rate-limit failures up to
        :attr:`max_retries` times; writes must leave it False.
        """
        call = call or f"{method} {path}"
        attempts = 1 + (max(0, self.max_retries) if retry else 0)
        for attempt in range(attempts):
            try:
                response = await self._limited_send(method, path, call, json, params, headers)
                if response.is_success:
                    return response
                raise self._bind(self.error_for_response(response, call))
            except ProviderError as err:
                delay = self._retry_delay(err, attempt) if attempt + 1 < attempts else None
                if delay is None:
                    raise
                log.debug(
                    "%s %r: %s failed (%s); retrying in %.2f s", *self._who(), call, err.kind, delay
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        call: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = False,
    ) -> Any:
        """:meth:`request`, then :meth:`decode` of the body (None for 204)."""
        call = call or f"{method} {path}"
        response = await self.request(
            method, path, call=call, json=json, params=params, headers=headers, retry=retry
        )
        return self.decode(response, call)

    def _who(self) -> tuple[str, str]:
        return self.provider, self.name

    async def _limited_send(
        self,
        method: str,
        path: str,
        call: str,
        body: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        """:meth:`_send` within :attr:`limit`: a 429 narrows it, a success widens it slowly."""
        taken = await self.limit.acquire()
        ok = rate_limited = False
        try:
            response = await self._send(method, path, call, body, params, headers)
            rate_limited = response.status_code == 429
            ok = response.status_code < 500 and not rate_limited
            return response
        finally:
            self.limit.release(taken, ok=ok, rate_limited=rate_limited)

    def _direct(self) -> AccountTransport | None:
        """The session to send on without httpx's per-request work, or None to go through
        ``self.http`` (an injected transport, or event hooks that must see every request)."""
        hooks = self.http.event_hooks
        if self._session is None or hooks["request"] or hooks["response"] or self.http.is_closed:
            return None  # a closed client refuses through httpx, as it always did
        return self._session

    def _send_headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        """``self.http``'s headers (as httpx would send them) with ``extra`` over them."""
        raw = self.http.headers.raw
        if raw != self._header_source:  # rebuilt only when someone changed them
            self._header_source = raw
            self._headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}
        if not extra:
            return self._headers
        merged = dict(self._headers)
        merged.update((k.lower(), v) for k, v in extra.items())
        return merged

    async def _exchange(
        self,
        method: str,
        path: str,
        body: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        """One request and its whole answer, on the session directly where possible."""
        session = self._direct()
        if session is None:
            return await self.http.request(method, path, json=body, params=params, headers=headers)
        url = f"{self._base}/{path.lstrip('/')}"
        if params:
            url = str(httpx.URL(url, params=params))
        sent = self._send_headers(headers)
        content = None
        if body is not None:
            # Encoded as httpx encodes json=.
            text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            content = text.encode("utf-8")
            sent = {**sent, "content-type": "application/json"}
        return await session.send(method, url, sent, content)

    async def _send(
        self,
        method: str,
        path: str,
        call: str,
        body: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        started = time.monotonic()
        seconds = self.account.timeout_seconds
        # Errors are raised outside the except blocks so that httpx's exception (which holds
        # the request, auth headers and all) never rides along as __context__.
        failure: ProviderError | None = None
        try:
            # A read timeout is per read: a server dripping a byte at a time never trips it.
            # This deadline covers the whole exchange (connect, write, headers, body).
            async with asyncio.timeout(seconds):
                response = await self._exchange(method, path, body, params, headers)
        except (TimeoutError, httpx.TimeoutException):
            failure = TransportError(f"timed out after {seconds:g} s")
        except httpx.ConnectError as exc:
            failure = connect_failure(exc, self.account.base_url)
        except httpx.DecodingError:
            failure = BadPayloadError("an answer that could not be decoded", call=call)
        except httpx.RequestError as exc:
            failure = TransportError(f"connection failed during {call} ({type(exc).__name__})")
        if failure is not None:
            raise self._bind(failure)
        elapsed = time.monotonic() - started
        self._round_trips.append(elapsed)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %r: %s -> %s in %.0f ms",
                *self._who(),
                call,
                response.status_code,
                elapsed * 1000,
            )
        return response

    def slowest_round_trip(self) -> float:
        """The slowest of the last few exchanges, in seconds (0 before the first)."""
        return max(self._round_trips, default=0.0)

    def typical_round_trip(self) -> float:
        """The median of the last few exchanges, in seconds (0 before the first)."""
        return statistics.median(self._round_trips) if self._round_trips else 0.0

    def _retry_delay(self, err: ProviderError, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None to give up now."""
        if not err.retryable:
            return None
        if isinstance(err, RateLimitedError) and err.retry_after is not None:
            # A longer wait than the cap is the poller's business, not this call's.
            return err.retry_after if err.retry_after <= self.retry_after_cap else None
        return self.backoff_seconds * (2**attempt) * (1 + 0.25 * random.random())

    # -- building the normalized model --------------------------------------------------------

    def resource(self, **fields: Any) -> Resource:
        """A :class:`Resource` of this account (``provider`` and ``account`` filled in)."""
        detail = {k: v for k, v in (fields.pop("detail", None) or {}).items() if v is not None}
        return Resource(provider=self.provider, account=self.name, detail=detail, **fields)

    def make_snapshot(
        self, resources: list[Resource], figures: dict[str, Scalar] | None = None
    ) -> Snapshot:
        """A :class:`Snapshot` of ``resources`` with totals (:meth:`snapshot` stamps its
        latency)."""
        totals = Totals.from_resources(self.provider, self.name, resources, figures)
        return Snapshot(
            provider=self.provider,
            account=self.name,
            resources=resources,
            totals=totals,
            fetched_at=time.time(),
        )

    def sample(self, resource_id: str, **fields: Any) -> MetricSample:
        """A :class:`MetricSample` of this account, taken now."""
        return MetricSample(
            provider=self.provider,
            account=self.name,
            resource_id=resource_id,
            time=time.time(),
            **fields,
        )

    # -- the public API -----------------------------------------------------------------------

    async def snapshot(self, hints: PollHints | None = None) -> Snapshot:
        """Every resource of the account, with totals (reads only); ``latency_ms`` is how long
        the whole snapshot took.

        ``hints=None`` asks for a complete one-shot snapshot (``joytui list``). Hints mean a
        poll that repeats (the dashboard, the exporter): a provider that cannot fetch
        everything every poll (Joy's per-machine ``machine_info``) may spread that work over
        polls, ``hints.priority_ids`` (the rows on screen) first. Others ignore the hints.
        """
        return await self.timed(self._snapshot(hints))

    async def timed(self, work: Awaitable[Snapshot]) -> Snapshot:
        """Await ``work`` and stamp the snapshot with how long it took: the one place a
        snapshot's latency is measured."""
        started = time.monotonic()
        snapshot = await work
        return snapshot.model_copy(update={"latency_ms": (time.monotonic() - started) * 1000})

    @abc.abstractmethod
    async def _snapshot(self, hints: PollHints | None) -> Snapshot:
        """What :meth:`snapshot` returns, untimed (each provider's own work)."""

    @abc.abstractmethod
    async def actions(self, resource: Resource) -> list[Action]:
        """The actions ``resource`` offers now."""

    @abc.abstractmethod
    async def perform(self, resource: Resource, action_id: str, **params: Any) -> ActionResult:
        """Do ``action_id`` to ``resource`` (never retried).

        A refusal by the provider (kind ``rejected``) comes back as ``ok=False`` with the
        provider's words; every other failure raises :class:`ProviderError`.
        """

    @abc.abstractmethod
    async def metrics(self, resource: Resource) -> MetricSample | None:
        """A fresh reading of ``resource``'s live metrics, or None if it has none."""

    async def related(self, resource: Resource) -> dict[str, list[str]]:
        """Lists the detail shows beside a resource's fields, by title (a Jamsocket service's
        images); empty where the API has none. Reads only."""
        return {}

    async def check(self) -> None:
        """One cheap authenticated read, to probe the account (``joytui config check``)."""
        await self.snapshot()

    # -- live streams (None: the API offers no such stream) -----------------------------------

    def metric_stream(self, resource: Resource) -> LiveStream[MetricSample] | None:
        """``resource``'s live metrics as they come, or None if the API offers no such stream.

        Every stream (this one, :meth:`status_stream`, :meth:`log_stream`) is a
        :class:`~joytui.providers.sse.LiveStream`: an async iterator that reconnects by itself
        and tells its caller how it is doing, for a UI to show ``reconnecting… (attempt 3)``:

        - ``stream.state``: a :class:`~joytui.providers.sse.StreamState`, one of
          ``connecting`` (first connection opening), ``live`` (connected), ``reconnecting``
          (connection lost, waiting out the backoff or opening the next one) and ``ended``
          (finished, failed or closed);
        - ``stream.attempt``: reconnections in a row with no item in between (0 while well);
        - ``stream.problem``: why the last connection ended, in words.

        Reading is ``async for``; a failure it cannot recover from raises a
        :class:`ProviderError` naming the account. Stop early with ``aclose()`` (or
        ``contextlib.aclosing``), or cancel the task reading: either closes the connection.
        Calling this opens nothing until the first item is asked for.
        """
        return None

    def status_stream(self, resource: Resource) -> LiveStream[StatusEvent] | None:
        """Each status ``resource`` passes through (the last one ``final``), or None if the
        API offers no such stream. A :class:`~joytui.providers.sse.LiveStream`, as
        :meth:`metric_stream` describes."""
        return None

    def log_stream(self, resource: Resource) -> LiveStream[LogLine] | None:
        """``resource``'s log lines as they come, or None if the API offers no such stream. A
        :class:`~joytui.providers.sse.LiveStream`, as :meth:`metric_stream` describes."""
        return None

    # -- helpers for perform() ----------------------------------------------------------------

    def unknown_action(
        self, resource: Resource, action_id: str, known: Sequence[str]
    ) -> ProviderError:
        """The error for an action ``resource`` does not offer (to ``raise``)."""
        return self.error(
            RejectedError,
            f"{resource.kind} {resource.name!r} has no action {action_id!r}",
            hint=f"expected one of {', '.join(known)}" if known else "it offers no actions",
        )

    async def run_action(self, coro: Awaitable[ActionResult]) -> ActionResult:
        """Await an action's coroutine; a ``rejected`` refusal becomes ``ok=False``."""
        try:
            return await coro
        except RejectedError as err:
            return ActionResult(ok=False, message=err.message)


__all__ = [
    "MIN_SECRET_CHARS",
    "USER_AGENT",
    "ProviderClient",
    "gather_first_error",
    "known_secrets",
    "mask_secrets",
]
