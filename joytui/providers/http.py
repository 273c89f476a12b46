"""The HTTP under every client: one aiohttp session per account, behind the httpx API.

httpx stays the interface (requests, responses, event hooks, ``httpx.MockTransport`` in
tests, httpx-sse streams); :class:`AccountTransport` is httpx-aiohttp's ``AiohttpTransport``
on the account's own ``aiohttp.ClientSession``: bounded pool, the config's timeouts, TLS
verification as the config says. Its :meth:`AccountTransport.send` also sends a whole
request on that session without httpx's per-request machinery (URL and header models, cookie
jar, auth and redirect flows), the path :class:`~joytui.providers.base.ProviderClient` takes
for plain reads and writes: half the client CPU of a request, which is what lets ``joytui
list`` keep up with 4,000 machine_info answers a second.

What the transport does not do, and why nothing of ours needs it:

- write timeout: aiohttp has none. ``ProviderClient`` puts one deadline over each whole
  exchange (``timeout_seconds``), which covers the write; bodies are small JSON.
- HTTP/2: nothing here asks for it (httpx's default is HTTP/1.1 as well).
- event hooks: they belong to ``httpx.AsyncClient``, so they run on any transport; a client
  with hooks sends through httpx, so tests see every request.
- proxies from the environment: httpx mounts them only on its own transport, so the session
  is given the one ``HTTP(S)_PROXY``/``ALL_PROXY``/``NO_PROXY`` name for the account's host,
  read once (aiohttp's ``trust_env`` would look it up, and ``.netrc``, in a thread on every
  request: two thread hops per machine_info).
- cookies: none of the four APIs uses them; the session keeps none.

Event streams (httpx-sse) run on the transport too: the stream's own read timeout becomes
aiohttp's per-read ``sock_read`` (None: none), so a stalled stream is noticed and resumed as
on httpx's transport (tests/providers/test_sse.py runs every case on both).

httpx-aiohttp 0.2 maps every ``aiohttp.ClientConnectionError`` to ``httpx.ConnectTimeout``
(a refused connection or a dropped one would read "timed out"), and chains the aiohttp
exception, an ``ssl.SSLError`` subclass without the ``reason`` OpenSSL gives. So both paths
map aiohttp's exceptions here, precisely, with the underlying ``OSError``/``SSLError`` (and
nothing else) as the cause, for :func:`~joytui.providers.errors.connect_failure` to read.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import AiohttpResponseStream

POOL_HEADROOM = 8
"""Connections an account may open beyond its ``max_concurrency``: long-lived event streams
and a write while a fan-out fills every request slot."""
KEEPALIVE_SECONDS = 15.0
"""How long an idle connection is kept for reuse: aiohttp's default, longer than the usual
poll interval (5 s), so a repeating poll reuses its connections instead of opening them all
again (httpx's 5 s expired them just before each poll). A server that closes sooner is
noticed by the pool (the closed socket is dropped) and a new connection is opened."""


def account_limits(max_concurrency: int) -> httpx.Limits:
    """The pool limits of an account allowed ``max_concurrency`` requests in flight."""
    return httpx.Limits(
        max_connections=max_concurrency + POOL_HEADROOM,
        max_keepalive_connections=max_concurrency + POOL_HEADROOM,
        keepalive_expiry=KEEPALIVE_SECONDS,
    )


def aiohttp_timeout(seconds: float) -> aiohttp.ClientTimeout:
    """aiohttp's timeouts for one request of ``seconds``: connecting (pool wait included),
    and each read; no total, which ``ProviderClient``'s deadline and streams decide."""
    return aiohttp.ClientTimeout(
        total=None, connect=seconds, sock_connect=seconds, sock_read=seconds
    )


_TLS_CONTEXTS: dict[bool, ssl.SSLContext] = {}


def tls_context(base_url: str, verify: bool) -> ssl.SSLContext:
    """httpx's TLS context for ``verify`` (certifi's roots, or no checks), made once per
    process and shared: loading the roots takes about 20 ms an account. A plain-HTTP account
    never uses one, so it gets the one that loads nothing."""
    if not base_url.startswith("https://"):
        verify = False  # never used: redirects are not followed, so no hop to https
    context = _TLS_CONTEXTS.get(verify)
    if context is None:
        context = _TLS_CONTEXTS[verify] = httpx.create_ssl_context(verify=verify)
    return context


def env_proxy(base_url: str) -> str | None:
    """The proxy the environment names for ``base_url`` (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``; none for a host ``NO_PROXY`` lists), or None."""
    parts = urlsplit(base_url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all") or None


def _failure(exc: BaseException) -> tuple[type[httpx.TransportError], BaseException | None]:
    """The httpx exception class an aiohttp failure stands for, and its cause (the OS or TLS
    error underneath, if any)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return httpx.ConnectError, exc.certificate_error
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout, None
    if isinstance(exc, aiohttp.ServerTimeoutError):  # SocketTimeoutError: a read timed out
        return httpx.ReadTimeout, None
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return httpx.ProxyError, getattr(exc, "os_error", None)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake
        return httpx.ConnectError, exc.os_error
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError, None
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.ReadError, exc.__cause__
    if isinstance(exc, aiohttp.ClientOSError):  # reset while sending or reading
        return httpx.ReadError, exc
    if isinstance(exc, aiohttp.NonHttpUrlClientError | aiohttp.InvalidUrlClientError):
        return httpx.UnsupportedProtocol, None
    if isinstance(exc, aiohttp.ClientResponseError):  # a malformed status line or header
        return httpx.RemoteProtocolError, None
    return httpx.NetworkError, None


def to_httpx_error(exc: BaseException, request: httpx.Request | None = None) -> httpx.HTTPError:
    """The httpx exception for an aiohttp failure (raise it outside the ``except`` block, so
    the aiohttp exception is not chained as its context)."""
    if isinstance(exc, httpx.HTTPError):
        return exc
    cls, cause = _failure(exc)
    error = cls(str(exc) or type(exc).__name__, request=request)
    error.__cause__ = cause
    return error


class _Body(httpx.AsyncByteStream):
    """httpx-aiohttp's response stream with its failures mapped by :func:`to_httpx_error`
    (a stalled SSE stream must read as a read timeout, a dropped one as a dropped one)."""

    def __init__(self, inner: AiohttpResponseStream, request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self._inner.__aiter__()
        while True:
            failure: BaseException | None = None
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                return
            except httpx.HTTPError as exc:
                failure = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
            if failure is not None:
                raise to_httpx_error(failure, self._request)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class AccountTransport(AiohttpTransport):
    """httpx-aiohttp's transport on one account's aiohttp session (made on first use, on the
    loop that uses it): pool limits, timeouts, TLS verification; precise errors."""

    def __init__(
        self,
        *,
        verify: bool | ssl.SSLContext,
        limits: httpx.Limits,
        timeout_seconds: float,
        proxy: str | None = None,
    ) -> None:
        super().__init__(verify=verify, limits=limits)
        self.timeout_seconds = timeout_seconds
        self.proxy_url = proxy
        """Every request goes through this proxy (None: straight to the host)."""
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The account's aiohttp session (made now if there is none yet)."""
        if self._session is None or self._session.closed:
            self._session = self._new_session()
            self.client = self._session  # what AiohttpTransport sends on
        return self._session

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.limits.max_connections or 0,
            limit_per_host=0,  # one account talks to one host: ``limit`` is the bound
            keepalive_timeout=self.limits.keepalive_expiry or KEEPALIVE_SECONDS,
            ssl=self.ssl_context,
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp_timeout(self.timeout_seconds),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # httpx.Response decodes, as on every transport
            proxy=self.proxy_url,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through httpx-aiohttp on the account's session."""
        self.client = self.session
        failure: BaseException | None = None
        try:
            response = await super().handle_async_request(request)
        except httpx.HTTPError as exc:  # httpx-aiohttp's own mapping: redo it precisely
            failure = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        if failure is not None:
            raise to_httpx_error(failure, request)
        stream = response.stream
        if isinstance(stream, AiohttpResponseStream):
            response.stream = _Body(stream, request)
        return response

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
    ) -> httpx.Response:
        """One whole exchange on the session, without httpx's per-request machinery: the
        answer read in full, as an ``httpx.Response`` (decoded as httpx would). Failures are
        httpx exceptions (:func:`to_httpx_error`). Redirects are not followed."""
        failure: BaseException | None = None
        try:
            async with self.session.request(
                method, url, headers=headers, data=content, allow_redirects=False
            ) as answer:
                body = await answer.read()
                status, raw_headers = answer.status, answer.raw_headers
        except aiohttp.ClientError as exc:
            failure = exc
        if failure is not None:
            raise to_httpx_error(failure)
        return httpx.Response(status, headers=raw_headers, content=body)

    async def aclose(self) -> None:
        """Close the session and its connections (idempotent)."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.client = None


__all__ = [
    "KEEPALIVE_SECONDS",
    "POOL_HEADROOM",
    "AccountTransport",
    "account_limits",
    "aiohttp_timeout",
    "tls_context",
    "to_httpx_error",
]
