"""One error taxonomy for every provider client.

Every failure a client meets becomes a :class:`ProviderError` subclass whose ``str`` is one
line a person can act on, naming the provider and the account::

    cockpit 'lab': login refused (401) — check username and password
    joy 'x': server error 500 (an HTML page, not JSON) — the provider is having trouble; ...

Messages are built from the client's own words plus at most a short, sanitized snippet of
what the provider said (:func:`snippet`); never a whole body, never a header, never a secret.
"""

from __future__ import annotations

import re
import ssl
from typing import Any, ClassVar

KINDS = (
    "auth",
    "not_found",
    "rate_limited",
    "server",
    "transport",
    "bad_payload",
    "rejected",
)
"""Every ``ProviderError.kind``. ``rejected`` (the provider understood the request and refused
it: 400/409/422, Joy's ``invalid_state``) is the one addition to the six of DESIGN.md."""

RETRYABLE_KINDS = frozenset({"transport", "server", "rate_limited"})

SNIPPET_CHARS = 120

_DEFAULT_HINTS = {
    "auth": "check the account's credentials",
    "not_found": "it may have been deleted; refresh the list",
    "rate_limited": "the provider is limiting requests; joytui will retry later",
    "server": "the provider is having trouble; joytui will retry",
    "transport": "check base_url and the network",
    "bad_payload": "the API answered in an unexpected shape",
    "rejected": "the provider refused the request; check the resource's state",
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
# "Bearer x", "api_key": "x", password=x: mask the value, keep the name.
_TOKENISH = re.compile(
    r"(?i)(bearer\s+|(?:token|key|password|secret)[\"']?\s*[=:]\s*[\"']?)[^\s\"',}]+"
)


def snippet(text: Any, limit: int = SNIPPET_CHARS, *, mask: bool = True) -> str:
    """A short, single-line, sanitized excerpt of ``text`` fit for an error message.

    Control characters and runs of whitespace become one space, anything that looks like a
    credential (``Bearer x``, ``token: x``) is masked (unless ``mask`` is False: for our own
    words, where ``api_token: expected a string`` is a field path, not a credential), and the
    result is cut to ``limit``.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    value = " ".join(_CONTROL.sub(" ", str(text)).split())
    if mask:
        value = _TOKENISH.sub(lambda m: m.group(1) + "***", value)
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value


class ProviderError(Exception):
    """A failure talking to a provider, in words a person can act on.

    ``kind`` is one of :data:`KINDS`; ``status`` is the HTTP status (or None);
    ``retry_after`` is seconds the provider asked us to wait (or None). ``provider`` and
    ``account`` may be filled in later by the client (:meth:`bind`), so pure wire readers
    can raise without knowing whose payload they read.
    """

    kind: ClassVar[str] = "server"
    default_hint: ClassVar[str] = _DEFAULT_HINTS["server"]

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        account: str = "",
        hint: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        # Provider words inside ``message`` were masked when they were cut (snippet()).
        self.message = snippet(message, 300, mask=False)
        self.provider = provider
        self.account = account
        self.hint = self.default_hint if hint is None else hint
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether trying again later may succeed (transport, server, rate limited)."""
        return self.kind in RETRYABLE_KINDS

    def bind(self, provider: str, account: str) -> ProviderError:
        """Fill in the provider and account if still unknown; returns ``self``."""
        if not self.provider:
            self.provider = provider
        if not self.account:
            self.account = account
        return self

    @property
    def where(self) -> str:
        """``joy 'x'``: who the error is about."""
        if self.provider and self.account:
            return f"{self.provider} {self.account!r}"
        return self.provider or (repr(self.account) if self.account else "")

    def __str__(self) -> str:
        head = f"{self.where}: " if self.where else ""
        tail = f" — {self.hint}" if self.hint else ""
        return f"{head}{self.message}{tail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep every attribute across pickling (multiprocessing, copy).
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[ProviderError], state: dict[str, Any]) -> ProviderError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


class AuthError(ProviderError):
    """Credentials refused (401/403, Joy's ``invalid_api_credentials``, a refused login)."""

    kind = "auth"
    default_hint = _DEFAULT_HINTS["auth"]


class NotFoundError(ProviderError):
    """The resource (or the path) does not exist (404)."""

    kind = "not_found"
    default_hint = _DEFAULT_HINTS["not_found"]


class RateLimitedError(ProviderError):
    """Too many requests (429); ``retry_after`` holds the provider's Retry-After, if any."""

    kind = "rate_limited"
    default_hint = _DEFAULT_HINTS["rate_limited"]

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        account: str = "",
        hint: str | None = None,
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        if hint is None and retry_after is not None:
            hint = f"the provider is limiting requests; joytui will retry in {retry_after:g} s"
        super().__init__(
            message,
            provider=provider,
            account=account,
            hint=hint,
            status=status,
            retry_after=retry_after,
        )


class ServerError(ProviderError):
    """The provider failed (5xx, an HTML error page, a ``success: false`` with no reason)."""

    kind = "server"
    default_hint = _DEFAULT_HINTS["server"]


class TransportError(ProviderError):
    """No usable answer: timeout, refused connection, connection dropped mid-answer."""

    kind = "transport"
    default_hint = _DEFAULT_HINTS["transport"]


class RejectedError(ProviderError):
    """The provider understood the request and refused it (400/409/422, ``invalid_state``)."""

    kind = "rejected"
    default_hint = _DEFAULT_HINTS["rejected"]


class BadPayloadError(ProviderError):
    """An answer that is not what the API promises: not JSON, cut short, wrong shape.

    ``call`` names the operation (``machine_info``, ``GET /api/v1/vms``); ``field`` the
    dotted path of the offending field, when one is known.
    """

    kind = "bad_payload"
    default_hint = _DEFAULT_HINTS["bad_payload"]

    def __init__(
        self,
        problem: str,
        *,
        call: str,
        field: str | None = None,
        provider: str = "",
        account: str = "",
        hint: str | None = None,
        status: int | None = None,
    ) -> None:
        where = f"{field}: " if field else ""
        super().__init__(
            f"bad payload from {call}: {where}{problem}",
            provider=provider,
            account=account,
            hint=hint,
            status=status,
        )
        self.call = call
        self.field = field
        self.problem = problem


_NOT_TLS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",
        "HTTP_REQUEST",
        "PACKET_LENGTH_TOO_LONG",
        "UNKNOWN_PROTOCOL",
    }
)
"""OpenSSL's words when the other end answered a TLS hello with something that is not TLS."""


def ssl_error_in(exc: BaseException) -> ssl.SSLError | None:
    """The :class:`ssl.SSLError` behind a connection failure (httpx wraps it twice), if any."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        todo.extend(a for a in current.args if isinstance(a, BaseException))
    return None


def connect_failure(exc: BaseException, base_url: str) -> TransportError:
    """The error for a connection that could not be made, telling TLS trouble (``https://``
    to a plain-HTTP server, an untrusted certificate) apart from no connection at all."""
    found = ssl_error_in(exc)
    if found is None:
        return TransportError(f"could not connect to {base_url}")
    if isinstance(found, ssl.SSLCertVerificationError):
        reason = snippet(found.verify_message or found.reason or "verification failed", 80)
        return TransportError(
            f"TLS certificate of {base_url} not trusted ({reason})",
            hint="check the server's certificate and this machine's clock, or set "
            "verify_tls = false for a server you trust",
        )
    reason = str(found.reason or "").upper()
    if reason in _NOT_TLS and base_url.startswith("https://"):
        plain = "http://" + base_url.removeprefix("https://")
        return TransportError(
            f"TLS handshake with {base_url} failed: is the server plain HTTP?",
            hint=f"try {plain} as base_url",
        )
    words = snippet(found.reason or found.strerror or type(found).__name__, 60)
    return TransportError(
        f"TLS handshake with {base_url} failed ({words})",
        hint="check base_url and the server's TLS setup",
    )


ERROR_CLASSES: dict[str, type[ProviderError]] = {
    "auth": AuthError,
    "not_found": NotFoundError,
    "rate_limited": RateLimitedError,
    "server": ServerError,
    "transport": TransportError,
    "rejected": RejectedError,
}
"""Error class by kind (``bad_payload`` is built with :class:`BadPayloadError` directly)."""


__all__ = [
    "ERROR_CLASSES",
    "KINDS",
    "RETRYABLE_KINDS",
    "AuthError",
    "BadPayloadError",
    "NotFoundError",
    "ProviderError",
    "RateLimitedError",
    "RejectedError",
    "ServerError",
    "TransportError",
    "connect_failure",
    "snippet",
    "ssl_error_in",
]
