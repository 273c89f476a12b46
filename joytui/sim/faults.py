"""Fault injection: per-provider knobs, set on the command line or at run time (/__sim__/faults).

The knobs are applied by :class:`FaultMiddleware` (latency, hang, 500 pages, 429s, truncated
and mangled JSON) and by the provider modules themselves (refused credentials, SSE drops and
stalls, token lifetimes).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from joytui.model import PROVIDERS

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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
            parsed = None if knob == "sse_drop_after" else "false"
        for name in PROVIDERS if provider == "*" else (provider,):
            updates.setdefault(name, {})[knob] = parsed
    return updates


class FaultState:
    """The live fault settings of every provider, and the seeded dice they are rolled with."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed ^ 0xFA17)
        self.providers: dict[str, ProviderFaults] = {p: ProviderFaults() for p in PROVIDERS}

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

    def as_dict(self) -> dict[str, Any]:
        """Every provider's knobs, as JSON-able data."""
        return {p: f.model_dump() for p, f in self.providers.items()}


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


ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n"
    "<body><center><h1>500 Internal Server Error</h1></center>\n"
    "<hr><center>nginx</center></body></html>\n"
)


def mangle(value: Any, rng: random.Random) -> Any:
    """Drop one field or give one field the wrong type, somewhere inside ``value``."""
    containers: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                containers.append((node, k))
                walk(v)
        elif isinstance(node, list):
            for i, v in enumerate(node[:50]):
                containers.append((node, i))
                walk(v)

    walk(value)
    if not containers:
        return {"unexpected": value}
    parent, key = rng.choice(containers)
    old = parent[key]
    if isinstance(parent, dict) and rng.random() < 0.4:
        del parent[key]
    elif isinstance(old, bool):
        parent[key] = "maybe"
    elif isinstance(old, int | float):
        parent[key] = "n/a"
    elif isinstance(old, str):
        parent[key] = [old]
    elif isinstance(old, list):
        parent[key] = {"items": old}
    elif isinstance(old, dict):
        parent[key] = "object"
    else:
        parent[key] = 42
    return value


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
        if self.faults.roll(knobs.error_rate):
            await _plain(send, 500, ERROR_PAGE.encode(), "text/html; charset=utf-8")
            return
        if self.faults.roll(knobs.rate_limit):
            headers = [(b"retry-after", str(knobs.retry_after).encode())]
            await _plain(send, 429, b"Too Many Requests\n", "text/plain; charset=utf-8", headers)
            return
        truncate = self.faults.roll(knobs.truncate_rate)
        do_mangle = not truncate and self.faults.roll(knobs.mangle_rate)
        if not (truncate or do_mangle):
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _BodyRewriter(send, self.faults, truncate).send)


class _BodyRewriter:
    """Buffers a JSON answer and spoils it (cut short or mangled) before sending it on."""

    def __init__(self, send: Send, faults: FaultState, truncate: bool) -> None:
        self._send = send
        self._faults = faults
        self._truncate = truncate
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
        body = self._spoil(b"".join(self._chunks))
        headers = [(k, v) for k, v in self._start.get("headers", []) if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self._send({**self._start, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})

    def _spoil(self, body: bytes) -> bytes:
        if self._truncate or not body:
            return body[: max(1, len(body) // 2)]
        try:
            outer = json.loads(body)
        except ValueError:
            return body[: max(1, len(body) // 2)]
        rng = random.Random(self._faults.choice(list(range(1 << 16))))
        if isinstance(outer, str):  # JSON encoded twice: spoil the inner document
            try:
                return json.dumps(json.dumps(mangle(json.loads(outer), rng))).encode()
            except ValueError:
                return body
        return json.dumps(mangle(outer, rng)).encode()


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
