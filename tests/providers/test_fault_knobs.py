"""Every fault knob of the simulator against every client (joy, cockpit, instances): the
error kind, retries for reads but never for writes, recovery once the fault is cleared, and no
secret in any error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from joytui.config import CockpitAccount, InstancesAccount, JoyAccount
from joytui.model import Snapshot
from joytui.providers import make_client
from joytui.providers.base import ProviderClient
from joytui.providers.errors import (
    AuthError,
    BadPayloadError,
    ProviderError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from joytui.sim.cockpit import DEMO_PASSWORD
from joytui.sim.instances import DEMO_API_KEY
from joytui.sim.joy import DEMO_KEY, DEMO_TOKEN
from joytui.sim.server import SimServer
from tests.conftest import set_faults

PROVIDERS = ["joy", "cockpit", "instances"]
SECRETS = [DEMO_TOKEN, DEMO_KEY, DEMO_PASSWORD, DEMO_API_KEY]


class Case:
    """One client on the simulator, with one read and one write to aim faults at, and a
    count of the requests it sends."""

    def __init__(self, provider: str, sim: Any, timeout: float = 10.0) -> None:
        self.provider = provider
        self.sim = sim
        base = {"name": "acct", "base_url": sim.base_url, "timeout_seconds": timeout}
        if provider == "joy":
            account: Any = JoyAccount(**base, api_token="t", api_key="k")
            secrets = {"api_token": DEMO_TOKEN, "api_key": DEMO_KEY}
        elif provider == "cockpit":
            account = CockpitAccount(**base, username="admin", password="p")
            secrets = {"password": DEMO_PASSWORD}
        else:
            account = InstancesAccount(**base, api_key="k")
            secrets = {"api_key": DEMO_API_KEY}
        self.client: ProviderClient = make_client(
            provider, account, {k: SecretStr(v) for k, v in secrets.items()}
        )
        self.client.backoff_seconds = 0.01
        self.sent = 0

        async def count(request: httpx.Request) -> None:
            self.sent += 1

        self.client.http.event_hooks["request"].append(count)

    async def warm(self) -> None:
        """Log in where the API needs it, then start counting afresh."""
        if self.provider == "cockpit":
            await self.client.login()  # type: ignore[attr-defined]
        self.sent = 0

    async def read(self) -> Any:
        """One read call (one request when it succeeds)."""
        c: Any = self.client
        if self.provider == "joy":
            return await c.dashboardinfo()
        if self.provider == "cockpit":
            return await c.hosts()
        return await c.list_instances()

    async def write(self) -> Any:
        """One state-changing call."""
        c: Any = self.client
        providers = self.sim.simulator.providers
        if self.provider == "joy":
            return await c.change_machine_state(providers["joy"].machines[0].ihash, "reboot")
        if self.provider == "cockpit":
            vm_id = next(iter(providers["cockpit"].vms))
            return await c.vm_action(vm_id, "restart")
        return await c.restart_instance(next(iter(providers["instances"].instances)))


def assert_clean(err: ProviderError, case: Case) -> None:
    """The error says who, in one line, and carries no secret and no chained exception."""
    text = " ".join([str(err), repr(err), *map(str, err.args), *map(str, vars(err).values())])
    for secret in SECRETS:
        assert secret not in text
    token = getattr(case.client, "_token", None)
    assert token is None or token not in text
    assert "\n" not in str(err) and str(err).startswith(f"{case.provider} 'acct': ")
    assert err.__context__ is None and err.__cause__ is None


@pytest.fixture
def sim(shared_sim: SimServer) -> Iterator[SimServer]:
    """One simulator for the module (a faulted call never reaches its state; the clock is
    frozen), its faults cleared after each test. Overrides the conftest fixture, so
    ``sim_http`` points here too."""
    yield shared_sim
    httpx.delete(f"{shared_sim.base_url}/__sim__/faults").raise_for_status()


@pytest.fixture(params=PROVIDERS)
def provider(request) -> str:
    return request.param


async def recovers(case: Case, sim_http) -> None:
    sim_http.delete("/__sim__/faults").raise_for_status()
    assert isinstance(await case.client.snapshot(), Snapshot)


async def test_error_rate_gives_server_errors_reads_retried_writes_not(provider, sim, sim_http):
    case = Case(provider, sim)
    async with case.client:
        await case.warm()
        set_faults(sim_http, **{provider: {"error_rate": 1.0}})
        with pytest.raises(
            ServerError, match=r"server error 500 \(an HTML page, not JSON\)"
        ) as info:
            await case.read()
        assert case.sent == 3  # one try and two retries
        assert info.value.status == 500 and info.value.retryable
        assert_clean(info.value, case)
        case.sent = 0
        with pytest.raises(ServerError) as info:
            await case.write()
        assert case.sent == 1  # a write is never retried
        assert_clean(info.value, case)
        with pytest.raises(ServerError):
            await case.client.snapshot()
        await recovers(case, sim_http)


async def test_rate_limit_reports_retry_after(provider, sim, sim_http):
    case = Case(provider, sim)
    async with case.client:
        await case.warm()
        set_faults(sim_http, **{provider: {"rate_limit": 1.0, "retry_after": 7}})
        with pytest.raises(RateLimitedError) as info:
            await case.read()
        # Longer than the in-place cap: raised at once for the poller to back off.
        assert info.value.retry_after == 7 and info.value.status == 429 and case.sent == 1
        assert "retry in 7 s" in str(info.value)
        assert_clean(info.value, case)
        set_faults(sim_http, **{provider: {"retry_after": 0}})
        case.sent = 0
        with pytest.raises(RateLimitedError) as info:
            await case.read()
        assert case.sent == 3 and info.value.retry_after == 0
        case.sent = 0
        with pytest.raises(RateLimitedError):
            await case.write()
        assert case.sent == 1
        await recovers(case, sim_http)


async def test_hang_times_out_as_a_transport_error(provider, sim, sim_http):
    case = Case(provider, sim, timeout=0.1)
    async with case.client:
        await case.warm()
        set_faults(sim_http, **{provider: {"hang": True}})
        with pytest.raises(TransportError) as info:
            await case.read()
        assert str(info.value) == (
            f"{provider} 'acct': timed out after 0.1 s — check base_url and the network"
        )
        assert case.sent == 3 and info.value.retryable
        assert_clean(info.value, case)
        case.sent = 0
        with pytest.raises(TransportError):
            await case.write()
        assert case.sent == 1
        await recovers(case, sim_http)


async def test_truncated_json_is_a_bad_payload(provider, sim, sim_http):
    case = Case(provider, sim)
    async with case.client:
        set_faults(sim_http, **{provider: {"truncate_rate": 1.0}})
        with pytest.raises(BadPayloadError) as info:
            await case.client.snapshot()
        assert info.value.call and "bad payload from" in str(info.value)
        assert not info.value.retryable
        assert_clean(info.value, case)
        await recovers(case, sim_http)


async def test_mangled_json_is_tolerated_or_a_bad_payload(provider, sim, sim_http):
    case = Case(provider, sim)
    outcomes: list[str] = []
    async with case.client:
        set_faults(sim_http, **{provider: {"mangle_rate": 1.0}})
        for _ in range(8):
            try:
                snap = await case.client.snapshot()
            except BadPayloadError as err:
                assert_clean(err, case)
                assert err.field or err.problem
                outcomes.append("bad_payload")
            else:
                assert all(r.provider == provider for r in snap.resources)
                outcomes.append("tolerated")
        await recovers(case, sim_http)
    assert len(outcomes) == 8  # anything but BadPayloadError would have escaped the loop


async def test_auth_fail_is_an_auth_error(provider, sim, sim_http):
    case = Case(provider, sim)
    async with case.client:
        await case.warm()
        set_faults(sim_http, **{provider: {"auth_fail": True}})
        with pytest.raises(AuthError) as info:
            await case.client.snapshot()
        assert not info.value.retryable and info.value.status == 401
        hint = {"joy": "check api_token and api_key", "instances": "check api_key"}
        if provider == "cockpit":
            # The 401 led to a refresh (refused) and a login (refused): the login speaks.
            assert "login refused (401) — check username and password" in str(info.value)
        else:
            assert hint[provider] in str(info.value)
        assert_clean(info.value, case)
        await recovers(case, sim_http)


async def test_latency_is_waited_out(provider, sim, sim_http):
    case = Case(provider, sim)
    async with case.client:
        await case.warm()
        set_faults(sim_http, **{provider: {"latency_ms": 30}})
        snap = await case.client.snapshot()
    assert snap.latency_ms >= 30 and snap.resources
