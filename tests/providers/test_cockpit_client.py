"""The Cockpit client against the simulator: lazy login, refresh before expiry, one refresh on
a 401, single-flight renewal, fallback to login; hosts, VMs, actions, migrations."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from joytui.config import CockpitAccount
from joytui.model import Status
from joytui.providers.cockpit import CockpitClient, host_status, read_vm, vm_status
from joytui.providers.errors import AuthError, NotFoundError, RejectedError
from joytui.sim.base import SimOptions
from joytui.sim.cockpit import DEMO_PASSWORD
from joytui.sim.server import SimServer
from tests.conftest import advance, set_faults

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
HOSTS = "/api/v1/hosts"


class Traffic:
    """Every (method, path, status) the client saw, via httpx event hooks."""

    def __init__(self, client: CockpitClient) -> None:
        self.sent: list[str] = []
        self.answers: list[tuple[str, int]] = []
        client.http.event_hooks["request"].append(self._request)
        client.http.event_hooks["response"].append(self._response)

    async def _request(self, request: httpx.Request) -> None:
        self.sent.append(request.url.path)

    async def _response(self, response: httpx.Response) -> None:
        self.answers.append((response.request.url.path, response.status_code))

    def count(self, path: str) -> int:
        return self.sent.count(path)

    def refused(self) -> int:
        return sum(1 for _, status in self.answers if status == 401)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_for(sim, password: str = DEMO_PASSWORD) -> CockpitClient:
    acc = CockpitAccount(name="lab", base_url=sim.base_url, username="admin", password="x")
    client = CockpitClient(acc, {"password": SecretStr(password)})
    client.backoff_seconds = 0.01
    return client


def cockpit_sim(sim):
    return sim.simulator.providers["cockpit"]


@pytest.fixture
def shared(shared_sim: SimServer) -> Iterator[SimServer]:
    """The shared simulator; faults cleared and the token lifetime restored after each test."""
    yield shared_sim
    httpx.delete(f"{shared_sim.base_url}/__sim__/faults").raise_for_status()
    url = f"{shared_sim.base_url}/__sim__/cockpit/token-ttl"
    httpx.post(url, json={"seconds": 3600}).raise_for_status()


@pytest.mark.parametrize(
    ("raw", "host", "vm"),
    [
        ("connected", Status.RUNNING, Status.UNKNOWN),
        ("disconnected", Status.ERROR, Status.UNKNOWN),
        ("running", Status.UNKNOWN, Status.RUNNING),
        ("migrating", Status.UNKNOWN, Status.PENDING),
        ("starting", Status.UNKNOWN, Status.PENDING),
        ("restarting", Status.UNKNOWN, Status.PENDING),
        ("paused", Status.UNKNOWN, Status.PAUSED),
        ("stopped", Status.UNKNOWN, Status.STOPPED),
        ("error", Status.UNKNOWN, Status.ERROR),
    ],
)
def test_status_mapping(raw, host, vm):
    assert host_status(raw) is host and vm_status(raw) is vm


def test_vm_model_reads_plausible_alternative_names():
    vm = read_vm({"vm": {"id": 7, "state": "running", "host": "h1", "cpus": "2"}})
    assert (vm.id, vm.status, vm.host_id, vm.vcpus) == ("7", "running", "h1", 2)


# -- auth ---------------------------------------------------------------------------------------


async def test_login_is_lazy_and_happens_once(shared):
    async with client_for(shared) as client:
        traffic = Traffic(client)
        assert traffic.sent == []
        await client.hosts()
        await client.vms()
        await client.snapshot()
    assert traffic.count(LOGIN) == 1 and traffic.refused() == 0


async def test_refresh_shortly_before_expiry(shared, shared_http):
    shared_http.post("/__sim__/cockpit/token-ttl", json={"seconds": 100}).raise_for_status()
    async with client_for(shared) as client:
        clock = FakeClock()
        client.clock = clock
        traffic = Traffic(client)
        await client.hosts()
        clock.now += 70  # within the token's life: no renewal
        advance(shared_http, 70)
        await client.hosts()
        assert traffic.count(REFRESH) == 0
        clock.now += 15  # 85 s of 100: inside the margin (20 s), so refresh first
        advance(shared_http, 15)
        await client.hosts()
    assert traffic.count(LOGIN) == 1 and traffic.count(REFRESH) == 1
    assert traffic.refused() == 0  # renewed before the server had to refuse anything


async def test_a_401_refreshes_once_then_succeeds(shared, shared_http):
    async with client_for(shared) as client:
        traffic = Traffic(client)
        await client.hosts()
        shared_http.post("/__sim__/cockpit/expire-tokens").raise_for_status()
        hosts = await client.hosts()
    assert len(hosts) == len(cockpit_sim(shared).hosts)
    assert traffic.refused() == 1 and traffic.count(REFRESH) == 1 and traffic.count(LOGIN) == 1
    assert traffic.sent == [LOGIN, "/api/v1/hosts", "/api/v1/hosts", REFRESH, "/api/v1/hosts"]


async def test_concurrent_callers_share_one_login_and_one_refresh(shared, shared_http):
    async with client_for(shared) as client:
        traffic = Traffic(client)
        await asyncio.gather(*(client.vms() for _ in range(8)))
        assert traffic.count(LOGIN) == 1
        shared_http.post("/__sim__/cockpit/expire-tokens").raise_for_status()
        results = await asyncio.gather(*(client.hosts() for _ in range(8)))
    assert all(len(r) == len(cockpit_sim(shared).hosts) for r in results)
    assert traffic.count(LOGIN) == 1 and traffic.count(REFRESH) == 1
    assert client.logins == 1 and client.refreshes == 1


async def test_concurrent_callers_share_one_proactive_refresh(shared, shared_http):
    shared_http.post("/__sim__/cockpit/token-ttl", json={"seconds": 100}).raise_for_status()
    async with client_for(shared) as client:
        clock = FakeClock()
        client.clock = clock
        traffic = Traffic(client)
        await client.hosts()
        clock.now += 90
        await asyncio.gather(*(client.hosts() for _ in range(6)))
    assert traffic.count(REFRESH) == 1 and traffic.count(LOGIN) == 1


async def test_a_failed_refresh_falls_back_to_login(shared, shared_http):
    async with client_for(shared) as client:
        traffic = Traffic(client)
        await client.hosts()
        client._refresh_token = "0000-spent-or-revoked"
        shared_http.post("/__sim__/cockpit/expire-tokens").raise_for_status()
        await client.hosts()
    assert traffic.count(REFRESH) == 1 and traffic.count(LOGIN) == 2
    assert (REFRESH, 401) in traffic.answers and traffic.answers[-1] == ("/api/v1/hosts", 200)


async def test_explicit_login_and_refresh(shared):
    async with client_for(shared) as client:
        traffic = Traffic(client)
        await client.login()
        first = client._token
        await client.refresh()
        assert client._token != first
        await client.vms()
    assert traffic.sent == [LOGIN, REFRESH, "/api/v1/vms"]


async def test_refused_login_says_check_username_and_password(shared):
    async with client_for(shared, password="wrong-password-123") as client:
        with pytest.raises(AuthError) as info:
            await client.snapshot()
    assert str(info.value) == "cockpit 'lab': login refused (401) — check username and password"
    assert "wrong-password-123" not in repr(info.value)


# -- hosts and VMs ------------------------------------------------------------------------------


async def test_snapshot_of_hosts_and_vms(sim, sim_http):
    truth = cockpit_sim(sim)
    host_id = next(iter(truth.hosts))
    sim_http.post(f"/__sim__/cockpit/disconnect/{host_id}").raise_for_status()
    async with client_for(sim) as client:
        snap = await client.snapshot()
    hosts = {r.id: r for r in snap.resources if r.kind == "host"}
    vms = {r.id: r for r in snap.resources if r.kind == "vm"}
    assert set(hosts) == set(truth.hosts) and set(vms) == set(truth.vms)
    assert hosts[host_id].status is Status.ERROR and hosts[host_id].raw_status == "disconnected"
    assert all(h.status is Status.RUNNING for i, h in hosts.items() if i != host_id)
    for vm_id, r in vms.items():
        vm = truth.vms[vm_id]
        assert (r.name, r.parent, r.ip, r.vcpus) == (vm.name, vm.host_id, vm.ip, vm.vcpus)
        assert r.location == truth.hosts[vm.host_id].hostname
        assert r.status is vm_status(vm.status) and r.memory_total == vm.memory_mb * 2**20
    assert snap.totals.counts["host"] == {"running": len(hosts) - 1, "error": 1}


async def test_power_actions_move_a_vm(sim, sim_http):
    async with client_for(sim) as client:
        snap = await client.snapshot()
        vm = next(r for r in snap.resources if r.kind == "vm" and r.status is Status.RUNNING)
        assert {a.id for a in await client.actions(vm)} >= {"stop", "force_stop", "pause"}
        assert [a.id for a in await client.actions(snap.resources[0])] == []  # a host
        steps = [
            ("pause", "pausing", "paused"),
            ("resume", "resuming", "running"),
            ("restart", "restarting", "running"),
            ("force_stop", "stopping", "stopped"),
            ("start", "starting", "running"),
            ("force_restart", "restarting", "running"),
            ("stop", "stopping", "stopped"),
        ]
        for action, during, after in steps:
            result = await client.perform(vm, action)
            assert result.ok and result.message == "accepted", action
            assert (await client.vm(vm.id)).status == during
            advance(sim_http, 10)
            assert (await client.vm(vm.id)).status == after
        refused = await client.perform(vm, "pause")  # a stopped VM cannot pause
    assert not refused.ok and "409" in refused.message


async def test_unknown_action_and_vm(shared):
    async with client_for(shared) as client:
        snap = await client.snapshot()
        vm = next(r for r in snap.resources if r.kind == "vm")
        with pytest.raises(RejectedError, match="no action 'explode'"):
            await client.perform(vm, "explode")
        with pytest.raises(RejectedError, match="unknown vm action"):
            await client.vm_action(vm.id, "explode")  # type: ignore[arg-type]
        with pytest.raises(NotFoundError):
            await client.vm("no-such-vm")


async def test_migrate_and_follow_the_migration(sim, sim_http):
    truth = cockpit_sim(sim)
    async with client_for(sim) as client:
        snap = await client.snapshot()
        vm = next(r for r in snap.resources if r.kind == "vm" and r.status is Status.RUNNING)
        dest = next(h for h in truth.hosts if h != vm.parent)
        mig = await client.migrate(
            vm.id, dest, live=True, persistent=False, undefine_source=True, copy_storage="inc"
        )
        assert mig.status == "initiated"
        assert vm_status((await client.vm(vm.id)).status) is Status.PENDING
        running = await client.migration(mig.migration_id)
        assert (running.status, running.copy_storage, running.persistent) == (
            "running",
            "inc",
            False,
        )
        assert running.source_host_id == vm.parent and running.destination_host_id == dest
        advance(sim_http, 20)
        done = await client.migration(mig.migration_id)
        moved = await client.vm(vm.id)
    assert done.status == "completed" and moved.host_id == dest and moved.status == "running"


async def test_migrate_through_perform(sim):
    truth = cockpit_sim(sim)
    async with client_for(sim) as client:
        snap = await client.snapshot()
        vm = next(r for r in snap.resources if r.kind == "vm" and r.status is Status.STOPPED)
        dest = next(h for h in truth.hosts if h != vm.parent)
        result = await client.perform(
            vm, "migrate", destination_host_id=dest, live=False, copy_storage="all"
        )
        assert result.ok and "initiated" in result.message
        missing = await client.perform(vm, "migrate")
        assert not missing.ok and "destination_host_id" in missing.message
        with pytest.raises(RejectedError, match="copy_storage"):
            await client.migrate(vm.id, dest, copy_storage="some")  # type: ignore[arg-type]
    assert truth.vms[vm.id].status == "migrating"


async def test_metrics_of_a_vm_and_none_for_a_host(shared):
    async with client_for(shared) as client:
        snap = await client.snapshot()
        vm = next(r for r in snap.resources if r.kind == "vm" and r.status is Status.RUNNING)
        host = next(r for r in snap.resources if r.kind == "host")
        sample = await client.metrics(vm)
        assert await client.metrics(host) is None
    assert sample.resource_id == vm.id and sample.memory_total == vm.memory_total
    assert sample.memory_used > 0 and sample.uptime_seconds > 0


async def test_the_live_token_is_masked_in_errors(shared):
    async with client_for(shared) as client:
        await client.login()
        err = client.error(RejectedError, f"server said: bad token {client._token}")
    assert client._token not in str(err) and "bad token ***" in str(err)


# -- token expiry under latency (TTL 1 s, 700 ms each way) -----------------------------------


@pytest.fixture
def slow_sim() -> Iterator[SimServer]:
    """A simulator with 1 s tokens and 700 ms latency on every Cockpit call. Its clock is
    frozen, so a token expires exactly when a test jumps the clock: mid-flight, on cue."""
    with SimServer(SimOptions(seed=7, machines=5, speed=0.0, incidents=False)) as server:
        with httpx.Client(base_url=server.base_url, timeout=10) as control:
            control.post("/__sim__/cockpit/token-ttl", json={"seconds": 1}).raise_for_status()
            set_faults(control, cockpit={"latency_ms": 700})
        yield server


def expire_when_sent(client: CockpitClient, sim: SimServer, path_end: str, times: int = 1):
    """Jump the simulator's clock past every token's expiry 0.2 s after each of the first
    ``times`` requests to ``path_end`` leaves: the token expires in flight."""
    jumps: list[asyncio.Task] = []

    def jump() -> None:
        with httpx.Client(base_url=sim.base_url, timeout=10) as control:
            advance(control, 5)

    async def later() -> None:
        await asyncio.sleep(0.2)
        await asyncio.to_thread(jump)

    async def hook(request: httpx.Request) -> None:
        if request.url.path.endswith(path_end) and len(jumps) < times:
            jumps.append(asyncio.create_task(later()))

    client.http.event_hooks["request"].append(hook)
    return jumps


def a_running_vm(sim: SimServer) -> str:
    truth = cockpit_sim(sim)
    return next(
        v.id
        for v in truth.vms.values()
        if v.status == "running"
        and v.migration is None
        and truth.hosts[v.host_id].status == "connected"
    )


async def test_a_read_whose_token_expires_in_flight_is_renewed_and_sent_once_more(slow_sim):
    async with client_for(slow_sim) as client:
        client.clock = FakeClock()  # the client never sees the token age: only the 401 tells
        traffic = Traffic(client)
        await client.login()
        jumps = expire_when_sent(client, slow_sim, "/hosts")
        hosts = await client.hosts()
        await asyncio.gather(*jumps)
    assert len(hosts) == len(cockpit_sim(slow_sim).hosts)
    assert traffic.answers == [(LOGIN, 200), (HOSTS, 401), (REFRESH, 200), (HOSTS, 200)]


async def test_a_read_that_keeps_expiring_says_token_not_password(slow_sim):
    async with client_for(slow_sim) as client:
        client.clock = FakeClock()
        traffic = Traffic(client)
        await client.login()
        jumps = expire_when_sent(client, slow_sim, "/hosts", times=2)
        with pytest.raises(AuthError) as info:
            await client.hosts()
        await asyncio.gather(*jumps)
    text = str(info.value)
    assert text.startswith("cockpit 'lab': token expired (401) — the session token expired")
    assert "username" not in text and "password" not in text
    assert traffic.answers == [(LOGIN, 200), (HOSTS, 401), (REFRESH, 200), (HOSTS, 401)]


async def test_a_write_near_expiry_renews_first_and_is_sent_once(slow_sim):
    vm_id = a_running_vm(slow_sim)
    action = f"/api/v1/vms/{vm_id}/action"
    async with client_for(slow_sim) as client:
        traffic = Traffic(client)
        await client.login()  # 0.7 s: the token has 0.3 s left, its refresh margin 0.2 s
        assert client.write_margin() >= 1.4
        answer = await client.vm_action(vm_id, "restart")
    assert answer.status == "accepted"
    assert traffic.sent == [LOGIN, REFRESH, action] and traffic.refused() == 0


async def test_a_write_whose_token_expires_in_flight_is_never_sent_again(slow_sim):
    vm_id = a_running_vm(slow_sim)
    action = f"/api/v1/vms/{vm_id}/action"
    truth = cockpit_sim(slow_sim)
    async with client_for(slow_sim) as client:
        traffic = Traffic(client)
        await client.login()
        jumps = expire_when_sent(client, slow_sim, "/action")
        with pytest.raises(AuthError) as info:
            await client.vm_action(vm_id, "restart")
        await asyncio.gather(*jumps)
        assert traffic.sent.count(action) == 1 and truth.vms[vm_id].status == "running"
        text = str(info.value)
        assert "token expired (401)" in text and "nothing was done" in text
        assert "never sent twice" in text and "password" not in text
        # The next write renews the token first, though the client's clock thinks it fresh.
        assert (await client.vm_action(vm_id, "restart")).status == "accepted"
    assert traffic.sent.count(action) == 2 and traffic.refused() == 1
    assert truth.vms[vm_id].status == "restarting"
