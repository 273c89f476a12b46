"""The instances client against the simulator: all seven operations and the status mapping."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from joytui.config import InstancesAccount
from joytui.model import Status
from joytui.providers.errors import AuthError, NotFoundError, RejectedError
from joytui.providers.instances import InstancesClient, instance_status
from joytui.sim.instances import DEMO_API_KEY
from tests.conftest import advance


def client_for(sim, key: str = DEMO_API_KEY) -> InstancesClient:
    acc = InstancesAccount(name="bots", base_url=sim.base_url, api_key="x")
    return InstancesClient(acc, {"api_key": SecretStr(key)})


def sim_instances(sim):
    return sim.simulator.providers["instances"].instances


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("running", Status.RUNNING),
        ("creating", Status.PENDING),
        ("restarting", Status.PENDING),
        ("paused", Status.PAUSED),
        ("stopped", Status.STOPPED),
        ("error", Status.ERROR),
        ("exploded", Status.UNKNOWN),
        (None, Status.UNKNOWN),
    ],
)
def test_status_mapping(raw, status):
    assert instance_status(raw) is status


async def test_snapshot_matches_the_simulator(shared):
    async with client_for(shared) as client:
        snap = await client.snapshot()
    truth = sim_instances(shared)
    assert {r.id for r in snap.resources} == set(truth)
    for r in snap.resources:
        inst = truth[r.id]
        assert (r.provider, r.account, r.kind) == ("instances", "bots", "instance")
        assert r.name == inst.name and r.raw_status == inst.status
        assert r.status is instance_status(inst.status) and r.location == inst.region
        assert isinstance(r.created_at, float) and r.created_at == inst.created_at
    counted = sum(sum(by.values()) for by in snap.totals.counts.values())
    assert counted == len(truth) and snap.latency_ms > 0


async def test_create_get_health_pause_restart_delete(sim, sim_http):
    async with client_for(sim) as client:
        made = await client.create_instance(name="my-bot", region="eu-west-1")
        assert (made.name, made.region, made.status) == ("my-bot", "eu-west-1", "creating")
        got = await client.get_instance(made.id)
        assert got.id == made.id and instance_status(got.status) is Status.PENDING
        advance(sim_http, 30)
        assert (await client.get_instance(made.id)).status == "running"
        health = await client.health(made.id)
        assert health.uptime_secs is not None and health.uptime_secs > 0
        assert await client.pause_instance(made.id) == "paused"
        assert (await client.get_instance(made.id)).status == "paused"
        assert await client.restart_instance(made.id) == "restarted"
        assert (await client.get_instance(made.id)).status == "restarting"
        assert await client.delete_instance(made.id) is None
        with pytest.raises(NotFoundError, match="not found"):
            await client.get_instance(made.id)
        with pytest.raises(NotFoundError):
            await client.delete_instance(made.id)
    assert made.id not in sim_instances(sim)


async def test_create_without_fields_uses_defaults(shared):
    async with client_for(shared) as client:
        made = await client.create_instance()
    assert made.id.startswith("inst_") and made.name and made.status == "creating"


async def test_actions_and_perform(sim):
    async with client_for(sim) as client:
        snap = await client.snapshot()
        running = next(r for r in snap.resources if r.status is Status.RUNNING)
        ids = [a.id for a in await client.actions(running)]
        assert ids == ["pause", "restart", "delete"]
        assert [a.destructive for a in await client.actions(running)] == [False, False, True]
        result = await client.perform(running, "pause")
        assert result.ok and result.message == "paused"
        paused = running.model_copy(update={"status": Status.PAUSED})
        assert "pause" not in [a.id for a in await client.actions(paused)]
        result = await client.perform(running, "restart")
        assert result.ok and result.message == "restarted"
        with pytest.raises(RejectedError, match="no action 'explode'"):
            await client.perform(running, "explode")
        result = await client.perform(running, "delete")
        assert result.ok and running.id not in sim_instances(sim)


async def test_a_refused_action_comes_back_not_ok(sim, sim_http):
    async with client_for(sim) as client:
        snap = await client.snapshot()
        target = snap.resources[0]
        sim_http.post(f"/__sim__/instances/fail/{target.id}").raise_for_status()
        result = await client.perform(target, "pause")
    assert not result.ok and "409" in result.message and "cannot be paused" in result.message


async def test_metrics_from_health(shared):
    async with client_for(shared) as client:
        snap = await client.snapshot()
        running = next(r for r in snap.resources if r.status is Status.RUNNING)
        sample = await client.metrics(running)
    assert sample is not None and sample.resource_id == running.id
    assert 0 <= sample.cpu_percent <= 100 and sample.memory_used > 0
    assert sample.uptime_seconds > 0 and sample.account == "bots"


async def test_wrong_key_is_an_auth_error(shared):
    async with client_for(shared, key="not-the-key") as client:
        with pytest.raises(AuthError) as info:
            await client.snapshot()
    assert info.value.status == 401 and "check api_key" in str(info.value)
    assert "not-the-key" not in str(info.value)
