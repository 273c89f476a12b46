"""The Jamsocket client against the simulated v2 API, over real HTTP: every endpoint, the
snapshot adapter, actions, secrets, every fault knob, and the three SSE streams (replay,
reconnection with Last-Event-ID, stalls, clean ends, cancellation)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from joytui.config import JamsocketAccount
from joytui.model import Resource, Status
from joytui.providers import client_class, make_client
from joytui.providers.errors import (
    AuthError,
    BadPayloadError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    RejectedError,
    ServerError,
    TransportError,
)
from joytui.providers.jamsocket import (
    BackendItem,
    BackendMetadata,
    BackendStatus,
    Connection,
    ImageList,
    JamsocketClient,
    MetricsEvent,
    RunningBackends,
    Service,
    ServiceBackends,
    SpawnConfig,
    backend_status,
)
from joytui.providers.wire import parse_model
from joytui.sim.base import SimOptions
from joytui.sim.faults import mangle
from joytui.sim.jamsocket import DEMO_ACCOUNT, DEMO_TOKEN
from tests.conftest import advance, set_faults

AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}
ACCT = f"/v2/account/{DEMO_ACCOUNT}"


@pytest.fixture
def sim_options() -> SimOptions:
    # A frozen clock: only advance() moves the fleet, so every status is where a test put it.
    return SimOptions(
        seed=7, speed=0.0, incidents=False, metrics_interval=0.05, keepalive_seconds=0.2
    )


class Recorder(httpx.AsyncBaseTransport):
    """A real HTTP transport that remembers every request it sends."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def sent(self, method: str, path_end: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path.endswith(path_end)]


def build(sim, transport=None, **account) -> JamsocketClient:
    settings_ = {"name": "sim", "base_url": sim.base_url, "account": DEMO_ACCOUNT}
    settings_.update(account)
    acct = JamsocketAccount(token=DEMO_TOKEN, **settings_)
    client = make_client("jamsocket", acct, {"token": SecretStr(DEMO_TOKEN)}, transport=transport)
    assert isinstance(client, JamsocketClient)
    client.backoff_seconds = 0.01
    client.stream_backoff_seconds = 0.01
    return client


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    yield rec
    await rec.aclose()


@pytest.fixture
async def client(sim, recorder) -> AsyncIterator[JamsocketClient]:
    c = build(sim, recorder)
    yield c
    await c.aclose()


@pytest.fixture
def api(sim):
    with httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=5) as c:
        yield c


def raw_backends(api, params: dict | None = None) -> list[dict]:
    out = []
    for name in api.get(f"{ACCT}/services").json()["services"]:
        url = f"/v2/service/{DEMO_ACCOUNT}/{name}/backends"
        out += api.get(url, params=params or {}).json()["backends"]
    return out


def a_backend(api, status: str, exclude: tuple = ()) -> str:
    return next(
        b["id"]
        for b in raw_backends(api)
        if b["status"]["status"] == status and b["id"] not in exclude
    )


def as_resource(backend_id: str, raw_status: str) -> Resource:
    return Resource(
        provider="jamsocket",
        account="sim",
        kind="backend",
        id=backend_id,
        name=backend_id,
        status=Status.UNKNOWN,
        raw_status=raw_status,
    )


def watchers(sim, backend_id: str) -> set:
    return sim.simulator.providers["jamsocket"].backends[backend_id].watchers


async def wait_until(predicate, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# -- registration and reads -------------------------------------------------------------------


def test_make_client_reaches_the_jamsocket_client():
    assert client_class("jamsocket") is JamsocketClient


async def test_every_read_matches_the_api(client, api):
    names = await client.services()
    assert names == api.get(f"{ACCT}/services").json()["services"] and len(names) >= 3
    seen_commit = seen_no_commit = False
    for name in names:
        raw = api.get(f"/v2/service/{DEMO_ACCOUNT}/{name}").json()
        service = await client.service(name)
        assert service.name == name and service.image_name == raw["image_name"]
        assert service.last_spawned_at == pytest.approx(parse_iso(raw["last_spawned_at"]))
        assert service.environments[0].image_tag == raw["environments"][0]["image_tag"]
        images = await client.images(name)
        raw_images = api.get(f"/v2/service/{DEMO_ACCOUNT}/{name}/images").json()["images"]
        assert [i.digest for i in images] == [i["digest"] for i in raw_images]
        for image, raw_image in zip(images, raw_images, strict=True):
            assert image.upload_time == parse_iso(raw_image["upload_time"])
            if "git_commit" in raw_image:
                seen_commit = True
                assert image.git_commit.hash == raw_image["git_commit"]["hash"]
            else:
                seen_no_commit = True
                assert image.git_commit is None
    assert seen_commit and seen_no_commit

    name = names[0]
    every = await client.service_backends(name)
    raw = api.get(f"/v2/service/{DEMO_ACCOUNT}/{name}/backends").json()["backends"]
    assert [b.id for b in every] == [b["id"] for b in raw]
    pivot = datetime.fromtimestamp(every[len(every) // 2].created_at, UTC)
    after = await client.service_backends(name, start=pivot)
    before = await client.service_backends(name, end=pivot.replace(tzinfo=None))  # naive is UTC
    assert [b.id for b in after] + [b.id for b in before] == [b.id for b in every]
    assert after and before

    running = await client.running_backends()
    raw_running = api.get(f"{ACCT}/backends").json()["running_backends"]
    assert [b.id for b in running] == [b["id"] for b in raw_running]
    assert all(b.status_word != "terminated" for b in running)

    bid = a_backend(api, "terminated")
    meta = await client.backend(bid)
    raw_meta = api.get(f"/v2/backend/{bid}").json()
    assert [s.status for s in meta.statuses] == [s["status"] for s in raw_meta["statuses"]]
    assert meta.current.status == "terminated" and meta.current.exit_error is not None
    assert meta.max_mem_bytes == raw_meta["max_mem_bytes"]
    status = await client.backend_status(bid)
    assert status.status == "terminated" and status.time == meta.current.time


async def test_connect_keys_spawn_config_and_terminate(client, api):
    name = (await client.services())[0]
    spawn = SpawnConfig(
        max_idle_seconds=300,
        executable={"env": {"MY_VAR": "1"}, "resource_limits": {"memory_limit_bytes": 10**9}},
    )
    first = await client.connect(name, key="doc-1", user="u-1", auth={"w": True}, spawn=spawn)
    assert first.spawned is True and first.status == "scheduled"
    again = await client.connect(name, key="doc-1", spawn=False)
    assert again.backend_id == first.backend_id and again.spawned is False
    assert again.secret_token.get_secret_value() == first.secret_token.get_secret_value()
    assert first.token.get_secret_value() in first.url.get_secret_value()
    meta = await client.backend(first.backend_id)
    assert meta.max_mem_bytes == 10**9 and meta.key == "doc-1" and meta.service_name == name
    with pytest.raises(NotFoundError) as missing:
        await client.connect(name, key="nobody-holds-this", spawn=False)
    assert "No running backend holds key" in str(missing.value)
    with pytest.raises(RejectedError) as bad:
        await client.connect(name, spawn={"tag": "no-such-tag"})
    assert "InvalidRequest" in str(bad.value) and "no-such-tag" in str(bad.value)

    advance(api, 10)
    assert (await client.backend_status(first.backend_id)).status == "ready"
    answer = await client.terminate(first.backend_id)
    assert answer.confirmed
    assert (await client.backend_status(first.backend_id)).status == "terminating"
    advance(api, 5)
    done = await client.backend_status(first.backend_id)
    assert done.status == "terminated" and done.exit_error is False

    other = await client.connect(name)
    assert (await client.terminate(other.backend_id, hard=True)).confirmed
    current = await client.backend_status(other.backend_id)
    assert current.status == "hard-terminating" and current.termination_kind == "hard"


async def test_service_lifecycle_and_image_tag(client):
    assert (await client.create_service("my-service")).confirmed
    assert "my-service" in await client.services()
    fresh = await client.service("my-service")
    assert fresh.last_image_digest is None and fresh.last_spawned_at is None
    assert await client.images("my-service") == []
    with pytest.raises(RejectedError) as twice:
        await client.create_service("my-service")
    assert twice.value.status == 409 and "already exists" in str(twice.value)

    seeded = (await client.services())[0]
    oldest = (await client.images(seeded))[-1]
    assert (await client.update_image_tag(seeded, oldest.digest)).confirmed
    assert (await client.service(seeded)).environments[0].image_tag == oldest.digest
    with pytest.raises(RejectedError) as bad_tag:
        await client.update_image_tag(seeded, "nope")
    assert "No image of" in str(bad_tag.value)

    assert (await client.delete_service("my-service")).confirmed
    with pytest.raises(NotFoundError):
        await client.service("my-service")


async def test_errors_carry_the_providers_message_code_and_id(client, sim):
    with pytest.raises(NotFoundError) as gone:
        await client.backend("zzzzz")
    text = str(gone.value)
    assert text.startswith("jamsocket 'sim': ")
    assert "Backend 'zzzzz' not found." in text and "NotFound" in text and "error id " in text
    stranger = build(sim, account="someone-else")
    try:
        with pytest.raises(AuthError) as denied:
            await stranger.services()
        assert denied.value.status == 403 and "no access to account" in str(denied.value)
    finally:
        await stranger.aclose()


# -- snapshot ---------------------------------------------------------------------------------


def test_backend_status_table():
    def s(word, **kw):
        return backend_status(BackendStatus(status=word, **kw))

    assert s("ready") is Status.RUNNING
    for word in ("scheduled", "loading", "starting", "waiting", "terminating", "hard-terminating"):
        assert s(word) is Status.PENDING, word
    assert s("hard-terminated") is Status.PENDING  # the spec's table spells it so
    assert s("terminated", exit_error=False) is Status.STOPPED
    assert s("terminated", exit_error=True) is Status.ERROR
    assert s("terminated", exit_code=0) is Status.STOPPED
    assert s("terminated", exit_code=137) is Status.ERROR
    assert s("terminated") is Status.UNKNOWN
    assert s("exploded") is Status.UNKNOWN and s(None) is Status.UNKNOWN
    assert backend_status(None) is Status.UNKNOWN
    assert s("READY") is Status.RUNNING


async def test_snapshot_maps_every_status(client, api):
    name = (await client.services())[0]
    ready = (await client.connect(name)).backend_id
    stopped = (await client.connect(name)).backend_id
    advance(api, 10)
    await client.terminate(stopped)
    advance(api, 5)
    scheduled = (await client.connect(name)).backend_id
    killed = a_backend(api, "ready", exclude=(ready,))
    assert api.post(f"/__sim__/jamsocket/kill/{killed}").status_code == 200
    soft = a_backend(api, "ready", exclude=(ready, killed))
    await client.terminate(soft)
    hard = a_backend(api, "ready", exclude=(ready, killed, soft))
    await client.terminate(hard, hard=True)

    snap = await client.snapshot()
    by_id = {r.id: r for r in snap.resources if r.kind == "backend"}
    expected = {
        ready: (Status.RUNNING, "ready"),
        stopped: (Status.STOPPED, "terminated"),
        scheduled: (Status.PENDING, "scheduled"),
        killed: (Status.ERROR, "terminated"),
        soft: (Status.PENDING, "terminating"),
        hard: (Status.PENDING, "hard-terminating"),
    }
    for bid, (status, word) in expected.items():
        assert (by_id[bid].status, by_id[bid].raw_status) == (status, word), bid
    assert by_id[stopped].detail["exit_error"] is False
    assert by_id[killed].detail["exit_error"] is True
    assert by_id[killed].detail["termination_reason"] == "lost"
    # Every backend of the fleet agrees with the API's own word for it, exit_error included.
    for r in by_id.values():
        raw = api.get(f"/v2/backend/{r.id}/status").json()
        assert r.raw_status == raw["status"]
        assert r.status is backend_status(BackendStatus.model_validate(raw))
    assert {"loading", "starting", "waiting"} & {r.raw_status for r in by_id.values()}


async def test_snapshot_fields_recent_terminated_dedup_and_totals(client, recorder, api):
    assert (await client.create_service("empty-one")).confirmed
    snap = await client.snapshot()
    assert snap.provider == "jamsocket" and snap.account == "sim"
    start = recorder.sent("GET", "/backends")[-1].url.params["start"]
    running = api.get(f"{ACCT}/backends").json()["running_backends"]
    recent = raw_backends(api, {"start": start})
    backends = [r for r in snap.resources if r.kind == "backend"]
    ids = [r.id for r in backends]
    assert len(ids) == len(set(ids))  # running ones are in both lists: kept once
    assert set(ids) == {b["id"] for b in running} | {b["id"] for b in recent}
    everything = raw_backends(api)
    older = [b for b in everything if b["created_at"] < start]
    assert older and not {b["id"] for b in older} & set(ids) - {b["id"] for b in running}
    assert any(r.raw_status == "terminated" for r in backends)

    raw = {b["id"]: b for b in everything}
    for r in backends:
        b = raw[r.id]
        assert r.name == (b["key"] or b["id"]) and r.parent == b["service_name"]
        assert r.location == b["cluster_name"] and r.memory_total == b["max_mem_bytes"]
        assert r.created_at == pytest.approx(parse_iso(b["created_at"]))
    assert any(r.name != r.id for r in backends) and any(r.name == r.id for r in backends)

    services = {r.id: r for r in snap.resources if r.kind == "service"}
    assert set(services) == set(api.get(f"{ACCT}/services").json()["services"])
    live = {b["service_name"] for b in running}
    for sid, r in services.items():
        assert r.name == sid
        assert r.status is (Status.RUNNING if sid in live else Status.STOPPED)
    assert services["empty-one"].status is Status.STOPPED
    wire = api.get(f"/v2/service/{DEMO_ACCOUNT}/{sorted(live)[0]}").json()
    detail = services[sorted(live)[0]].detail
    assert detail["image"] == wire["image_name"]
    assert detail["last_spawned_at"] == pytest.approx(parse_iso(wire["last_spawned_at"]))

    counts = snap.totals.counts
    assert sum(counts["backend"].values()) == len(backends)
    assert sum(counts["service"].values()) == len(services)
    assert counts["service"]["stopped"] >= 1


async def test_check_is_one_authenticated_read(client, recorder):
    await client.check()
    assert [r.url.path for r in recorder.requests] == [f"{ACCT}/services"]
    assert recorder.requests[0].headers["authorization"] == f"Bearer {DEMO_TOKEN}"


# -- actions ----------------------------------------------------------------------------------


async def test_actions_and_perform(client, api):
    bid = a_backend(api, "ready")
    snap = await client.snapshot()
    backend = next(r for r in snap.resources if r.id == bid)
    service = next(r for r in snap.resources if r.kind == "service")
    assert [a.id for a in await client.actions(service)] == ["spawn", "update_image", "delete"]
    offered = await client.actions(backend)
    assert [(a.id, a.destructive) for a in offered] == [
        ("terminate", False),
        ("terminate_hard", True),
    ]
    result = await client.perform(backend, "terminate")
    assert result.ok and "SIGTERM" in result.message
    terminating = next(r for r in (await client.snapshot()).resources if r.id == bid)
    assert terminating.raw_status == "terminating"
    assert [a.id for a in await client.actions(terminating)] == ["terminate_hard"]
    assert (await client.perform(terminating, "terminate_hard")).ok
    assert (await client.backend_status(bid)).status == "hard-terminating"
    advance(api, 5)
    finished = next(r for r in (await client.snapshot()).resources if r.id == bid)
    assert finished.raw_status == "terminated" and await client.actions(finished) == []
    with pytest.raises(RejectedError):
        await client.perform(backend, "reboot")
    with pytest.raises(RejectedError):
        await client.perform(service, "terminate")
    gone = as_resource("zzzzz", "ready")
    with pytest.raises(NotFoundError):
        await client.perform(gone, "terminate")


# -- secrets ----------------------------------------------------------------------------------


async def test_secrets_never_show(client, sim, api, caplog):
    caplog.set_level(logging.DEBUG)
    name = (await client.services())[0]
    conn = await client.connect(name, key="secret-room")
    secrets = [
        DEMO_TOKEN,
        conn.token.get_secret_value(),
        conn.secret_token.get_secret_value(),
        conn.url.get_secret_value(),
        conn.ready_url.get_secret_value(),
    ]
    shown = [repr(conn), str(conn), conn.model_dump_json(), repr(client), str(client)]
    snap = await client.snapshot()
    shown += [json.dumps([r.public() for r in snap.resources])]
    set_faults(api, jamsocket={"auth_fail": True})
    with pytest.raises(AuthError) as refused:
        await client.services()
    shown += [str(refused.value), repr(refused.value)]
    api.delete("/__sim__/faults")
    # A cut-short connect answer holds the secrets; the error quotes none of it.
    set_faults(api, jamsocket={"truncate_rate": 1.0})
    with pytest.raises(BadPayloadError) as cut:
        await client.connect(name, key="secret-room")
    assert "spawned anyway" in str(cut.value)
    shown += [str(cut.value), repr(cut.value)]
    shown.append(caplog.text)
    for text in shown:
        for secret in secrets:
            assert secret not in text
    assert "**********" in repr(conn)


# -- faults -----------------------------------------------------------------------------------


async def test_error_rate_is_a_server_error_reads_retry_and_recover(client, recorder, api):
    bid = a_backend(api, "ready")
    set_faults(api, jamsocket={"error_rate": 1.0})
    with pytest.raises(ServerError) as failed:
        await client.services()
    assert "500" in str(failed.value) and "HTML page" in str(failed.value)
    assert len(recorder.sent("GET", "/services")) == 1 + client.max_retries
    with pytest.raises(ServerError):
        await client.snapshot()
    recorder.requests.clear()
    with pytest.raises(ServerError):  # metrics() is polled: it never retries in place
        await client.metrics(as_resource(bid, "ready"))
    assert len(recorder.sent("GET", "/metrics/stream")) == 1
    client.stream_max_reconnects = 1  # a stream does retry a 500, a bounded number of times
    with pytest.raises(TransportError) as dropped:
        await _collect(client.backend_status_stream(bid))
    assert "after 1 reconnects" in str(dropped.value) and "server error 500" in str(dropped.value)
    assert len(recorder.sent("GET", "/status/stream")) == 2
    api.delete("/__sim__/faults")
    assert (await client.snapshot()).resources


async def test_writes_are_never_retried(client, recorder, api):
    name = (await client.services())[0]
    bid = a_backend(api, "ready")
    set_faults(api, jamsocket={"error_rate": 1.0})
    writes = [
        (lambda: client.connect(name), "/connect"),
        (lambda: client.terminate(bid), "/terminate"),
        (lambda: client.create_service("x-svc"), "/service"),
        (lambda: client.delete_service(name), "/delete"),
        (lambda: client.update_image_tag(name, "latest"), "/update"),
    ]
    for write, path_end in writes:
        with pytest.raises(ServerError):
            await write()
        assert len(recorder.sent("POST", path_end)) == 1, path_end
    api.delete("/__sim__/faults")
    assert (await client.terminate(bid)).confirmed


async def test_rate_limit_carries_retry_after(client, recorder, api):
    set_faults(api, jamsocket={"rate_limit": 1.0, "retry_after": 5})
    with pytest.raises(RateLimitedError) as limited:
        await client.snapshot()
    assert limited.value.retry_after == 5 and limited.value.status == 429
    assert "5 s" in str(limited.value)
    assert len(recorder.requests) == 1  # longer than the in-place cap: raised at once
    api.delete("/__sim__/faults")
    assert (await client.snapshot()).resources


async def test_auth_fail_everywhere_and_streams_do_not_retry_401(client, recorder, api):
    bid = a_backend(api, "ready")
    set_faults(api, jamsocket={"auth_fail": True})
    with pytest.raises(AuthError) as refused:
        await client.snapshot()
    assert "401" in str(refused.value) and "access token" in str(refused.value)
    with pytest.raises(AuthError):
        await client.check()
    for stream in (client.backend_metrics_stream(bid), client.backend_log_stream(bid)):
        with pytest.raises(AuthError):
            async for _ in stream:
                pass
    assert len(recorder.sent("GET", "/metrics/stream")) == 1
    assert len(recorder.sent("GET", "/logs/stream")) == 1
    with pytest.raises(AuthError):
        await client.metrics(as_resource(bid, "ready"))
    # The status endpoints need no credentials: a revoked token does not stop them.
    assert (await client.backend_status(bid)).status == "ready"
    api.delete("/__sim__/faults")
    assert (await client.snapshot()).resources


async def test_hang_times_out_as_a_transport_error(sim, api):
    quick = build(sim, timeout_seconds=0.3)
    quick.max_retries = 0
    quick.stream_max_reconnects = 1
    quick.stream_read_timeout = 0.3
    bid = a_backend(api, "ready")
    try:
        set_faults(api, jamsocket={"hang": True})
        started = time.monotonic()
        with pytest.raises(TransportError) as hung:
            await quick.snapshot()
        assert "timed out after 0.3 s" in str(hung.value)
        with pytest.raises(TransportError) as stream_hung:
            async for _ in quick.backend_status_stream(bid):
                pass
        assert "no answer within 0.3 s" in str(stream_hung.value)
        assert time.monotonic() - started < 3
        api.delete("/__sim__/faults")
        assert (await quick.snapshot()).resources
    finally:
        await quick.aclose()


async def test_truncated_answers_are_bad_payloads_and_writes_tolerate_them(client, api):
    name = (await client.services())[0]
    bid = a_backend(api, "ready")
    set_faults(api, jamsocket={"truncate_rate": 1.0})
    reads = [
        client.snapshot(),
        client.services(),
        client.service(name),
        client.images(name),
        client.service_backends(name),
        client.running_backends(),
        client.backend(bid),
        client.backend_status(bid),
    ]
    for coro in reads:
        with pytest.raises(BadPayloadError) as cut:
            await coro
        assert "jamsocket 'sim'" in str(cut.value)
    answer = await client.terminate(bid)  # accepted (200) though the body is cut short
    assert answer.status is None and not answer.confirmed
    api.delete("/__sim__/faults")
    assert (await client.backend_status(bid)).status == "terminating"


async def test_mangled_answers_are_tolerated_or_bad_payloads(client, api):
    name = (await client.services())[0]
    bid = a_backend(api, "terminated")
    set_faults(api, jamsocket={"mangle_rate": 1.0})
    outcomes = {"ok": 0, "bad": 0}
    for _ in range(6):
        for make in (
            client.snapshot,
            lambda: client.service(name),
            lambda: client.images(name),
            lambda: client.backend(bid),
            lambda: client.backend_status(bid),
        ):
            try:
                await make()
                outcomes["ok"] += 1
            except BadPayloadError:
                outcomes["bad"] += 1
    assert outcomes["ok"] and outcomes["bad"]  # both happen; nothing else is ever raised
    api.delete("/__sim__/faults")
    assert (await client.snapshot()).resources


def _sample_payloads() -> list[tuple[type, dict]]:
    status = {"status": "terminated", "time": "2024-01-02T01:30:45.678Z", "exit_error": True}
    item = {
        "id": "abcde",
        "cluster_name": "p.jamsocket.net",
        "created_at": "2024-01-02T12:34:56.789Z",
        "key": "k",
        "max_mem_bytes": 12345678,
        "service_name": "svc",
        "status": status,
    }
    return [
        (RunningBackends, {"running_backends": [item, {**item, "id": "x"}]}),
        (ServiceBackends, {"backends": [item]}),
        (BackendMetadata, {**item, "statuses": [status, {"status": "ready", "time": 1.7e12}]}),
        (Service, {"name": "svc", "environments": [{"cluster": "c", "image_tag": "latest"}]}),
        (ImageList, {"images": [{"digest": "sha256:1", "git_commit": {"hash": "h"}}]}),
        (Connection, {"backend_id": "a", "token": "t" * 8, "url": "u", "spawned": True}),
        (MetricsEvent, {"cpu_used": 10, "sys_cpu": 20, "mem_used": 1, "mem_limit": 2}),
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), index=st.integers(0, 6))
def test_wire_models_take_any_mangling_as_a_value_or_a_bad_payload(seed, index):
    model, payload = _sample_payloads()[index]
    spoiled = mangle(json.loads(json.dumps(payload)), random.Random(seed))
    try:
        parsed = parse_model(model, spoiled, "test")
    except BadPayloadError as err:
        assert "t" * 8 not in str(err)  # a secret is never quoted
        return
    # Whatever was accepted adapts without error.
    if isinstance(parsed, RunningBackends):
        for b in parsed.running_backends:
            backend_status(b.status)
    if isinstance(parsed, MetricsEvent):
        assert parsed.cpu_percent is None or 0 <= parsed.cpu_percent <= 100


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
        max_leaves=10,
    )
)
@settings(max_examples=30, deadline=None)
def test_wire_models_never_raise_anything_but_bad_payload(data):
    for model in (BackendItem, BackendStatus, Connection, Service, MetricsEvent):
        with contextlib.suppress(BadPayloadError):
            parse_model(model, data, "test")


# -- streams ----------------------------------------------------------------------------------


async def _collect(stream, limit: int | None = None, within: float = 5.0) -> list:
    out = []

    async def run() -> None:
        async with contextlib.aclosing(stream):
            async for item in stream:
                out.append(item)
                if limit is not None and len(out) >= limit:
                    return

    await asyncio.wait_for(run(), within)
    return out


async def _follow_a_whole_life(client, api) -> tuple[str, list[BackendStatus]]:
    """Stream a fresh backend's statuses while it starts, runs and is terminated."""
    name = (await client.services())[0]
    bid = (await client.connect(name)).backend_id
    seen: list[BackendStatus] = []
    first = asyncio.Event()

    async def follow() -> None:
        async for status in client.backend_status_stream(bid):
            seen.append(status)
            first.set()

    task = asyncio.create_task(follow())
    await asyncio.wait_for(first.wait(), 3)
    await asyncio.to_thread(advance, api, 10)
    await client.terminate(bid)
    await asyncio.to_thread(advance, api, 5)
    await asyncio.wait_for(task, 5)  # ends by itself at terminated
    return bid, seen


async def test_status_stream_replays_follows_live_and_ends_at_terminated(client, recorder, api):
    bid, seen = await _follow_a_whole_life(client, api)
    history = (await client.backend(bid)).statuses
    assert [s.status for s in seen] == [h.status for h in history]
    assert [s.time for s in seen] == [h.time for h in history]
    assert seen[0].status == "scheduled" and "ready" in [s.status for s in seen]
    assert seen[-1].status == "terminated" and seen[-1].exit_error is False
    assert len(recorder.sent("GET", "/status/stream")) == 1


async def test_status_stream_reconnects_with_last_event_id(client, recorder, api):
    set_faults(api, jamsocket={"sse_drop_after": 2})
    bid, seen = await _follow_a_whole_life(client, api)
    history = (await client.backend(bid)).statuses
    # Nothing lost, nothing twice, across every drop.
    assert [(s.status, s.time) for s in seen] == [(h.status, h.time) for h in history]
    opened = recorder.sent("GET", "/status/stream")
    assert len(opened) >= 4  # 7 statuses, 2 per connection
    ids = [r.headers.get("last-event-id") for r in opened]
    assert ids[0] is None and all(ids[1:])
    assert [int(i) for i in ids[1:]] == sorted({int(i) for i in ids[1:]})

    # A replay of a finished backend: exactly the ids delivered before each drop.
    recorder.requests.clear()
    done = a_backend(api, "terminated", exclude=(bid,))
    replay = await _collect(client.backend_status_stream(done))
    raw = api.get(f"/v2/backend/{done}").json()["statuses"]
    assert [s.status for s in replay] == [h["status"] for h in raw]
    headers = [r.headers.get("last-event-id") for r in recorder.sent("GET", "/status/stream")]
    assert headers == [None, *[str(i) for i in range(2, len(raw), 2)]]


async def test_metrics_stream_samples_reconnects_and_ends_with_its_backend(
    sim, client, recorder, api
):
    bid = a_backend(api, "ready")
    limit = api.get(f"/v2/backend/{bid}").json()["max_mem_bytes"]
    set_faults(api, jamsocket={"sse_drop_after": 2})
    samples = await _collect(client.backend_metrics_stream(bid), limit=5)
    assert len(samples) == 5
    for sample in samples:
        assert sample.resource_id == bid and sample.provider == "jamsocket"
        assert 0 < sample.cpu_percent <= 100
        assert 0 < sample.memory_used <= sample.memory_total == limit
    headers = [r.headers.get("last-event-id") for r in recorder.sent("GET", "/metrics/stream")]
    assert headers[:3] == [None, "2", "4"]
    api.delete("/__sim__/faults")

    # The server ends the stream when its backend dies: the iterator ends, no error.
    got: list = []

    async def follow() -> None:
        async for sample in client.backend_metrics_stream(bid):
            got.append(sample)

    task = asyncio.create_task(follow())
    assert await wait_until(lambda: len(got) >= 1)
    await asyncio.to_thread(api.post, f"/__sim__/jamsocket/kill/{bid}")
    await asyncio.wait_for(task, 3)
    assert not watchers(sim, bid)
    assert await _collect(client.backend_metrics_stream(bid)) == []  # terminated: ends at once


async def test_a_live_backends_stream_that_keeps_ending_gives_up(client, recorder, api):
    bid = a_backend(api, "ready")
    client.stream_max_reconnects = 2
    set_faults(api, jamsocket={"sse_drop_after": 0})  # every stream ends before its first event
    with pytest.raises(TransportError) as dropped:
        await _collect(client.backend_metrics_stream(bid))
    text = str(dropped.value)
    assert "metrics stream of backend" in text and "dropped" in text
    assert "after 2 reconnects" in text and "server ended the stream" in text
    assert len(recorder.sent("GET", "/metrics/stream")) == 3


async def test_log_stream_lines_and_end(client, api):
    name = (await client.services())[0]
    spawn = {"executable": {"env": {"MY_ENV_VAR": "foo"}}}
    bid = (await client.connect(name, spawn=spawn)).backend_id
    advance(api, 30)
    lines = await _collect(client.backend_log_stream(bid), limit=5)
    assert lines[0].startswith("> ") and lines[1].startswith("> ") and lines[2] == ""
    assert "MY_ENV_VAR" in lines[3] and "8080" in lines[4]
    await client.terminate(bid)
    advance(api, 5)
    everything = await _collect(
        client.backend_log_stream(bid)
    )  # a finished backend: ends by itself
    assert everything[:5] == lines and everything[-1].startswith("server closed")


async def test_quiet_stream_lives_on_keepalives(sim, recorder, api):
    # Read timeout 0.6 s, keep-alives every 0.2 s: a quiet stream is not taken for a dead one.
    acct = JamsocketAccount(name="sim", base_url=sim.base_url, account=DEMO_ACCOUNT, token="x")
    patient = JamsocketClient(
        acct, {"token": SecretStr(DEMO_TOKEN)}, transport=recorder, stream_read_timeout=0.6
    )
    bid = a_backend(api, "ready")
    try:
        got: list = []

        async def follow() -> None:
            async for status in patient.backend_status_stream(bid):
                got.append(status)

        task = asyncio.create_task(follow())
        await asyncio.sleep(1.5)
        assert not task.done() and [s.status for s in got][-1] == "ready"
        assert len(recorder.sent("GET", "/status/stream")) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await patient.aclose()


async def test_stalled_stream_hits_the_read_timeout_and_reconnects(sim, recorder, api):
    stalled = build(sim, recorder)
    stalled.stream_read_timeout = 0.4
    bid = a_backend(api, "ready")
    try:
        set_faults(api, jamsocket={"sse_stall": True})
        task = asyncio.create_task(_collect(stalled.backend_metrics_stream(bid), limit=2))
        await asyncio.sleep(1.0)
        assert not task.done()
        await asyncio.to_thread(set_faults, api, jamsocket={"sse_stall": False})
        samples = await asyncio.wait_for(task, 3)
        assert len(samples) == 2
        assert len(recorder.sent("GET", "/metrics/stream")) >= 2  # timed out, then reconnected

        recorder.requests.clear()
        stalled.stream_max_reconnects = 1
        set_faults(api, jamsocket={"sse_stall": True})
        started = time.monotonic()
        with pytest.raises(TransportError) as gave_up:
            await _collect(stalled.backend_status_stream(bid))
        assert time.monotonic() - started < 2.5
        assert "no data for 0.4 s (stalled)" in str(gave_up.value)
        assert "after 1 reconnects" in str(gave_up.value)
        assert len(recorder.sent("GET", "/status/stream")) == 2
    finally:
        await stalled.aclose()


async def test_cancelling_the_reader_closes_the_connection(sim, client, api):
    bid = a_backend(api, "ready")
    first = asyncio.Event()

    async def follow() -> None:
        async for _ in client.backend_status_stream(bid):
            first.set()

    task = asyncio.create_task(follow())
    await asyncio.wait_for(first.wait(), 3)
    assert len(watchers(sim, bid)) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_until(lambda: not watchers(sim, bid), 2)

    # Leaving early with aclosing() closes it too, and the client still works afterwards.
    async with contextlib.aclosing(client.backend_metrics_stream(bid)) as samples:
        async for _ in samples:
            assert len(watchers(sim, bid)) == 1
            break
    assert await wait_until(lambda: not watchers(sim, bid), 2)
    assert (await client.backend_status(bid)).status == "ready"


async def test_stream_honours_the_servers_retry():
    # A scripted server (not the simulator): only it can send a `retry:` field, or replay
    # events the client already has.
    opened: list[tuple[float, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/status"):
            return httpx.Response(200, json={"status": "ready", "time": 1_700_000_000})
        opened.append((time.monotonic(), request.headers.get("last-event-id")))
        if len(opened) == 1:
            body = b'retry: 300\nid: 1\ndata:{"status":"ready","time":"2024-01-02T01:23:45Z"}\n\n'
        else:  # a server that ignores Last-Event-ID and replays event 1: dropped client-side
            body = (
                b'id: 1\ndata:{"status":"ready","time":"2024-01-02T01:23:45Z"}\n\n'
                b'id: 2\ndata:{"status":"terminated","exit_error":false,"time":1704159000000}\n\n'
            )
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    acct = JamsocketAccount(name="t", base_url="http://js.test", account="a", token="tok-12345")
    client = JamsocketClient(
        acct, {"token": SecretStr("tok-12345")}, transport=httpx.MockTransport(handler)
    )
    client.stream_backoff_seconds = 0.01
    try:
        seen = await _collect(client.backend_status_stream("b1"))
    finally:
        await client.aclose()
    assert [s.status for s in seen] == ["ready", "terminated"]
    assert seen[1].time == 1_704_159_000.0  # epoch milliseconds tolerated
    assert [h for _, h in opened] == [None, "1"]
    assert opened[1][0] - opened[0][0] >= 0.3


async def test_metrics_reads_one_event_or_none(sim, client, recorder, api):
    bid = a_backend(api, "ready")
    sample = await client.metrics(as_resource(bid, "ready"))
    assert sample.resource_id == bid and 0 < sample.cpu_percent <= 100
    assert sample.memory_total == api.get(f"/v2/backend/{bid}").json()["max_mem_bytes"]
    assert await wait_until(lambda: not watchers(sim, bid), 2)  # its connection was closed
    recorder.requests.clear()
    assert await client.metrics(as_resource(a_backend(api, "terminated"), "terminated")) is None
    service = Resource(
        provider="jamsocket", account="sim", kind="service", id="x", name="x", status="running"
    )
    assert await client.metrics(service) is None
    assert recorder.requests == []  # neither needed a request
    # A scheduled backend sends no metrics yet: None once metrics_timeout has passed.
    client.metrics_timeout = 0.3
    name = (await client.services())[0]
    fresh = (await client.connect(name)).backend_id
    started = time.monotonic()
    assert await client.metrics(as_resource(fresh, "scheduled")) is None
    assert 0.25 < time.monotonic() - started < 1.5


async def test_errors_from_every_failure_are_provider_errors(client):
    with pytest.raises(NotFoundError):
        await _collect(client.backend_status_stream("zzzzz"))
    with pytest.raises(ProviderError):
        await client.service_backends("no-such-service")


# -- the provider interface's streams (by resource) -------------------------------------------


async def test_resource_streams_status_events_samples_and_log_lines(client, api):
    name = (await client.services())[0]
    bid = await client.connect(name, spawn={"executable": {"env": {"MY_ENV_VAR": "foo"}}})
    backend = as_resource(bid.backend_id, "scheduled")
    service = Resource(
        provider="jamsocket", account="sim", kind="service", id=name, name=name, status="running"
    )
    assert client.status_stream(service) is None
    assert client.metric_stream(service) is None
    assert client.log_stream(service) is None

    advance(api, 30)
    samples = await _collect(client.metric_stream(backend), limit=2)
    assert [s.resource_id for s in samples] == [backend.id] * 2 and 0 < samples[0].cpu_percent
    lines = await _collect(client.log_stream(backend), limit=4)
    assert [type(line).__name__ for line in lines] == ["LogLine"] * 4
    assert lines[0].text.startswith("> ") and "MY_ENV_VAR" in lines[3].text

    await client.terminate(backend.id)
    advance(api, 5)
    events = await _collect(client.status_stream(backend))
    history = (await client.backend(backend.id)).statuses
    assert [e.raw_status for e in events] == [h.status for h in history]
    assert [e.status for e in events] == [backend_status(h) for h in history]
    assert [e.time for e in events] == [h.time for h in history]
    assert [e.final for e in events] == [False] * (len(events) - 1) + [True]
    last = events[-1]
    assert (last.status, last.raw_status) == (Status.STOPPED, "terminated")
    assert last.reason == history[-1].termination_reason and last.reason
    assert last.exit_code == history[-1].exit_code is not None


async def test_a_streams_state_and_reconnect_attempt_are_observable(client, api):
    bid = a_backend(api, "ready")
    client.stream_max_reconnects = 2
    client.stream_backoff_seconds = 0.2  # long enough to watch each attempt
    stream = client.metric_stream(as_resource(bid, "ready"))
    assert (stream.state, stream.attempt, stream.problem) == ("connecting", 0, None)
    first = await asyncio.wait_for(anext(stream), 3)
    assert first.resource_id == bid and (stream.state, stream.attempt) == ("live", 0)

    # Every connection from now on ends before its first event: attempts 1, 2, then it gives up.
    set_faults(api, jamsocket={"sse_drop_after": 0})
    watched: list[tuple[str, int]] = []

    async def drain() -> None:
        async for _ in stream:
            pass

    reading = asyncio.create_task(drain())
    while not reading.done():
        if not watched or watched[-1] != (stream.state, stream.attempt):
            watched.append((stream.state.value, stream.attempt))
        await asyncio.sleep(0.01)
    with pytest.raises(TransportError, match="after 2 reconnects"):
        await reading
    assert ("reconnecting", 1) in watched and ("reconnecting", 2) in watched
    assert watched.index(("reconnecting", 1)) < watched.index(("reconnecting", 2))
    assert stream.state == "ended" and stream.problem == "the server ended the stream"


async def test_closing_a_resource_stream_early_ends_it_and_its_connection(sim, client, api):
    bid = a_backend(api, "ready")
    stream = client.status_stream(as_resource(bid, "ready"))
    async with contextlib.aclosing(stream):
        async for event in stream:
            assert event.status is Status.RUNNING or event.status is Status.PENDING
            assert len(watchers(sim, bid)) == 1
            break
    assert stream.state == "ended"
    assert await wait_until(lambda: not watchers(sim, bid), 2)
