"""The error taxonomy, the tolerant readers and the base client's HTTP mapping.

HTTP cases the simulator cannot produce (403, 503 with JSON, redirects, Retry-After as a
date, undecodable bodies) use ``httpx.MockTransport``; the rest run against the simulator in
the per-provider test modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import socket
import ssl
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

from joytui.config import InstancesAccount
from joytui.model import Status
from joytui.providers import CLIENTS, client_class, make_client
from joytui.providers.base import ProviderClient
from joytui.providers.errors import (
    ERROR_CLASSES,
    KINDS,
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
from joytui.providers.instances import InstancesClient
from joytui.providers.wire import (
    decode_json,
    map_status,
    parse_retry_after,
    percent,
    scaled_int,
    to_bool,
    to_float,
    to_int,
    to_text,
    to_timestamp,
)

SECRET = "inst-secret-key-0123456789"


def instances(handler, **account) -> InstancesClient:
    acc = InstancesAccount(name="bots", base_url="http://api.test", api_key="x", **account)
    client = InstancesClient(
        acc, {"api_key": SecretStr(SECRET)}, transport=httpx.MockTransport(handler)
    )
    client.backoff_seconds = 0.001
    return client


# -- messages -----------------------------------------------------------------------------------


def test_messages_name_the_account_and_say_what_to_do():
    assert (
        str(
            AuthError(
                "login refused (401)",
                provider="cockpit",
                account="lab",
                hint="check username and password",
            )
        )
        == "cockpit 'lab': login refused (401) — check username and password"
    )
    assert (
        str(ServerError("server error 500 (an HTML page, not JSON)", provider="joy", account="x"))
        == "joy 'x': server error 500 (an HTML page, not JSON) — the provider is having trouble; "
        "joytui will retry"
    )
    assert (
        str(TransportError("timed out after 10 s", provider="instances", account="bots"))
        == "instances 'bots': timed out after 10 s — check base_url and the network"
    )
    err = BadPayloadError(
        "expected a number", call="machine_info", field="Current.cpu", provider="joy", account="x"
    )
    assert (
        str(err) == "joy 'x': bad payload from machine_info: Current.cpu: expected a number — "
        "the API answered in an unexpected shape"
    )
    assert (err.call, err.field, err.kind) == ("machine_info", "Current.cpu", "bad_payload")


def test_kinds_classes_and_retryable():
    made = {cls.kind: cls for cls in ERROR_CLASSES.values()} | {"bad_payload": BadPayloadError}
    assert set(made) == set(KINDS)
    retryable = {
        k
        for k, cls in made.items()
        if (cls("m", call="c") if cls is BadPayloadError else cls("m")).retryable
    }
    assert retryable == {"transport", "server", "rate_limited"}
    assert all(issubclass(cls, ProviderError) for cls in made.values())


def test_rate_limited_hint_carries_retry_after():
    err = RateLimitedError("rate limited (429)", provider="joy", account="x", retry_after=7)
    assert err.retry_after == 7 and err.status == 429
    assert "retry in 7 s" in str(err)


def test_bind_fills_only_what_is_missing_and_repr_is_one_line():
    err = NotFoundError("gone\nreally")
    assert str(err) == "gone really — it may have been deleted; refresh the list"
    err.bind("joy", "x")
    err.bind("cockpit", "other")
    assert (err.provider, err.account) == ("joy", "x")
    assert "\n" not in repr(err) and repr(err).startswith("NotFoundError(\"joy 'x'")


def test_errors_survive_pickling():
    err = RateLimitedError("rate limited (429)", provider="joy", account="x", retry_after=3)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is RateLimitedError
    assert (back.retry_after, back.account, str(back)) == (3, "x", str(err))


def test_snippet_is_short_single_line_and_masks_credentials():
    text = "line one\n\tline\x00two " + "x" * 500
    cut = snippet(text, 40)
    assert len(cut) == 40 and "\n" not in cut and "\x00" not in cut and cut.endswith("…")
    masked = snippet('Authorization: Bearer abc.def.ghi api_key="k-123" token expired')
    assert "abc.def" not in masked and "k-123" not in masked
    assert "token expired" in masked  # plain words are not mistaken for credentials


# -- tolerant readers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1, 1.0), ("2.5", 2.5), (" 3 ", 3.0), ("", None), (None, None), (0.015, 0.015)],
)
def test_to_float(raw, expected):
    assert to_float(raw) == expected


@pytest.mark.parametrize("raw", [True, "n/a", [1], {"a": 1}, "nan", float("inf")])
def test_to_float_refuses(raw):
    with pytest.raises(ValueError, match="expected a"):
        to_float(raw)


def test_to_int_and_to_text():
    assert [to_int(v) for v in (4, "4", "4.0", 4.0, None)] == [4, 4, 4, 4, None]
    with pytest.raises(ValueError):
        to_int("four")
    with pytest.raises(ValueError):
        to_int(1e300)
    assert [to_text(v) for v in ("a", 6001, None)] == ["a", "6001", None]
    with pytest.raises(ValueError):
        to_text(["a"])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        ("true", True),
        ("TRUE", True),
        (1, True),
        ("1", True),
        (False, False),
        ("false", False),
        (0, False),
        ("0", False),
        (None, None),
    ],
)
def test_to_bool(raw, expected):
    assert to_bool(raw) is expected


@pytest.mark.parametrize("raw", ["maybe", 2, [True]])
def test_to_bool_refuses(raw):
    with pytest.raises(ValueError, match="true or false"):
        to_bool(raw)


@pytest.mark.parametrize(
    "raw",
    [
        1710410400,
        1710410400.0,
        "1710410400",
        1710410400000,
        "1710410400000",
        "2024-03-14T10:00:00Z",
        "2024-03-14T10:00:00.000Z",
        "2024-03-14T11:00:00+01:00",
        "2024-03-14 10:00:00",
    ],
)
def test_to_timestamp_reads_every_form_as_unix_seconds(raw):
    assert to_timestamp(raw) == pytest.approx(1710410400.0)


def test_to_timestamp_refuses_garbage():
    assert to_timestamp(None) is None and to_timestamp("") is None
    for raw in ("yesterday", True, {"t": 1}):
        with pytest.raises(ValueError):
            to_timestamp(raw)


def test_scaled_int_and_percent_never_overflow():
    assert scaled_int(4, 2**30) == 4 * 2**30 and scaled_int(None) is None
    assert scaled_int(1e300, 2**30) is None
    assert percent(0.015003142419008) == 1.5 and percent(1e308 * 10) is None


# -- JSON decoding ------------------------------------------------------------------------------


def test_decode_json_parses_double_encoded_documents_once_more():
    assert decode_json(b'{"a": 1}', "c") == {"a": 1}
    assert decode_json(b'"{\\"a\\": 1}"', "c") == {"a": 1}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "empty"),
        (b"<html><body>500</body></html>", "HTML page"),
        (b'{"a": [1, 2', "cut short"),
        (b"{nope}", "not valid JSON"),
        (b'"just words"', "not valid JSON"),
        (b'"\\"quoted\\""', "bare string"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_decode_json_names_the_call_and_the_problem(body, problem):
    with pytest.raises(BadPayloadError, match=problem) as info:
        decode_json(body, "machine_list")
    assert info.value.call == "machine_list" and info.value.__context__ is None


def test_parse_retry_after():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    when = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 <= parse_retry_after(format_datetime(when, usegmt=True)) <= 31


def test_map_status():
    table = {"running": Status.RUNNING, "stopped": Status.STOPPED}
    assert map_status(" Running ", table) is Status.RUNNING
    assert map_status("rebooting", table, pending_suffixes=("ing",)) is Status.PENDING
    assert map_status("creating", table, pending={"creating"}) is Status.PENDING
    assert map_status("weird", table) is Status.UNKNOWN
    assert map_status(None, table) is Status.UNKNOWN


# -- the base client's HTTP mapping -------------------------------------------------------------


def answer(status: int, body: bytes = b"", **headers: str):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    return handler


@pytest.mark.parametrize(
    ("status", "body", "cls", "words"),
    [
        (
            401,
            b'{"error": "Invalid API key"}',
            AuthError,
            "credentials refused (401): Invalid API key",
        ),
        (403, b'{"error": {"message": "not yours"}}', AuthError, "access denied (403): not yours"),
        (404, b'{"error": "gone"}', NotFoundError, "not found (404)"),
        (429, b"Too Many Requests", RateLimitedError, "rate limited (429)"),
        (
            500,
            b"<!DOCTYPE html><html>oops</html>",
            ServerError,
            "server error 500 (an HTML page, not JSON)",
        ),
        (503, b'{"message": "maintenance"}', ServerError, "server error 503: maintenance"),
        (409, b'{"error": "busy"}', RejectedError, "refused (409): busy"),
        (400, b"", RejectedError, "refused (400)"),
    ],
)
async def test_status_codes_map_to_the_taxonomy(status, body, cls, words):
    async with instances(answer(status, body)) as client:
        with pytest.raises(cls) as info:
            await client.list_instances()
    err = info.value
    assert words in err.message and err.status == status
    assert str(err).startswith("instances 'bots': ")
    assert err.__context__ is None and err.__cause__ is None


async def test_redirect_is_a_transport_problem_pointing_at_base_url():
    async with instances(answer(302, location="https://elsewhere.test/")) as client:
        with pytest.raises(TransportError, match="redirect") as info:
            await client.list_instances()
    assert "base_url" in info.value.hint


async def test_retry_after_http_date_and_cap():
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(429, headers={"Retry-After": when})

    async with instances(handler) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.list_instances()
    # A wait longer than the cap is not sat out in place: one call, and the delay reported.
    assert len(calls) == 1 and 50 < info.value.retry_after <= 60


async def test_undecodable_body_is_bad_payload():
    async with instances(
        answer(200, b"\x1f\x8b not gzip", **{"content-encoding": "gzip"})
    ) as client:
        with pytest.raises(BadPayloadError, match="decoded"):
            await client.list_instances()


async def test_transport_failures_never_chain_httpx_exceptions():
    def handler(request):
        raise httpx.RemoteProtocolError("peer closed", request=request)

    async with instances(handler) as client:
        with pytest.raises(TransportError, match="RemoteProtocolError") as info:
            await client.health("inst_1")
    assert info.value.__context__ is None and SECRET not in repr(info.value)


async def test_connection_refused_is_transport_and_names_base_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before use: nobody listens there
    acc = InstancesAccount(name="bots", base_url=f"http://127.0.0.1:{port}", api_key="x")
    async with InstancesClient(acc, {"api_key": SecretStr(SECRET)}) as client:
        client.max_retries = 0
        with pytest.raises(TransportError, match=f"could not connect to http://127.0.0.1:{port}"):
            await client.list_instances()


async def test_reads_retry_then_succeed():
    statuses = iter([503, 502, 200])

    def handler(request):
        status = next(statuses)
        return httpx.Response(status, json=[] if status == 200 else {"error": "x"})

    async with instances(handler) as client:
        assert await client.list_instances() == []


async def test_headers_user_agent_and_secret_stays_out_of_repr():
    seen = {}

    def handler(request):
        seen.update(request.headers)
        return httpx.Response(200, json=[])

    client = instances(handler)
    await client.list_instances()
    assert seen["user-agent"].startswith("joytui/") and seen["x-api-key"] == SECRET
    assert SECRET not in repr(client) and "bots" in repr(client)
    await client.aclose()
    await client.aclose()  # idempotent
    assert client.http.is_closed


# -- the registry -------------------------------------------------------------------------------


def test_registry_builds_each_client():
    acc = InstancesAccount(name="bots", base_url="http://api.test", api_key="x")
    client = make_client("instances", acc, {"api_key": SecretStr(SECRET)})
    assert isinstance(client, InstancesClient) and isinstance(client, ProviderClient)
    for provider in ("joy", "cockpit", "instances"):
        assert client_class(provider).provider == provider
    assert set(CLIENTS) == {"joy", "cockpit", "jamsocket", "instances"}
    with pytest.raises(ValueError, match="unknown provider"):
        client_class("nimbus")


def test_missing_secret_is_an_auth_error_naming_the_field():
    acc = InstancesAccount(name="bots", base_url="http://api.test", api_key="x")
    with pytest.raises(AuthError, match="no api_key given") as info:
        make_client("instances", acc, {})
    assert str(info.value).startswith("instances 'bots'")


# -- whole-exchange deadline and TLS ----------------------------------------------------------


class DripServer:
    """A raw loopback server that sends its answer one byte every ``every`` seconds: each read
    gets data in time, so only a deadline on the whole exchange stops it."""

    def __init__(self, every: float, head_too: bool) -> None:
        self.every = every
        self.head_too = head_too
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await reader.readuntil(b"\r\n\r\n")
            body = b"[" + b" " * 1000 + b"]"
            head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            head += b"content-length: %d\r\n\r\n" % len(body)
            if not self.head_too:
                writer.write(head)
                head = b""
            for i in range(len(head + body)):
                writer.write((head + body)[i : i + 1])
                await writer.drain()
                await asyncio.sleep(self.every)
        writer.close()


@pytest.mark.parametrize("head_too", [False, True], ids=["body", "headers"])
async def test_a_dripping_answer_times_out_within_the_accounts_timeout(head_too):
    async with DripServer(every=0.5, head_too=head_too) as base_url:
        acc = InstancesAccount(name="bots", base_url=base_url, api_key="x", timeout_seconds=1.0)
        async with InstancesClient(acc, {"api_key": SecretStr(SECRET)}) as client:
            client.max_retries = 0
            started = time.monotonic()
            with pytest.raises(TransportError) as info:
                await client.list_instances()
            took = time.monotonic() - started
    assert 1.0 <= took < 1.5
    assert (
        str(info.value) == "instances 'bots': timed out after 1 s — check base_url and the network"
    )
    assert info.value.retryable and info.value.__context__ is None


async def test_https_to_a_plain_http_port_says_tls(shared):
    plain = shared.base_url  # the simulator speaks plain HTTP
    tls = plain.replace("http://", "https://")
    acc = InstancesAccount(name="bots", base_url=tls, api_key="x")
    async with InstancesClient(acc, {"api_key": SecretStr(SECRET)}) as client:
        client.max_retries = 0
        with pytest.raises(TransportError) as info:
            await client.list_instances()
    assert str(info.value) == (
        f"instances 'bots': TLS handshake with {tls} failed: is the server plain HTTP?"
        f" — try {plain} as base_url"
    )
    assert info.value.__context__ is None


def test_tls_failures_are_told_apart():
    def wrapped(err: Exception) -> Exception:
        inner = httpx.ConnectError(str(err))
        inner.__cause__ = err
        return inner

    refused = connect_failure(httpx.ConnectError("refused"), "https://x.test")
    assert refused.message == "could not connect to https://x.test"
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_message = "self-signed certificate"
    untrusted = connect_failure(wrapped(cert), "https://x.test")
    assert "not trusted (self-signed certificate)" in untrusted.message
    assert "verify_tls = false" in untrusted.hint
    other = ssl.SSLError(1, "[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] handshake failure")
    other.reason = "SSLV3_ALERT_HANDSHAKE_FAILURE"
    failed = connect_failure(wrapped(other), "https://x.test")
    assert (
        failed.message == "TLS handshake with https://x.test failed (SSLV3_ALERT_HANDSHAKE_FAILURE)"
    )
