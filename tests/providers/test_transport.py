"""The HTTP under the clients (joytui.providers.http): one aiohttp session per account, the
config's timeouts (connect, read), pool limits, TLS verification, precise errors, and the
per-account request limit that a 429 halves. Against the simulator, or a server of a few
lines on loopback where the simulator cannot make the shape (a full accept queue, a
self-signed certificate, a count of open connections).

Each behaviour is checked on both paths a request can take: ``direct`` (the client's own
session, what it does by default) and ``httpx`` (through ``httpx.AsyncClient`` and
httpx-aiohttp's transport, what an event hook makes it do)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest
from pydantic import SecretStr

from joytui.config import DEFAULT_MAX_CONCURRENCY, InstancesAccount, JoyAccount
from joytui.providers.base import ProviderClient
from joytui.providers.errors import RateLimitedError, TransportError
from joytui.providers.http import POOL_HEADROOM, AccountTransport
from joytui.providers.instances import InstancesClient
from joytui.providers.joy import JoyClient
from joytui.sim.instances import DEMO_API_KEY
from joytui.sim.joy import DEMO_KEY, DEMO_TOKEN
from tests.conftest import set_faults

PATHS = ["direct", "httpx"]


def instances(base_url: str, path: str = "direct", **account: object) -> InstancesClient:
    acct = InstancesAccount(name="bots", base_url=base_url, api_key="k", **account)
    client = InstancesClient(acct, {"api_key": SecretStr(DEMO_API_KEY)})
    client.max_retries = 0
    if path == "httpx":
        force_httpx(client)
    return client


def joy(base_url: str, path: str = "direct", **account: object) -> JoyClient:
    acct = JoyAccount(name="joy", base_url=base_url, api_token="t", api_key="k", **account)
    client = JoyClient(acct, {"api_token": SecretStr(DEMO_TOKEN), "api_key": SecretStr(DEMO_KEY)})
    if path == "httpx":
        force_httpx(client)
    return client


def force_httpx(client: ProviderClient) -> None:
    """An event hook: the client sends through httpx so that the hook sees every request."""

    async def hook(request: httpx.Request) -> None:
        pass

    client.http.event_hooks["request"].append(hook)


# -- one session per account --------------------------------------------------------------------


async def test_every_account_has_its_own_aiohttp_session_with_bounded_limits(shared):
    a = joy(shared.base_url, max_concurrency=5)
    b = joy(shared.base_url)
    async with a, b:
        await asyncio.gather(a.dashboardinfo(), b.dashboardinfo())
        assert isinstance(a._session, AccountTransport) and isinstance(b._session, AccountTransport)
        sessions = a._session.session, b._session.session
        assert all(isinstance(s, aiohttp.ClientSession) for s in sessions)
        assert sessions[0] is not sessions[1]
        assert a._session.limits.max_connections == 5 + POOL_HEADROOM
        assert b._session.limits.max_connections == DEFAULT_MAX_CONCURRENCY + POOL_HEADROOM
        assert a.limit.maximum == 5 and b.limit.maximum == DEFAULT_MAX_CONCURRENCY == 64
        connector = sessions[0].connector
        assert connector is not None and connector.limit == 5 + POOL_HEADROOM
    assert all(s.closed for s in sessions)  # aclose closes the session


async def test_an_injected_transport_is_used_as_it_is():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=[])

    acct = InstancesAccount(name="bots", base_url="http://api.test", api_key="k")
    async with InstancesClient(
        acct, {"api_key": SecretStr("key-1234")}, transport=httpx.MockTransport(handler)
    ) as client:
        assert client._session is None
        assert await client.list_instances() == []
    assert seen == ["/api/instances"]


# -- timeouts -----------------------------------------------------------------------------------


@contextlib.contextmanager
def full_accept_queue() -> Iterator[int]:
    """A port on loopback whose accept queue is full: a connection attempt is never answered."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.1)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        server.close()


@pytest.mark.parametrize("path", PATHS)
async def test_the_connect_timeout_is_the_configured_one(path):
    with full_accept_queue() as port:
        async with instances(f"http://127.0.0.1:{port}", path, timeout_seconds=0.4) as client:
            started = time.monotonic()
            with pytest.raises(TransportError, match=r"timed out after 0\.4 s"):
                await client.list_instances()
            assert time.monotonic() - started < 1.5
            # The transport itself gives up connecting, not only the client's deadline.
            with pytest.raises(httpx.ConnectTimeout):
                await client.http.get("/api/instances")


@pytest.mark.parametrize("path", PATHS)
async def test_the_read_timeout_is_the_configured_one(shared, shared_http, path):
    set_faults(shared_http, instances={"hang": True})
    async with instances(shared.base_url, path, timeout_seconds=0.4) as client:
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"timed out after 0\.4 s"):
            await client.list_instances()
        assert time.monotonic() - started < 1.5
        with pytest.raises(httpx.ReadTimeout):  # aiohttp's sock_read, mapped as a read
            await client.http.get("/api/instances")
        with pytest.raises(httpx.ReadTimeout):
            await client._session.send("GET", f"{shared.base_url}/api/instances", {}, None)


@pytest.mark.parametrize("path", PATHS)
async def test_refused_and_dropped_connections_are_not_timeouts(path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens here once it is closed
    async with instances(f"http://127.0.0.1:{port}", path) as client:
        with pytest.raises(TransportError, match=f"could not connect to http://127.0.0.1:{port}"):
            await client.list_instances()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()  # an answer that never comes: the server hangs up

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, instances(f"http://127.0.0.1:{port}", path) as client:
        with pytest.raises(TransportError, match="connection failed during") as info:
            await client.list_instances()
        assert "timed out" not in str(info.value)


# -- pool limits and the request limit ----------------------------------------------------------


class CountingServer:
    """HTTP on loopback that answers ``[]`` after a pause and counts open connections."""

    def __init__(self, pause: float = 0.1) -> None:
        self.pause = pause
        self.open = 0
        self.peak = 0
        self.answered = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                await asyncio.sleep(self.pause)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
                writer.write(b"Content-Length: 2\r\n\r\n[]")
                await writer.drain()
                self.answered += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


@contextlib.asynccontextmanager
async def counting_server(pause: float = 0.1) -> AsyncIterator[tuple[CountingServer, str]]:
    counter = CountingServer(pause)
    server = await asyncio.start_server(counter.handle, "127.0.0.1", 0)
    async with server:
        yield counter, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.mark.parametrize("path", PATHS)
async def test_requests_in_flight_stay_within_max_concurrency(path):
    async with counting_server() as (counter, url), instances(url, path, max_concurrency=3) as c:
        await asyncio.gather(*(c.list_instances() for _ in range(20)))
        assert counter.answered == 20 and counter.peak == 3 and c.limit.peak == 3


async def test_the_pool_is_bounded_beyond_the_request_limit():
    # Straight through httpx (no request limit there), the pool alone bounds the connections.
    async with counting_server() as (counter, url), instances(url, max_concurrency=3) as c:
        answers = await asyncio.gather(*(c.http.get("/api/instances") for _ in range(40)))
        assert all(a.status_code == 200 for a in answers)
        assert counter.peak == 3 + POOL_HEADROOM
        # Kept alive: the next round reuses those connections.
        before = counter.peak
        await asyncio.gather(*(c.list_instances() for _ in range(10)))
        assert counter.peak == before


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and its key."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    try:
        make_with_cryptography(cert, key)
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor openssl is installed")
        request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        files = ["-keyout", str(key), "-out", str(cert)]
        subprocess.run([*request, *subject, *files], check=True, capture_output=True)
    return cert, key


def make_with_cryptography(cert: Path, key: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture
async def https_url(self_signed: tuple[Path, Path]) -> AsyncIterator[str]:
    """HTTPS on loopback with the self-signed certificate, answering ``[]``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed)
    counter = CountingServer(pause=0.0)
    server = await asyncio.start_server(counter.handle, "127.0.0.1", 0, ssl=context)
    async with server:
        yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.mark.parametrize("path", PATHS)
async def test_verify_tls_false_accepts_a_self_signed_certificate(https_url, path):
    async with instances(https_url, path, verify_tls=False) as client:
        assert await client.list_instances() == []


@pytest.mark.parametrize("path", PATHS)
async def test_verify_tls_true_refuses_a_self_signed_certificate(https_url, path):
    async with instances(https_url, path) as client:
        with pytest.raises(TransportError) as info:
            await client.list_instances()
    assert f"TLS certificate of {https_url} not trusted" in str(info.value)
    assert "verify_tls = false" in info.value.hint


async def test_https_to_a_plain_http_port_says_so(shared):
    plain = shared.base_url.replace("http://", "https://")
    async with instances(plain) as client:
        with pytest.raises(TransportError, match="is the server plain HTTP") as info:
            await client.list_instances()
    assert info.value.hint == f"try {shared.base_url} as base_url"


# -- a 429 halves the request limit -------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
async def test_a_burst_of_429s_halves_the_limit_once(shared, shared_http, path):
    set_faults(shared_http, joy={"rate_limit": 1.0, "retry_after": 0})
    async with joy(shared.base_url, path, max_concurrency=8) as client:
        client.max_retries = 0
        results = await asyncio.gather(
            *(client.dashboardinfo() for _ in range(8)), return_exceptions=True
        )
        assert all(isinstance(r, RateLimitedError) for r in results)
        assert client.limit.limit == 4 and client.limit.cuts == 1  # one round, one halving
        with pytest.raises(RateLimitedError):
            await client.dashboardinfo()
        assert client.limit.limit == 2
        for _ in range(3):
            with pytest.raises(RateLimitedError):
                await client.dashboardinfo()
        assert client.limit.limit == 1  # never below one


async def test_the_limit_recovers_slowly_once_the_server_answers(shared, shared_http):
    set_faults(shared_http, joy={"rate_limit": 1.0, "retry_after": 0})
    async with joy(shared.base_url, max_concurrency=8) as client:
        client.max_retries = 0
        with pytest.raises(RateLimitedError):
            await client.dashboardinfo()
        assert client.limit.limit == 4
        set_faults(shared_http, joy={"rate_limit": 0.0})
        for _ in range(40):
            await client.dashboardinfo()
        assert client.limit.limit == 4  # at most one step a second
        client.limit.recover_seconds = 0.0
        for _ in range(4 + 5):
            await client.dashboardinfo()
        assert client.limit.limit == 6  # one step after each `limit` successes in a row


async def test_a_rate_limited_fan_out_backs_off_and_completes(shared, shared_http):
    set_faults(shared_http, joy={"rate_limit": 0.3, "retry_after": 0})
    async with joy(shared.base_url, max_concurrency=16) as client:
        client.max_retries = 6
        client.backoff_seconds = 0.001
        snap = await client.snapshot()
        assert len(snap.resources) == 40
        assert client.limit.cuts >= 1 and client.limit.limit < 16
        assert client.limit.peak <= 16


async def test_a_closed_client_refuses_to_send_and_opens_no_session(shared):
    client = joy(shared.base_url)
    await client.dashboardinfo()
    await client.aclose()
    with pytest.raises(RuntimeError, match="client has been closed"):
        await client.dashboardinfo()
    assert client._session._session is None
