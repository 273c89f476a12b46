"""The Joy client against the simulator: every type, quirks, power states, budgeted snapshots."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from pydantic import SecretStr

from joytui.config import JoyAccount
from joytui.model import PollHints, Status
from joytui.providers.errors import (
    AuthError,
    NotFoundError,
    RejectedError,
    ServerError,
)
from joytui.providers.joy import (
    CYCLE_POLLS,
    FIRST_POLL_INFOS,
    POWER_STATES,
    ROTATION_INFOS,
    JoyClient,
    MachineCurrent,
    envelope_error,
    machine_status,
    mask_secret,
    read_answer,
)
from joytui.sim.base import SimOptions
from joytui.sim.joy import ACTIONS, DEMO_KEY, DEMO_TOKEN
from tests.conftest import advance, set_faults

GiB = 2**30
JOY_HEADERS = {"x-api-token": DEMO_TOKEN, "x-api-key": DEMO_KEY}


def client_for(sim, token: str = DEMO_TOKEN, key: str = DEMO_KEY) -> JoyClient:
    acc = JoyAccount(name="x", base_url=sim.base_url, api_token="t", api_key="k")
    client = JoyClient(acc, {"api_token": SecretStr(token), "api_key": SecretStr(key)})
    client.backoff_seconds = 0.01
    return client


def sim_machines(sim):
    return sim.simulator.providers["joy"].by_hash


def count_types(client: JoyClient) -> list[str]:
    """Record the ``type`` of every call the client sends."""
    sent: list[str] = []

    async def hook(request: httpx.Request) -> None:
        sent.append(json.loads(request.content)["type"])

    client.http.event_hooks["request"].append(hook)
    return sent


# -- status mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "qmp", "expected"),
    [
        ("running", "running", Status.RUNNING),
        ("starting", "prelaunch", Status.PENDING),
        ("stopping", "running", Status.PENDING),
        ("rebooting", "running", Status.PENDING),
        ("suspending", "running", Status.PENDING),
        ("resuming", "prelaunch", Status.PENDING),
        ("paused", "paused", Status.PAUSED),
        ("suspended", "suspended", Status.PAUSED),
        ("stopped", "stopped", Status.STOPPED),
        ("error", "internal-error", Status.ERROR),
        ("running", "paused", Status.PAUSED),  # Proxmox reports a paused guest so
        (None, "running", Status.RUNNING),
        ("zombie", None, Status.UNKNOWN),
    ],
)
def test_machine_status(status, qmp, expected):
    got, raw = machine_status(MachineCurrent(status=status, qmpstatus=qmp))
    assert got is expected
    assert raw in (status, qmp)


def test_unknown_status_keeps_the_raw_word():
    assert machine_status(MachineCurrent(status="zombie")) == (Status.UNKNOWN, "zombie")
    assert machine_status(None) == (Status.UNKNOWN, None)


# -- envelopes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "cls"),
    [
        ({"success": "false", "error": "invalid_api_credentials"}, AuthError),
        ({"success": False, "error": "machine_not_found"}, NotFoundError),
        ({"success": False, "error": "invalid_state"}, RejectedError),
        ({"success": "false", "error": "unsupported_type"}, RejectedError),
        ({"success": "false"}, ServerError),
        ({"error": "something_odd"}, ServerError),
    ],
)
def test_failed_envelopes_map_to_the_taxonomy(doc, cls):
    err = envelope_error("machine_info", doc)
    assert type(err) is cls


@pytest.mark.parametrize("success", [True, "true", 1, "1", None])
def test_successful_envelopes_in_every_spelling(success):
    doc = {"value": 1} if success is None else {"success": success, "value": 1}
    assert envelope_error("dashboardinfo", doc) is None
    assert read_answer("dashboardinfo", json.dumps(json.dumps(doc)).encode()) == doc


def test_mask_secret_keeps_the_last_four():
    assert mask_secret(DEMO_KEY) == "****" + DEMO_KEY[-4:]
    assert mask_secret("short") == "****" and mask_secret(None) is None


# -- the operations -----------------------------------------------------------------------------


@pytest.mark.parametrize("quirk_rate", [0.0, 1.0])
async def test_every_read_under_every_quirk(shared, shared_http, quirk_rate):
    set_faults(shared_http, joy={"quirk_rate": quirk_rate})
    truth = sim_machines(shared)
    joy = shared.simulator.providers["joy"]
    async with client_for(shared) as client:
        dash = await client.dashboardinfo()
        machines = await client.machine_list()
        first = machines[0]
        info = await client.machine_info(first.ihash)
        account = await client.account_info()
    assert dash.amount == pytest.approx(float(joy.amount))
    assert dash.instances == len(truth) and dash.iram == joy.iram and dash.icore == joy.icore
    assert all(isinstance(v, int) for k, v in dash.figures().items() if k != "amount")
    assert {m.ihash for m in machines} == set(truth)
    m = truth[first.ihash]
    assert (first.ram, first.core, first.storage, first.id) == (m.ram, m.core, m.storage, m.id)
    assert info.value == first.ihash and info.current.vmid == m.vmid
    assert info.current.status == m.status and info.current.maxmem == m.ram * GiB
    assert isinstance(info.current.cpu, float) and info.qemu_config.memory == m.ram * 1024
    assert account.username == joy.account["username"] and account.verify is True
    assert account.amount_value == pytest.approx(float(joy.amount))


async def test_account_info_masks_the_credentials(shared):
    async with client_for(shared) as client:
        account = await client.account_info()
    dumped = account.model_dump_json()
    assert DEMO_TOKEN not in dumped and DEMO_KEY not in dumped
    assert account.api_token.api_key == "****" + DEMO_KEY[-4:]
    assert account.api_token.api_token == "****" + DEMO_TOKEN[-4:]
    assert account.api_token.status == "enabled"


def wire_vm_name(http: httpx.Client, ihash: str) -> str:
    """qemuConfig.name of a machine, as the API sends it."""
    body = {"type": "machine_info", "instance_token": ihash}
    doc = http.post("/api/connect/", json=body, headers=JOY_HEADERS).json()
    return (json.loads(doc) if isinstance(doc, str) else doc)["qemuConfig"]["name"]


async def test_snapshot_has_every_machine_with_its_status(shared, shared_http):
    truth = sim_machines(shared)
    async with client_for(shared) as client:
        sent = count_types(client)
        snap = await client.snapshot()
    assert sent.count("machine_info") == len(truth) and sent.count("machine_list") == 1
    assert len(snap.resources) == len(truth)
    for r in snap.resources:
        m = truth[r.id]
        # Every machine_info is known: the name is the VM's, the number stays in detail.
        assert (r.kind, r.name, r.ip, r.location) == (
            "machine",
            wire_vm_name(shared_http, r.id),
            m.ip,
            m.node,
        )
        assert r.detail["machine"] == str(m.vmid) and r.name != str(m.vmid)
        assert r.raw_status == m.status and r.status is not Status.UNKNOWN
        assert r.vcpus == m.core and r.memory_total == m.ram * GiB
        assert r.cpu_percent is not None and 0 <= r.cpu_percent <= 100
        assert r.detail["platform"] == m.platform and r.detail["storage_gb"] == m.storage
    figures = snap.totals.figures
    assert isinstance(figures["amount"], float) and figures["instances"] == len(truth)
    assert sum(snap.totals.counts["machine"].values()) == len(truth)


async def test_info_concurrency_is_bounded(shared, shared_http):
    set_faults(shared_http, joy={"latency_ms": 20})
    in_flight = 0
    peak = 0

    async with client_for(shared) as client:
        client.info_concurrency = 3

        async def on_request(request):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)

        async def on_response(response):
            nonlocal in_flight
            in_flight -= 1

        client.http.event_hooks["request"].append(on_request)
        client.http.event_hooks["response"].append(on_response)
        await client.snapshot()
    assert peak == 3


async def test_budgeted_snapshots_put_priority_first_then_rotate(shared):
    truth = sim_machines(shared)
    async with client_for(shared) as client:
        sent = count_types(client)
        first = await client.snapshot(info_budget=0)
        assert all(r.status is Status.UNKNOWN for r in first.resources)
        assert "machine_info" not in sent
        ids = [r.id for r in first.resources]
        favourite = ids[-1]
        seen: set[str] = set()
        rounds = 0
        while len(seen) < len(ids) - 1:
            sent.clear()
            snap = await client.snapshot(info_budget=7, priority_ids=[favourite, "no-such"])
            rounds += 1
            assert sent.count("machine_info") == 7
            fresh = {r.id for r in snap.resources if r.status is not Status.UNKNOWN}
            assert favourite in fresh and fresh >= seen  # last known status is kept
            seen = fresh - {favourite}
        # 39 others at 6 a round: every machine covered in 7 rounds, none fetched twice.
        assert rounds == -(-(len(ids) - 1) // 6)
        assert all(r.raw_status == truth[r.id].status for r in snap.resources)


def test_the_dashboards_budget_policy_lives_in_the_client():
    # What the dashboard asked for before the policy moved here: a first poll of 200, then the
    # visible rows plus 8, or a sixtieth of a big fleet, at most 200.
    assert (FIRST_POLL_INFOS, ROTATION_INFOS, CYCLE_POLLS) == (200, 8, 60)
    acc = JoyAccount(name="x", base_url="http://joy.test", api_token="t", api_key="k")
    client = JoyClient(acc, {"api_token": SecretStr("t" * 8), "api_key": SecretStr("k" * 8)})
    ids = [f"m{i}" for i in range(50_000)]
    assert client.poll_budget(ids, ["m1", "m2"]) == 200  # the first poll: nothing to put first
    client._polled = True
    assert client.poll_budget(ids[:100], ["m1", "m2", "m2", "gone"]) == 2 + 8
    assert client.poll_budget(ids[:6000], ["m1"]) == 1 + 100
    assert client.poll_budget(ids, []) == 200


async def test_hinted_polls_spread_machine_info_none_asks_every_machine(shared):
    async with client_for(shared) as client:
        client.first_poll_infos, client.cycle_polls = 12, 2  # 40 machines: rotation of 12
        sent = count_types(client)
        first = await client.snapshot(PollHints())
        assert sent.count("machine_info") == 12
        assert sum(r.status is not Status.UNKNOWN for r in first.resources) == 12
        ids = [r.id for r in first.resources]
        visible = (ids[-1], ids[-2], "not-a-machine")
        seen: set[str] = set()
        for _ in range(3):
            sent.clear()
            snap = await client.snapshot(PollHints(priority_ids=visible))
            assert sent.count("machine_info") == 2 + 12  # the visible rows, then the rotation
            fresh = {r.id for r in snap.resources if r.status is not Status.UNKNOWN}
            assert {ids[-1], ids[-2]} <= fresh and fresh >= seen
            seen = fresh
        assert seen == set(ids)  # 12 + 3 * 12 rotated: every machine known
        sent.clear()
        await client.snapshot(None)
        assert sent.count("machine_info") == len(ids)  # one-shot: complete
        assert snap.latency_ms > 0


async def test_metrics_from_machine_info(shared):
    async with client_for(shared) as client:
        snap = await client.snapshot()
        running = next(r for r in snap.resources if r.status is Status.RUNNING)
        sample = await client.metrics(running)
    assert sample.resource_id == running.id and sample.provider == "joy"
    assert sample.memory_total == running.memory_total and sample.memory_used > 0
    for field in ("net_in", "net_out", "disk_read", "disk_write"):
        assert getattr(sample, field) > 0
    assert sample.uptime_seconds > 0 and 0 <= sample.cpu_percent <= 100


async def test_the_eight_power_states(sim):
    async with client_for(sim) as client:
        snap = await client.snapshot()
        target = snap.resources[0]
        # Offered by status (all eight while it is unknown); every one can be sent.
        unknown = target.model_copy(update={"status": Status.UNKNOWN})
        actions = await client.actions(unknown)
        assert [a.id for a in actions] == list(POWER_STATES)
        assert {a.id for a in actions if a.destructive} == {"force_shutdown", "force_reboot"}
        assert {a.id for a in await client.actions(target)} < set(POWER_STATES)
        for state in POWER_STATES:
            result = await client.perform(target, state)
            assert result.ok and result.message.endswith(f"({ACTIONS[state].reply})")


async def test_a_power_action_moves_the_machine(sim, sim_http):
    truth = sim_machines(sim)
    async with client_for(sim) as client:
        snap = await client.snapshot()
        target = next(r for r in snap.resources if r.status is Status.RUNNING)
        assert await client.change_machine_state(target.id, "shutdown") == "shutdown_success"
        info = await client.machine_info(target.id)
        assert machine_status(info.current) == (Status.PENDING, "stopping")
        advance(sim_http, 60)
        snap = await client.snapshot(info_budget=1, priority_ids=[target.id])
    moved = next(r for r in snap.resources if r.id == target.id)
    assert moved.status is Status.STOPPED and truth[target.id].status == "stopped"


async def test_invalid_state_is_a_clear_error(shared):
    async with client_for(shared) as client:
        sent = count_types(client)
        ihash = (await client.machine_list())[0].ihash
        sent.clear()
        with pytest.raises(RejectedError, match="unknown machine_state 'explode'") as info:
            await client.change_machine_state(ihash, "explode")
        assert sent == [] and "expected one of start, shutdown" in str(info.value)
        # What the API says when it is sent one anyway.
        with pytest.raises(RejectedError, match="invalid_state") as info:
            await client.connect(
                "change_machine_state", retry=False, instance_token=ihash, machine_state="zz"
            )
        assert info.value.status == 400
        with pytest.raises(RejectedError, match="no action 'explode'"):
            await client.perform((await client.snapshot(info_budget=0)).resources[0], "explode")


async def test_unknown_machine_is_not_found(shared):
    async with client_for(shared) as client:
        with pytest.raises(NotFoundError, match="machine_not_found") as info:
            await client.machine_info("0" * 32)
    assert info.value.status == 404 and str(info.value).startswith("joy 'x': ")


async def test_wrong_credentials_are_an_auth_error(shared):
    async with client_for(shared, key="joy-wrong-key-123456") as client:
        with pytest.raises(AuthError, match="invalid_api_credentials") as info:
            await client.snapshot()
    assert info.value.status == 401 and "check api_token and api_key" in str(info.value)
    assert "joy-wrong-key-123456" not in repr(info.value)


# -- partial failures (shapes the simulator does not make on demand) ----------------------------


def fake_joy(failing: set[str]):
    machines = [{"ihash": h, "machine": h, "ram": 1, "core": 1} for h in ("a1", "b2", "c3")]

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        kind = body["type"]
        if kind == "machine_list":
            return httpx.Response(200, json={"success": "true", "value": machines})
        if kind == "dashboardinfo":
            return httpx.Response(200, json={"success": "true", "amount": "1.50", "total": "3"})
        token = body["instance_token"]
        if token in failing:
            return httpx.Response(502, text="<html>bad gateway</html>")
        return httpx.Response(
            200, json={"success": True, "value": token, "Current": {"status": "running"}}
        )

    acc = JoyAccount(name="x", base_url="http://joy.test", api_token="t", api_key="k")
    secrets = {"api_token": SecretStr(DEMO_TOKEN), "api_key": SecretStr(DEMO_KEY)}
    client = JoyClient(acc, secrets, transport=httpx.MockTransport(handler))
    client.backoff_seconds = 0.001
    return client


async def test_a_few_failed_infos_leave_those_machines_unknown():
    async with fake_joy({"b2"}) as client:
        snap = await client.snapshot()
    status = {r.id: r.status for r in snap.resources}
    assert status == {"a1": Status.RUNNING, "b2": Status.UNKNOWN, "c3": Status.RUNNING}
    assert set(client.info_errors) == {"b2"} and isinstance(client.info_errors["b2"], ServerError)
    assert snap.totals.figures == {"amount": 1.5, "total": 3}


async def test_every_info_failing_raises():
    async with fake_joy({"a1", "b2", "c3"}) as client:
        with pytest.raises(ServerError, match="502"):
            await client.snapshot()


async def test_concurrent_snapshots_do_not_interfere(shared):
    async with client_for(shared) as client:
        a, b = await asyncio.gather(client.snapshot(), client.snapshot())
    assert [r.id for r in a.resources] == [r.id for r in b.resources]


# -- names, rotation order, catching up ---------------------------------------------------------


def count_infos(client: JoyClient) -> list[str]:
    """Record the ihash of every machine_info the client sends, in order."""
    asked: list[str] = []

    async def hook(request: httpx.Request) -> None:
        body = json.loads(request.content)
        if body["type"] == "machine_info":
            asked.append(body["instance_token"])

    client.http.event_hooks["request"].append(hook)
    return asked


async def test_a_machine_is_named_by_its_vm_once_known(shared, shared_http):
    truth = sim_machines(shared)
    async with client_for(shared) as client:
        before = await client.snapshot(info_budget=0)
        assert all(r.name == str(truth[r.id].vmid) for r in before.resources)  # not known yet
        assert all(r.detail["machine"] == r.name for r in before.resources)
        some = [r.id for r in before.resources[:5]]
        after = await client.snapshot(info_budget=5, priority_ids=some)
    for r in after.resources:
        assert r.detail["machine"] == str(truth[r.id].vmid)  # searchable either way
        if r.id in some:
            assert r.name == wire_vm_name(shared_http, r.id) and r.name != r.detail["machine"]
        else:
            assert r.name == r.detail["machine"]


async def test_polls_ask_the_never_asked_first_then_the_least_recently_asked(shared):
    async with client_for(shared) as client:
        ids = [r.id for r in (await client.snapshot(info_budget=0)).resources]
        asked = count_infos(client)
        favourite = ids[20]
        await client.snapshot(info_budget=11, priority_ids=[favourite])
        assert asked == [favourite, *ids[:10]]
        asked.clear()
        # The never asked come next, in list order; then the least recently asked.
        never = [i for i in ids if i not in {favourite, *ids[:10]}]
        assert len(never) == 29
        await client.snapshot(info_budget=30)
        assert asked == [*never, favourite]
        asked.clear()
        await client.snapshot(info_budget=12)
        assert asked == [*ids[:10], *never[:2]]


async def test_unknown_count_falls_as_statuses_arrive(shared):
    async with client_for(shared) as client:
        assert client.unknown_count == 0  # nothing listed yet
        snap = await client.snapshot(info_budget=0)
        assert client.unknown_count == len(snap.resources) == 40
        await client.snapshot(info_budget=7)
        assert client.unknown_count == 33
        await client.machine_info(snap.resources[-1].id)  # metrics() and the like count too
        assert client.unknown_count == 32
        await client.snapshot()
        assert client.unknown_count == 0


def test_many_unknown_machines_make_a_catch_up_budget():
    acc = JoyAccount(name="x", base_url="http://joy.test", api_token="t", api_key="k")
    client = JoyClient(acc, {"api_token": SecretStr("t" * 8), "api_key": SecretStr("k" * 8)})
    ids = [f"m{i}" for i in range(10_000)]
    client._listed, client._polled = set(ids), True
    visible = ids[:30]
    client._unknown = 9_800
    client._info_rate = 3_000.0  # machine_info per second measured by the last big poll
    # 6,000 calls in about catch_up_seconds (2 s) at that rate, the visible rows first.
    assert client.poll_budget(ids, visible) == 30 + 6_000
    client._unknown = 1_500
    assert client.poll_budget(ids, visible) == 30 + 1_500  # no more than the unknown ones
    # Few unknown: the rotation reaches them within catch_up_polls polls anyway.
    client._unknown = 3 * (30 + 166)
    assert client.poll_budget(ids, visible) == 30 + 166
    client._unknown, client._polled = 9_800, False
    assert client.poll_budget(ids, visible) == 200  # the first poll stays quick


@pytest.mark.parametrize("sim_options", [SimOptions(seed=3, machines=2000, incidents=False)])
async def test_a_big_fleet_is_known_within_a_few_polls(sim):
    async with client_for(sim) as client:
        polls = []
        while True:
            snap = await client.snapshot(PollHints(priority_ids=()))
            polls.append(client.unknown_count)
            if client.unknown_count == 0 or len(polls) == 8:
                break
    assert polls[0] == 2000 - 200  # the first poll is the usual quick one
    # The rotation alone (33 a poll) would need about 55 more polls.
    assert len(polls) <= 5, polls
    assert all(r.status is not Status.UNKNOWN for r in snap.resources)
