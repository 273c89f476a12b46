"""What every provider client shares: one ``httpx.AsyncClient`` per account, a request helper
that turns every failure into the error taxonomy, a tolerant JSON decoder, tolerant field
readers for the wire models, and the abstract public API the rest of joytui calls.

Reads may be retried (``retry=True``: at most :attr:`ProviderClient.max_retries` more
attempts, short exponential backoff, Retry-After honoured up to a small cap); writes never.
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Annotated, Any, ClassVar, Self, TypeVar

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError

from joytui import __version__
from joytui.config import Account
from joytui.model import (
    Action,
    ActionResult,
    MetricSample,
    Resource,
    Scalar,
    Snapshot,
    Status,
    Totals,
)
from joytui.providers.errors import (
    AuthError,
    BadPayloadError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    RejectedError,
    ServerError,
    TransportError,
    snippet,
)

log = logging.getLogger("joytui.providers")

USER_AGENT = f"joytui/{__version__}"
MS_THRESHOLD = 1e11
"""Epoch values at or above this are milliseconds (1e11 seconds is the year 5138)."""

M = TypeVar("M", bound=BaseModel)


# -- tolerant readers ---------------------------------------------------------------------------


def to_float(value: Any) -> float | None:
    """A number from a number or a numeric string; None for null or ``""``.

    Raises ``ValueError("expected a number")`` for anything else (booleans included).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            raise ValueError("expected a number") from None
    else:
        raise ValueError("expected a number")
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def to_int(value: Any) -> int | None:
    """An integer from an int, a float (rounded) or a numeric string; None for null or ``""``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = to_float(value)
    if number is None:
        return None
    if abs(number) > 2**63:
        raise ValueError("expected an integer of a sane size")
    return round(number)


_TRUE = frozenset({"true", "1", "yes", "on", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "off", "n", "f"})


def to_bool(value: Any) -> bool | None:
    """A boolean from true/false, 1/0 or the strings ``"true"``/``"false"``/``"1"``/``"0"``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError("expected true or false")


def to_timestamp(value: Any) -> float | None:
    """Unix seconds from ISO 8601 text, epoch seconds or epoch milliseconds (number or string).

    A time without a zone is taken as UTC. None for null or ``""``.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError("expected a time (ISO 8601 or epoch seconds)") from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise ValueError("expected a time (ISO 8601 or epoch seconds)")
    if not math.isfinite(number):
        raise ValueError("expected a finite time")
    return number / 1000 if abs(number) >= MS_THRESHOLD else number


def scaled_int(value: float | None, factor: float = 1.0) -> int | None:
    """``value * factor`` as an int (bytes from MiB, say); None if missing or absurdly large."""
    if value is None:
        return None
    result = value * factor
    if not math.isfinite(result) or abs(result) >= 2**63:
        return None
    return int(result)


def percent(fraction: float | None) -> float | None:
    """A 0-1 fraction as a percentage rounded to 0.01; None if missing or not finite."""
    if fraction is None:
        return None
    result = fraction * 100
    return round(result, 2) if math.isfinite(result) else None


def to_text(value: Any) -> str | None:
    """A string from a string or a number (ids sometimes arrive as numbers); None for null."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError("expected a string")


Num = Annotated[float | None, BeforeValidator(to_float)]
"""A tolerant number field: ``1.5``, ``"1.5"``, null."""
Int = Annotated[int | None, BeforeValidator(to_int)]
"""A tolerant integer field: ``4``, ``"4"``, ``4.0``, null."""
Bool = Annotated[bool | None, BeforeValidator(to_bool)]
"""A tolerant boolean field: ``true``, ``"true"``, ``1``, ``"0"``, null."""
Timestamp = Annotated[float | None, BeforeValidator(to_timestamp)]
"""A tolerant time field, read as Unix seconds."""
Text = Annotated[str | None, BeforeValidator(to_text)]
"""A tolerant string field: numbers become their decimal text."""
Ident = Annotated[str, BeforeValidator(to_text), Field(min_length=1)]
"""A required, non-empty id (a number is taken as its decimal text)."""


class WireModel(BaseModel):
    """Base of every wire model: unknown fields ignored, fields settable by name or alias."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


_PROBLEMS = {
    "missing": "missing",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "dict_type": "expected an object",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "literal_error": "unexpected value",
    "too_long": "too many items",
    "string_too_short": "empty",
    "recursion_loop": "nested too deeply",
}


def describe_validation_error(exc: ValidationError) -> tuple[str | None, str]:
    """(dotted field path, problem) of the first error, never quoting the offending value."""
    first = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(p) for p in first["loc"]) or None
    kind = first["type"]
    problem = _PROBLEMS.get(kind)
    if problem is None:
        if kind == "value_error":
            # Our own readers' messages ("expected a number"), without pydantic's prefix.
            problem = str(first.get("ctx", {}).get("error", "")) or "invalid value"
        else:
            problem = kind.replace("_", " ")
    return field, snippet(problem, 80)


def parse_model(model: type[M], data: Any, call: str) -> M:
    """Validate ``data`` into ``model``; any mismatch raises :class:`BadPayloadError` for
    ``call`` naming the field (never quoting the value)."""
    # Raised outside the except blocks: pydantic's error holds the input, which may hold a
    # secret (Joy's account_info), so it must not ride along as __context__.
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, problem = describe_validation_error(exc)
    except (ValueError, TypeError, RecursionError):
        field, problem = None, "could not be read"
    raise BadPayloadError(problem, call=call, field=field)


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith("<") and ("html" in head or "<body" in head or "<head" in head)


def _loads(text: str) -> tuple[Any, str | None]:
    """(value, None) or (None, the problem)."""
    try:
        return json.loads(text), None
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError as exc:
        if _looks_like_html(text):
            return None, "an HTML page, not JSON"
        cut = isinstance(exc, json.JSONDecodeError) and exc.pos >= len(text.rstrip()) - 1
        return None, "JSON cut short" if cut else "not valid JSON"


def decode_json(content: bytes | str, call: str) -> Any:
    """Parse a JSON answer once and, if that gives a string, parse it again (some layers
    encode the document twice). Anything unreadable raises :class:`BadPayloadError`."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    if not text.strip():
        raise BadPayloadError("an empty answer, not JSON", call=call)
    value, problem = _loads(text)
    if problem is None and isinstance(value, str):
        inner = value
        value, problem = _loads(inner)
        if problem is not None and problem != "JSON nested too deeply":
            problem = f"a string holding {problem}" if inner.strip() else "an empty string"
        elif problem is None and isinstance(value, str):
            problem = "a bare string, not a JSON document"
    if problem is not None:
        raise BadPayloadError(problem, call=call)
    return value


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date); None if unreadable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def map_status(
    raw: str | None,
    table: Mapping[str, Status],
    pending: Collection[str] = (),
    pending_suffixes: Sequence[str] = (),
) -> Status:
    """Normalize a provider's status word: ``table`` first, then the words in ``pending`` or
    ending in one of ``pending_suffixes`` (transitions like ``stopping``) are pending, and
    anything else is unknown."""
    if not isinstance(raw, str):
        return Status.UNKNOWN
    word = raw.strip().lower()
    if word in table:
        return table[word]
    if word in pending or (word and word.endswith(tuple(pending_suffixes))):
        return Status.PENDING
    return Status.UNKNOWN


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
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        headers.update(self._default_headers())
        self.http = httpx.AsyncClient(
            base_url=account.base_url,
            timeout=httpx.Timeout(account.timeout_seconds),
            verify=account.verify_tls,
            headers=headers,
            transport=transport,
            follow_redirects=False,
        )

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

    def _scrub(self, text: str) -> str:
        """``text`` with every secret value of this account masked."""
        for secret in self._secrets.values():
            value = secret.get_secret_value()
            if len(value) >= 4 and value in text:
                text = text.replace(value, "***")
        return text

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
        if _looks_like_html(text) or "html" in response.headers.get("content-type", ""):
            return "an HTML page, not JSON"
        try:
            data = decode_json(content, "error")
        except ProviderError:
            return snippet(text, 80)
        return snippet(_message_in(data), 160)

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
                response = await self._send(method, path, call, json, params, headers)
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
        # Errors are raised outside the except blocks so that httpx's exception (which holds
        # the request, auth headers and all) never rides along as __context__.
        failure: ProviderError | None = None
        try:
            response = await self.http.request(
                method,
                path,
                json=body,
                params=params,
                headers=headers,
            )
        except httpx.TimeoutException:
            seconds = self.account.timeout_seconds
            failure = TransportError(f"timed out after {seconds:g} s")
        except httpx.ConnectError:
            failure = TransportError(f"could not connect to {self.account.base_url}")
        except httpx.DecodingError:
            failure = BadPayloadError("an answer that could not be decoded", call=call)
        except httpx.RequestError as exc:
            failure = TransportError(f"connection failed during {call} ({type(exc).__name__})")
        if failure is not None:
            raise self._bind(failure)
        log.debug(
            "%s %r: %s -> %s in %.0f ms",
            *self._who(),
            call,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response

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
        self,
        resources: list[Resource],
        started: float,
        figures: dict[str, Scalar] | None = None,
    ) -> Snapshot:
        """A :class:`Snapshot` of ``resources`` with totals, timed from ``started``
        (a ``time.monotonic()`` reading)."""
        totals = Totals.from_resources(self.provider, self.name, resources, figures)
        return Snapshot(
            provider=self.provider,
            account=self.name,
            resources=resources,
            totals=totals,
            fetched_at=time.time(),
            latency_ms=(time.monotonic() - started) * 1000,
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

    @abc.abstractmethod
    async def snapshot(
        self, *, info_budget: int | None = None, priority_ids: Sequence[str] = ()
    ) -> Snapshot:
        """Every resource of the account, with totals (reads only).

        ``info_budget`` and ``priority_ids`` are hints for providers that must ask per
        resource to learn its status (Joy): at most ``info_budget`` such requests, the
        ``priority_ids`` (visible rows) first. Other providers ignore them.
        """

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

    async def check(self) -> None:
        """One cheap authenticated read, to probe the account (``joytui config check``)."""
        await self.snapshot(info_budget=0)

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


def _message_in(data: Any) -> str:
    """The human part of an error document: ``error``/``message``/``detail``, nested or not."""
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        for key in ("message", "error", "detail", "error_description", "msg"):
            value = data.get(key)
            if isinstance(value, str) and value:
                # Joy: {"error": "invalid_state", "message": "..."} — keep both.
                other = data.get("error") if key == "message" else None
                if isinstance(other, str) and other and other != value:
                    return f"{other}: {value}"
                return value
            if isinstance(value, dict):
                inner = _message_in(value)
                if inner:
                    return inner
    return ""


__all__ = [
    "USER_AGENT",
    "Bool",
    "Ident",
    "Int",
    "Num",
    "ProviderClient",
    "Text",
    "Timestamp",
    "WireModel",
    "decode_json",
    "describe_validation_error",
    "map_status",
    "parse_model",
    "parse_retry_after",
    "percent",
    "scaled_int",
    "to_bool",
    "to_float",
    "to_int",
    "to_text",
    "to_timestamp",
]
