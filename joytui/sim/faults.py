"""Fault injection: per-provider knobs, set on the command line or at run time (/__sim__/faults).

The knobs are applied by :class:`FaultMiddleware` (latency, hang, 500 pages, 429s, any status,
redirects, dripped bodies, and truncated, mangled, empty, non-UTF-8 and deeply nested JSON) and
by the provider modules themselves (refused credentials, SSE drops and stalls, token lifetimes,
the names resources are shown with).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from joytui.model import PROVIDERS
from joytui.sim.answers import (
    ERROR_PAGE,
    NESTED_DEPTH,
    break_utf8,
    mangle,
    nested_json,
    proxy_page,
    status_answer,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HOSTILE_NAMES = (
    "\x1b[2J",
    "bots[/red]",
    "",
    "\x1b]0;pwned-title\x07",
    "[red]x[/red]",
    "web-01\rOVERWRITTEN",
    "\u202eexe.gnp",
    "long-" + "x" * 295,
    "db-02\b\b\b\b\bgone",
    "[link=file:///etc]",
    "cache\t03",
    "zero\u200bwidth",
    "queue\n04",
)
"""Names that break a careless terminal UI: they clear the screen, retitle the window, move the
cursor, open Rich markup (or close tags never opened), flip the text direction, hide, or overflow.
The worst come first, so even a provider with three or four resources shows them.
"""


class NamesFileError(ValueError):
    """A ``names_file`` that cannot be read as UTF-8 lines."""


def read_names(path: str) -> tuple[str, ...]:
    """The names in ``path``, one a line; lines split on ``\\n`` only, so a ``\\r`` stays in."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            text = handle.read()
    except OSError as exc:
        raise NamesFileError(f"names_file {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise NamesFileError(f"names_file {path!r}: not UTF-8 ({exc.reason})") from None
    names = text.split("\n")
    if text.endswith("\n"):
        names.pop()
    if not text:
        raise NamesFileError(f"names_file {path!r}: no names in it")
    return tuple(names)


class ProviderFaults(BaseModel):
    """The fault knobs of one simulated provider. All off by default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latency_ms: float = Field(0.0, ge=0, description="Delay added before every answer.")
    error_rate: float = Field(0.0, ge=0, le=1, description="Share of calls answered 500 in HTML.")
    rate_limit: float = Field(0.0, ge=0, le=1, description="Share of calls answered 429.")
    retry_after: int = Field(2, ge=0, description="Seconds in the Retry-After of a 429.")
    hang: bool = Field(False, description="Accept calls and never answer them.")
    truncate_rate: float = Field(0.0, ge=0, le=1, description="Share of JSON bodies cut short.")
    mangle_rate: float = Field(
        0.0, ge=0, le=1, description="Share of JSON bodies with a field dropped or mistyped."
    )
    auth_fail: bool = Field(False, description="Refuse every credential, as if revoked.")
    sse_drop_after: int | None = Field(
        None, ge=0, description="Close every SSE stream after this many events."
    )
    sse_stall: bool = Field(False, description="SSE streams go silent, keep-alives too.")
    quirk_rate: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Joy: share of answers using the spec's quirks (double-encoded JSON, "
        "numbers as strings, success as a string).",
    )
    status_code: int | None = Field(
        None,
        ge=400,
        le=599,
        description="The HTTP status status_rate answers with (400-599): 4xx as the "
        "provider's own JSON error, 5xx as its proxy's HTML page; 429 and 503 carry "
        "Retry-After. None turns status_rate off.",
    )
    status_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of calls answered with status_code instead of being served.",
    )
    drip_ms: float = Field(
        0.0,
        ge=0,
        description="Send every answer's (correct) body one byte at a time, this many "
        "milliseconds apart, until the client leaves.",
    )
    empty_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of JSON answers sent as 200 with an empty body (the call itself "
        "is still made).",
    )
    invalid_utf8_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of JSON bodies with invalid UTF-8 bytes inserted in a string value.",
    )
    nested_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description=f"Share of JSON answers replaced by {NESTED_DEPTH:,} nested arrays: valid "
        "JSON that breaks naive recursion.",
    )
    redirect_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of calls answered 302 Found instead of being served: to "
        "redirect_to, or by default to the same path on the same server (a redirect loop).",
    )
    redirect_to: str | None = Field(
        None,
        min_length=1,
        description="Where a redirect points (a path on the same server, or a URL); None "
        "means the request's own path and query.",
    )
    names_file: str | None = Field(
        None,
        description="A UTF-8 text file, one name per line (split on \\n only): the names "
        "the provider shows for the resources it made up are taken from it, cycled.",
    )
    hostile_names: bool = Field(
        False,
        description="Show built-in hostile names instead (escape sequences, control "
        "characters, Rich markup, bidi override, zero-width space, 300 characters, empty); "
        "names_file wins when both are set.",
    )

    @field_validator("names_file")
    @classmethod
    def _names_file_is_readable(cls, path: str | None) -> str | None:
        if path is not None:
            read_names(path)
        return path


_NULLABLE = frozenset(k for k, f in ProviderFaults.model_fields.items() if f.default is None)
"""Knobs that ``none``, ``null`` or ``off`` turn off by setting them to None."""


class FaultSpecError(ValueError):
    """A ``--faults`` string that cannot be read."""


def parse_fault_spec(spec: str) -> dict[str, dict[str, Any]]:
    """Read ``"joy.error_rate=0.2,cockpit.hang=true,*.latency_ms=50"`` into knob updates.

    Items are separated by ``,`` or ``;``; ``*`` means every provider; a bare boolean knob
    (``cockpit.hang``) means true.
    """
    updates: dict[str, dict[str, Any]] = {}
    for raw in spec.replace(";", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        target, _, value = item.partition("=")
        provider, dot, knob = target.strip().partition(".")
        if not dot or not knob:
            raise FaultSpecError(f"fault {item!r}: expected PROVIDER.KNOB=VALUE")
        if provider != "*" and provider not in PROVIDERS:
            raise FaultSpecError(f"fault {item!r}: unknown provider {provider!r}")
        if knob not in ProviderFaults.model_fields:
            known = ", ".join(ProviderFaults.model_fields)
            raise FaultSpecError(f"fault {item!r}: unknown knob {knob!r} (known: {known})")
        parsed: Any = value.strip() if value else "true"
        if parsed.lower() in ("none", "null", "off"):
            parsed = None if knob in _NULLABLE else "false"
        for name in PROVIDERS if provider == "*" else (provider,):
            updates.setdefault(name, {})[knob] = parsed
    return updates


class FaultState:
    """The live fault settings of every provider, and the seeded dice they are rolled with."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed ^ 0xFA17)
        self.providers: dict[str, ProviderFaults] = {p: ProviderFaults() for p in PROVIDERS}
        self._names_files: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {}

    def get(self, provider: str) -> ProviderFaults:
        """The knobs of ``provider``."""
        return self.providers[provider]

    def update(self, updates: dict[str, dict[str, Any]]) -> None:
        """Merge knob updates (``{"joy": {"error_rate": 0.5}}``); all or nothing."""
        fresh = {}
        for provider, knobs in updates.items():
            if provider not in PROVIDERS:
                raise FaultSpecError(f"unknown provider {provider!r}")
            if not isinstance(knobs, dict):
                raise FaultSpecError(f"{provider}: expected an object of knobs")
            merged = self.providers[provider].model_dump() | knobs
            try:
                fresh[provider] = ProviderFaults.model_validate(merged)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                )
                raise FaultSpecError(f"{provider}: {problems}") from None
        self.providers.update(fresh)

    def reset(self) -> None:
        """Turn every fault off."""
        self.providers = {p: ProviderFaults() for p in PROVIDERS}

    def roll(self, rate: float) -> bool:
        """True with probability ``rate``."""
        return rate > 0 and self._rng.random() < rate

    def choice(self, seq: list[Any]) -> Any:
        """A seeded choice from ``seq``."""
        return self._rng.choice(seq)

    def token(self, alphabet: str, length: int) -> str:
        """A seeded random string, for the ids inside fault answers."""
        return "".join(self._rng.choices(alphabet, k=length))

    def as_dict(self) -> dict[str, Any]:
        """Every provider's knobs, as JSON-able data."""
        return {p: f.model_dump() for p, f in self.providers.items()}

    def names(self, provider: str) -> tuple[str, ...] | None:
        """The names ``provider`` shows for what it made up: from ``names_file``, the hostile
        list, or None (its own names)."""
        knobs = self.providers[provider]
        if knobs.names_file is not None:
            return self._names_file(knobs.names_file)
        return HOSTILE_NAMES if knobs.hostile_names else None

    def name_for(self, provider: str, index: int | None) -> str | None:
        """The name the ``index``-th resource of a kind shows, cycling; None for its own."""
        names = self.names(provider) if index is not None else None
        return names[index % len(names)] if names and index is not None else None

    def _names_file(self, path: str) -> tuple[str, ...] | None:
        # Read again only when the file changes; a file gone since keeps its last names.
        cached = self._names_files.get(path)
        try:
            info = os.stat(path)
            stamp = (info.st_mtime_ns, info.st_size)
            if cached is None or cached[0] != stamp:
                cached = (stamp, read_names(path))
                self._names_files[path] = cached
        except (OSError, NamesFileError):
            pass
        return cached[1] if cached is not None else None


def provider_of(path: str) -> str | None:
    """Which simulated provider serves ``path`` (None for the simulator's own endpoints)."""
    if path.startswith("/api/connect"):
        return "joy"
    if path.startswith("/api/v1/"):
        return "cockpit"
    if path.startswith("/v2/"):
        return "jamsocket"
    if path.startswith("/api/instances"):
        return "instances"
    return None


SPOILERS = ("truncate", "mangle", "empty", "invalid_utf8", "nested")
"""The ways a JSON body can be spoiled, in the order they are rolled (at most one applies)."""


class FaultMiddleware:
    """Pure ASGI middleware that applies the fault knobs of the provider a path belongs to."""

    def __init__(self, app: ASGIApp, faults: FaultState) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        provider = provider_of(scope["path"])
        if provider is None:
            await self.app(scope, receive, send)
            return
        knobs = self.faults.get(provider)
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        if knobs.hang:
            # Hold the connection open, answering nothing, until the client gives up.
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        if not knobs.drip_ms:
            await self._answer(scope, receive, send, provider, knobs)
            return
        dripper = _Dripper(send, receive, knobs.drip_ms / 1000)
        try:
            await self._answer(scope, receive, dripper.send, provider, knobs)
        finally:
            dripper.close()

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, provider: str, knobs: ProviderFaults
    ) -> None:
        roll = self.faults.roll
        if roll(knobs.error_rate):
            await _plain(send, 500, ERROR_PAGE.encode(), "text/html; charset=utf-8")
            return
        if roll(knobs.rate_limit):
            headers = [(b"retry-after", str(knobs.retry_after).encode())]
            await _plain(send, 429, b"Too Many Requests\n", "text/plain; charset=utf-8", headers)
            return
        if knobs.status_code is not None and roll(knobs.status_rate):
            body, ctype, headers = status_answer(
                provider, knobs.status_code, knobs.retry_after, self.faults.token
            )
            await _plain(send, knobs.status_code, body, ctype, headers)
            return
        if roll(knobs.redirect_rate):
            location = knobs.redirect_to or _own_target(scope)
            headers = [(b"location", location.encode())]
            await _plain(send, 302, proxy_page(302), "text/html; charset=utf-8", headers)
            return
        rates = (
            knobs.truncate_rate,
            knobs.mangle_rate,
            knobs.empty_rate,
            knobs.invalid_utf8_rate,
            knobs.nested_rate,
        )
        spoil = next((s for s, rate in zip(SPOILERS, rates, strict=True) if roll(rate)), None)
        if spoil is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _BodyRewriter(send, self.faults, spoil).send)


def _own_target(scope: Scope) -> str:
    """The path and query the request asked for, as it sent them."""
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    return (path + (b"?" + query if query else b"")).decode("latin-1")


class _BodyRewriter:
    """Buffers a JSON answer and spoils it (see :data:`SPOILERS`) before sending it on."""

    def __init__(self, send: Send, faults: FaultState, spoil: str) -> None:
        self._send = send
        self._faults = faults
        self._spoil_as = spoil
        self._start: Message | None = None
        self._chunks: list[bytes] = []
        self._passthrough = False

    async def send(self, message: Message) -> None:
        if self._passthrough:
            await self._send(message)
            return
        if message["type"] == "http.response.start":
            headers = dict(message.get("headers", []))
            ctype = headers.get(b"content-type", b"")
            if not ctype.startswith(b"application/json"):
                self._passthrough = True
                await self._send(message)
                return
            self._start = message
            return
        if message["type"] != "http.response.body" or self._start is None:
            await self._send(message)
            return
        self._chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        start = self._start
        body = self._spoil(b"".join(self._chunks))
        if self._spoil_as == "empty":
            start = {**start, "status": 200}
        headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self._send({**start, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})

    def _spoil(self, body: bytes) -> bytes:
        spoil = self._spoil_as
        if spoil == "empty":
            return b""
        if spoil == "nested":
            return nested_json()
        if spoil == "invalid_utf8":
            return break_utf8(body, self._rng())
        if spoil == "truncate" or not body:
            return body[: max(1, len(body) // 2)]
        try:
            outer = json.loads(body)
        except ValueError:
            return body[: max(1, len(body) // 2)]
        rng = self._rng()
        if isinstance(outer, str):  # JSON encoded twice: spoil the inner document
            try:
                return json.dumps(json.dumps(mangle(json.loads(outer), rng))).encode()
            except ValueError:
                return body
        return json.dumps(mangle(outer, rng)).encode()

    def _rng(self) -> random.Random:
        return random.Random(self._faults.choice(list(range(1 << 16))))


class _Dripper:
    """Sends every body one byte at a time, ``delay`` seconds apart, until the client leaves.

    Once the answer has started, a watcher waits for the client's disconnect; each byte waits
    on it, so a client that gives up stops the drip at once.
    """

    def __init__(self, send: Send, receive: Receive, delay: float) -> None:
        self._send = send
        self._receive = receive
        self._delay = delay
        self._watcher: asyncio.Task[None] | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._watcher = asyncio.ensure_future(self._watch())
            await self._send(message)
            return
        body = message.get("body", b"")
        if message["type"] != "http.response.body" or not body:
            await self._send(message)
            return
        more = message.get("more_body", False)
        for i in range(len(body)):
            if await self._client_left():
                return
            last = i == len(body) - 1
            chunk = {"type": "http.response.body", "body": body[i : i + 1]}
            await self._send({**chunk, "more_body": more or not last})

    async def _client_left(self) -> bool:
        if self._watcher is None:
            await asyncio.sleep(self._delay)
            return False
        done, _ = await asyncio.wait({self._watcher}, timeout=self._delay)
        return bool(done)

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass

    def close(self) -> None:
        """Stop watching for the client (the answer is over)."""
        if self._watcher is not None:
            self._watcher.cancel()


async def _plain(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
