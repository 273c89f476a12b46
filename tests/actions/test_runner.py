"""The action runner (core) against the simulator: every action of every API, exactly once,
read-only, timeouts and provider errors in words, pending until a poll says, bulk."""

from __future__ import annotations

import asyncio
import os
import stat
import time

import httpx
from pydantic import SecretStr

from joytui.config import Config, JoyAccount
from joytui.core.actions import (
    ActionRunner,
    Outcome,
    PendingSettled,
    account_target,
    coerce_params,
    marked_offers,
)
from joytui.core.session import Session
from joytui.model import Resource, Status
from joytui.providers.joy import JoyClient
from tests.actions.conftest import (
    advance,
    audit_lines,
    pick,
    set_faults,
    sim_joy,
    writes,
    writes_to,
)

JOY_TARGETS = {
    "start": ("stopped", "running"),
    "shutdown": ("running", "stopped"),
    "force_shutdown": ("running", "stopped"),
    "reboot": ("running", "running"),
    "force_reboot": ("running", "running"),
    "pause": ("running", "paused"),
    "hibernate": ("running", "suspended"),
}


async def test_every_joy_state_changes_the_machine_once(session, sim, audit_file):
    runner = session.actions
    truth = sim_joy(sim).by_hash
    used: set[str] = set()
    chosen: dict[str, Resource] = {}
    for state, (before, _after) in JOY_TARGETS.items():
        machine = next(
            r
            for r in session.store.resources()
            if r.provider == "joy" and r.raw_status == before and r.id not in used
        )
        used.add(machine.id)
        chosen[state] = machine
        assert state in [o.action.id for o in await runner.offered(machine)]
        report = await runner.perform(machine, state)
        assert report.ok, report.message
        assert "accepted (" in report.message  # the spec's value, in words
        assert truth[machine.id].status != before or state in ("reboot", "force_reboot")
    await advance(sim, 60)
    await session.poll_all_once()
    for state, (_before, after) in JOY_TARGETS.items():
        machine = chosen[state]
        assert truth[machine.id].status == after, state
        assert session.store.get(machine.key).raw_status == after
        assert writes_to(sim, machine.id) == 1
    # resume, on the machine just paused (now the store says paused)
    paused = session.store.get(chosen["pause"].key)
    assert [o.action.id for o in await runner.offered(paused)] == [
        "shutdown",
        "force_shutdown",
        "resume",
    ]
    report = await runner.perform(paused, "resume")
    assert report.ok and "resume accepted (machine_already_resumed)" in report.message
    await advance(sim, 30)
    assert truth[paused.id].status == "running"
    outcomes = [line["outcome"] for line in audit_lines(audit_file)]
    assert outcomes == ["ok"] * 8


async def test_joy_invalid_state_names_the_state():
    # A server that refuses every state (an older API, say): the refusal names the state.
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"success": False, "error": "invalid_state"})

    account = JoyAccount(name="old", base_url="http://joy.test", api_token="t", api_key="k")
    secrets = {"api_token": SecretStr("token-1"), "api_key": SecretStr("key-1")}
    async with JoyClient(account, secrets, transport=httpx.MockTransport(answer)) as client:
        machine = Resource(
            provider="joy",
            account="old",
            kind="machine",
            id="abc",
            name="web",
            status=Status.RUNNING,
        )
        result = await client.perform(machine, "hibernate")
    assert not result.ok
    assert result.message == "the API refused machine_state 'hibernate' (invalid_state)"


async def test_a_double_press_sends_one_request(session, sim, audit_file):
    machine = pick(session, provider="joy", raw_status="running")
    runner = session.actions
    first, second = await asyncio.gather(
        runner.perform(machine, "shutdown"), runner.perform(machine, "shutdown")
    )
    assert first.ok
    assert second.outcome is Outcome.REFUSED and "in flight" in second.message
    # Sent and accepted, not yet seen by a poll: the same action again is refused too.
    third = await runner.perform(machine, "shutdown")
    assert third.outcome is Outcome.REFUSED and "already sent" in third.message
    assert writes_to(sim, machine.id) == 1
    assert sorted(line["outcome"] for line in audit_lines(audit_file)) == [
        "ok",
        "refused",
        "refused",
    ]


async def test_read_only_refuses_before_any_client_is_called(config, sim, audit_file):
    session = Session(config, read_only=True)
    try:
        await session.poll_all_once()
        runner = session.actions
        for resource in session.store.resources()[:50]:
            offers = await runner.offered(resource)
            assert all(o.disabled and "read-only" in o.disabled for o in offers)
            for offer in offers:
                report = await runner.perform(resource, offer.action.id)
                assert report.outcome is Outcome.REFUSED and "read-only" in report.message
        created = await runner.perform(account_target("instances", "sim-instances"), "create")
        assert created.outcome is Outcome.REFUSED
    finally:
        await session.aclose()
    assert writes(sim) == {}
    lines = audit_lines(audit_file)
    assert lines and {line["outcome"] for line in lines} == {"refused"}


async def test_an_account_can_be_read_only_alone(config_data, sim):
    config_data["cockpit"][0]["read_only"] = True
    session = Session(Config.model_validate(config_data))
    try:
        await session.poll_all_once()
        vm = pick(session, kind="vm", status=Status.RUNNING)
        refused = await session.actions.perform(vm, "stop")
        assert refused.outcome is Outcome.REFUSED
        assert "cockpit 'sim-cockpit' is read-only" in refused.message
        machine = pick(session, provider="joy", raw_status="running")
        assert (await session.actions.perform(machine, "pause")).ok
    finally:
        await session.aclose()
    assert writes_to(sim, vm.id) == 0 and writes_to(sim, machine.id) == 1


async def test_a_timeout_is_outcome_unknown_never_failed(config_data, sim, audit_file):
    config_data["instances"][0]["timeout_seconds"] = 0.5
    session = Session(Config.model_validate(config_data))
    try:
        await session.poll_all_once()
        instance = pick(session, kind="instance", status=Status.RUNNING)
        await set_faults(sim, {"instances": {"hang": True}})
        started = time.monotonic()
        report = await session.actions.perform(instance, "restart")
        assert time.monotonic() - started < 3  # one attempt, not retried
    finally:
        await set_faults(sim, None)
        await session.aclose()
    assert report.outcome is Outcome.UNKNOWN
    assert "outcome unknown: refresh to see" in report.message
    assert "failed" not in report.message
    assert "instances 'sim-instances'" in report.message
    assert writes_to(sim, instance.id) == 1
    line = audit_lines(audit_file)[-1]
    assert (line["outcome"], line["action"], line["id"]) == ("unknown", "restart", instance.id)


async def test_a_provider_error_is_told_in_words_and_never_retried(session, sim, audit_file):
    vm = pick(session, kind="vm", status=Status.RUNNING)
    await set_faults(sim, {"cockpit": {"status_code": 500, "status_rate": 1.0}})
    try:
        report = await session.actions.perform(vm, "restart")
    finally:
        await set_faults(sim, None)
    assert report.outcome is Outcome.ERROR
    assert report.message.startswith("cockpit 'sim-cockpit': failed: server error 500")
    assert "never retried" in report.message and "joytui will retry" not in report.message
    assert writes_to(sim, vm.id) == 1
    assert audit_lines(audit_file)[-1]["outcome"] == "error"
    assert not session.actions.pending  # nothing was accepted


async def test_a_provider_refusal_is_an_error_with_its_words(session, sim):
    vm = pick(session, kind="vm", status=Status.RUNNING)
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        (await http.post(f"/__sim__/cockpit/disconnect/{vm.parent}")).raise_for_status()
    report = await session.actions.perform(vm, "stop")
    assert report.outcome is Outcome.ERROR
    assert "refused" in report.message and "disconnected" in report.message


async def test_pending_until_a_poll_reports_the_new_state(session, sim):
    runner = session.actions
    settled: list[PendingSettled] = []
    runner.subscribe(lambda e: settled.append(e) if isinstance(e, PendingSettled) else None)
    machine = pick(session, provider="joy", raw_status="running")
    assert (await runner.perform(machine, "shutdown")).ok
    assert runner.pending[machine.key].words == "stopping…"
    await session.poll_all_once()  # the provider says "stopping": still pending
    assert session.store.get(machine.key).status is Status.PENDING
    assert machine.key in runner.pending and not settled
    await advance(sim, 60)
    await session.poll_all_once()
    assert machine.key not in runner.pending
    assert [(e.ok, e.words) for e in settled] == [(True, "now stopped")]


async def test_a_pending_action_is_given_up_on_in_words(session):
    runner = session.actions
    machine = pick(session, provider="joy", raw_status="running")
    assert (await runner.perform(machine, "reboot")).ok
    events: list[PendingSettled] = []
    runner.subscribe(events.append)
    runner.expire(now=time.time() + runner.pending_timeout + 1)
    assert not runner.pending
    assert not events[0].ok and "no change reported in 3 min: refresh to see" in events[0].words


async def test_bulk_runs_with_bounded_concurrency_and_reports_each(session, sim):
    machines = [r for r in session.store.resources() if r.raw_status == "running"][:8]
    await set_faults(sim, {"joy": {"latency_ms": 300, "quirk_rate": 0.0}})
    started = time.monotonic()
    reports = await session.actions.perform_many(machines, "pause")
    elapsed = time.monotonic() - started
    await set_faults(sim, {"joy": {"quirk_rate": 0.0}})
    assert [r.resource.id for r in reports] == [m.id for m in machines]
    assert all(r.ok for r in reports)
    assert 0.55 < elapsed < 2.0  # two waves of four, not eight at once nor one by one
    assert all(writes_to(sim, m.id) == 1 for m in machines)


async def test_every_cockpit_action_moves_the_vm(session, sim):
    runner = session.actions
    truth = sim.simulator.providers["cockpit"].vms
    vm = pick(session, kind="vm", status=Status.RUNNING)
    steps = [
        ("pause", "paused"),
        ("resume", "running"),
        ("restart", "running"),
        ("force_restart", "running"),
        ("force_stop", "stopped"),
        ("start", "running"),
        ("stop", "stopped"),
    ]
    for action, after in steps:
        current = session.store.get(vm.key)
        assert action in [o.action.id for o in await runner.offered(current)], action
        report = await runner.perform(current, action)
        assert report.ok, report.message
        await advance(sim, 10)
        await session.poll_all_once()
        assert truth[vm.id].status == after and session.store.get(vm.key).raw_status == after
        if vm.key in runner.pending:  # a restart no poll saw: settled after the grace polls
            assert action.endswith("restart")
            await session.poll_all_once()
        assert vm.key not in runner.pending, action
    assert writes_to(sim, vm.id) == len(steps)


async def test_cockpit_migrate_with_its_options_and_progress(session, sim):
    runner = session.actions
    cockpit = sim.simulator.providers["cockpit"]
    vm = pick(session, kind="vm", status=Status.STOPPED)
    dest = next(h for h in cockpit.hosts.values() if h.id != vm.parent and h.status == "connected")
    offer = next(o for o in await runner.offered(vm) if o.action.id == "migrate")
    assert [p.name for p in offer.params] == [
        "destination_host_id",
        "live",
        "persistent",
        "undefine_source",
        "copy_storage",
    ]
    missing = await runner.perform(vm, "migrate")
    assert missing.outcome is Outcome.REFUSED and "destination_host_id" in missing.message
    params = {"destination_host_id": dest.id, "copy_storage": "all", "persistent": "false"}
    report = await runner.perform(vm, "migrate", params)
    assert report.ok and "initiated" in report.message
    mig = cockpit.migrations[cockpit.vms[vm.id].migration]
    assert (mig.live, mig.copy_storage, mig.options["persistent"]) == (False, "all", False)
    await session.poll_all_once()
    migrating = session.store.get(vm.key)
    assert migrating.status is Status.PENDING
    client = session.client_for(("cockpit", "sim-cockpit"))
    progress = (await client.related(migrating))["migration"][0]
    assert "running" in progress and "copy storage all" in progress and "offline" in progress
    events: list = []
    runner.subscribe(events.append)
    await advance(sim, 40)
    await session.poll_all_once()
    settled = [e for e in events if isinstance(e, PendingSettled)]
    assert settled and settled[0].ok and settled[0].words == f"moved to {dest.hostname}"


async def test_every_jamsocket_action(session, sim, audit_file):
    runner = session.actions
    js = sim.simulator.providers["jamsocket"]
    service = pick(session, kind="service")
    tag = js.services[service.id].images[-1].tag
    spawn = {
        "key": "doc-7",
        "tag": tag,
        "env": "API_SECRET=hunter2-very-secret MODE=demo",
        "lifetime_limit_seconds": "120",
        "max_idle_seconds": "60",
    }
    report = await runner.perform(service, "spawn", spawn)
    assert report.ok and report.message.startswith("spawned backend ")
    backend_id = report.message.split()[2]
    backend = js.backends[backend_id]
    assert (backend.key, backend.lifetime, backend.max_idle) == ("doc-7", 120, 60)
    assert backend.env["API_SECRET"] == "hunter2-very-secret" and backend.env["MODE"] == "demo"
    assert backend.secret_token not in report.message
    await session.poll_all_once()  # the spawn is seen: a second one may go out
    again = await runner.perform(session.store.get(service.key), "spawn", {"key": "doc-7"})
    assert again.ok and "already holds key 'doc-7'" in again.message
    assert (await runner.perform(service, "update_image", {"image_tag": tag})).ok
    assert js.services[service.id].environments[0].image_tag == tag
    await session.poll_all_once()
    fresh = pick(session, kind="backend", id=backend_id)
    assert [o.action.id for o in await runner.offered(fresh)] == ["terminate", "terminate_hard"]
    assert (await runner.perform(fresh, "terminate")).ok
    assert js.backends[backend_id].status == "terminating"
    await session.poll_all_once()
    assert (await runner.perform(session.store.get(fresh.key), "terminate_hard")).ok
    assert js.backends[backend_id].status == "hard-terminating"
    created = await runner.perform(
        account_target("jamsocket", "sim-jamsocket"), "create_service", {"name": "fresh-svc"}
    )
    assert created.ok and "fresh-svc" in js.services
    assert (await runner.perform(service, "delete")).ok
    assert service.id not in js.services
    text = audit_file.read_text()
    assert "hunter2-very-secret" not in text and backend.secret_token not in text
    assert '"env":["API_SECRET=***","MODE=***"]' in text


async def test_every_instances_action(session, sim):
    runner = session.actions
    truth = sim.simulator.providers["instances"].instances
    account = account_target("instances", "sim-instances")
    assert [o.action.id for o in await runner.offered(account)] == ["create"]
    report = await runner.perform(account, "create", {"name": "bot-new", "region": "eu-west-1"})
    assert report.ok and "bot-new in eu-west-1" in report.message
    new = next(i for i in truth.values() if i.name == "bot-new")
    assert (new.region, new.status) == ("eu-west-1", "creating")
    events: list = []
    runner.subscribe(events.append)
    await session.poll_all_once()
    assert any(isinstance(e, PendingSettled) and "bot-new" in e.words for e in events)
    instance = pick(session, kind="instance", status=Status.RUNNING)
    assert (await runner.perform(instance, "pause")).ok and truth[instance.id].status == "paused"
    await session.poll_all_once()
    paused = session.store.get(instance.key)
    assert "pause" not in [o.action.id for o in await runner.offered(paused)]
    assert (await runner.perform(paused, "restart")).ok
    assert truth[instance.id].status == "restarting"
    assert (await runner.perform(session.store.get(instance.key), "delete")).ok
    assert instance.id not in truth
    await session.poll_all_once()
    assert session.store.get(instance.key) is None and instance.key not in runner.pending


async def test_an_action_not_valid_now_or_bad_params_sends_nothing(session, sim):
    runner = session.actions
    machine = pick(session, provider="joy", raw_status="running")
    report = await runner.perform(machine, "start")
    assert report.outcome is Outcome.REFUSED
    assert "not an action of a machine that is running" in report.message
    vm = pick(session, kind="vm", status=Status.STOPPED)
    bad = await runner.perform(vm, "migrate", {"destination_host_id": "x", "live": "maybe"})
    assert bad.outcome is Outcome.REFUSED and "true or false" in bad.message
    unknown = await runner.perform(vm, "start", {"force": "yes"})
    assert unknown.outcome is Outcome.REFUSED and "takes no parameters" in unknown.message
    assert writes(sim) == {}


def test_the_audit_log_is_private_and_secret_free(config, audit_file, sim):
    async def run() -> None:
        session = Session(config)
        try:
            await session.poll_all_once()
            machine = pick(session, provider="joy", raw_status="running")
            await session.actions.perform(machine, "pause")
        finally:
            await session.aclose()

    asyncio.run(run())
    assert stat.S_IMODE(os.stat(audit_file).st_mode) == 0o600
    text = audit_file.read_text()
    for account in config.accounts():
        for source in account[1].secret_fields().values():
            value = source if isinstance(source, str) else None
            assert value is None or value not in text
    line = audit_lines(audit_file)[0]
    assert set(line) == {
        "time",
        "user",
        "provider",
        "account",
        "kind",
        "id",
        "name",
        "action",
        "params",
        "outcome",
        "message",
        "duration_ms",
    }


def test_params_are_coerced_and_bulk_offers_are_common():
    vm = Resource(
        provider="cockpit", account="a", kind="vm", id="1", name="web", status=Status.RUNNING
    )
    typed = coerce_params(vm, "migrate", {"destination_host_id": "h2", "persistent": "no"})
    assert typed == {
        "destination_host_id": "h2",
        "live": True,
        "persistent": False,
        "undefine_source": True,
        "copy_storage": "none",
    }
    assert marked_offers([]) == []
    assert isinstance(ActionRunner.concurrency, int)
