"""The Jamsocket client against the simulated v2 API, over real HTTP: every endpoint, the
snapshot adapter, actions, secrets, every fault knob, and the three SSE streams (replay,
reconnection with Last-Event-ID, stalls, clean ends, cancellation)."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from joytui.model import Status
from joytui.providers import client_class
from joytui.providers.errors import (
    AuthError,
    BadPayloadError,
    NotFoundError,
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
from joytui.sim.faults import mangle
from joytui.sim.jamsocket import DEMO_ACCOUNT, DEMO_TOKEN
from tests.conftest import advance, set_faults
from tests.providers.jamsocket.support import (
    ACCT,
    a_backend,
    as_resource,
    build,
    collect,
    parse_iso,
    raw_backends,
)

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
        await collect(client.backend_status_stream(bid))
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
