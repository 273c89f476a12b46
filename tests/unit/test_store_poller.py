"""The store's change sets and health, and the poller's schedule, with injected time."""

import asyncio
import random

from joytui.core.poller import MAX_BACKOFF_SECONDS, Poller, PollTarget, backoff_delay
from joytui.core.store import Health, Store
from joytui.model import Resource, Snapshot, Status, Totals
from joytui.providers.errors import RateLimitedError, ServerError


class Flaky(Exception):
    def __init__(self, retry_after=None):
        super().__init__("flaky")
        self.retry_after = retry_after


def res(id_, status=Status.RUNNING, name=None):
    return Resource(
        provider="joy", account="a", kind="machine", id=id_, name=name or id_, status=status
    )


def snap(*resources, at=100.0):
    rs = list(resources)
    return Snapshot(
        provider="joy",
        account="a",
        resources=rs,
        totals=Totals.from_resources("joy", "a", rs),
        fetched_at=at,
    )


def test_change_sets():
    store = Store(clock=lambda: 200.0)
    first = store.apply_snapshot(snap(res("m1"), res("m2")))
    assert [r.id for r in first.added] == ["m1", "m2"] and not first.changed
    second = store.apply_snapshot(snap(res("m1", Status.STOPPED), res("m3"), at=110))
    assert [r.id for r in second.changed] == ["m1"]
    assert [r.id for r in second.added] == ["m3"]
    assert second.removed == [("joy", "a", "machine", "m2")]
    assert store.apply_snapshot(snap(res("m1", Status.STOPPED), res("m3"), at=120)).empty


def test_health_and_staleness():
    now = {"t": 150.0}
    store = Store(clock=lambda: now["t"])
    state = store.register("joy", "a")
    assert state.health is Health.WAITING
    store.apply_error("joy", "a", Flaky())
    assert state.health is Health.DOWN and not state.stale  # never had data
    store.apply_snapshot(snap(res("m1")))
    assert state.health is Health.OK and state.age(160) == 10
    store.apply_error("joy", "a", Flaky())
    assert state.health is Health.DEGRADED and state.stale
    assert [r.id for r in store.resources()] == ["m1"]  # last good data kept
    store.apply_error("joy", "a", Flaky())
    store.apply_error("joy", "a", Flaky())
    assert state.health is Health.DOWN and state.failures == 3
    store.apply_snapshot(snap(res("m1"), at=170))
    assert state.health is Health.OK and state.error is None and state.failures == 0


def test_backoff_doubles_caps_and_honours_retry_after():
    assert [backoff_delay(5, n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff_delay(5, 30) == MAX_BACKOFF_SECONDS
    assert backoff_delay(5, 1, retry_after=42) == 42


async def test_poller_backs_off_then_recovers_by_itself():
    store = Store()
    outcomes = [Flaky(), Flaky(), Flaky(retry_after=60), "ok", "ok"]
    delays: list[float] = []
    results = []

    async def fetch():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return snap(res("m1"))

    poller_box = {}

    async def fake_sleep(delay, wake):
        delays.append(delay)
        if not outcomes:
            poller_box["p"].stop()

    poller = Poller(
        store,
        [PollTarget("joy", "a", 5.0, fetch)],
        on_result=results.append,
        sleep=fake_sleep,
        rng=random.Random(1),
    )
    poller_box["p"] = poller
    await asyncio.wait_for(poller.run(), 5)
    assert 4.5 <= delays[0] <= 5.5 and 9 <= delays[1] <= 11 and 54 <= delays[2] <= 66
    assert 4.5 <= delays[3] <= 5.5
    assert [r.changes is None for r in results] == [True, True, True, False, False]
    assert store.accounts[("joy", "a")].health is Health.OK


async def test_polls_never_overlap_and_concurrency_is_bounded():
    store = Store()
    running = {"now": 0, "max": 0}
    per_account = {}

    def make_fetch(name):
        async def fetch():
            per_account[name] = per_account.get(name, 0) + 1
            assert per_account[name] - per_account.get(name + "-done", 0) == 1  # no overlap
            running["now"] += 1
            running["max"] = max(running["max"], running["now"])
            await asyncio.sleep(0.01)
            running["now"] -= 1
            per_account[name + "-done"] = per_account.get(name + "-done", 0) + 1
            return Snapshot(
                provider="joy",
                account=name,
                resources=[],
                totals=Totals(provider="joy", account=name),
                fetched_at=1,
            )

        return fetch

    async def fast_sleep(delay, wake):
        await asyncio.sleep(0)

    targets = [PollTarget("joy", f"acct{i}", 5.0, make_fetch(f"acct{i}")) for i in range(6)]
    poller = Poller(store, targets, max_concurrent=2, sleep=fast_sleep)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.3)
    poller.stop()
    await asyncio.wait_for(task, 5)
    assert running["max"] == 2
    assert all(per_account[f"acct{i}"] >= 3 for i in range(6))


async def test_refresh_now_wakes_a_waiting_loop():
    store = Store()
    calls = []

    async def fetch():
        calls.append(1)
        return snap(res("m1"))

    poller = Poller(store, [PollTarget("joy", "a", 3600.0, fetch)])
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.05)
    assert len(calls) == 1
    poller.refresh_now(("joy", "a"))
    await asyncio.sleep(0.05)
    assert len(calls) == 2
    poller.stop()
    await asyncio.wait_for(task, 5)


async def test_an_unexpected_exception_becomes_an_error_not_a_crash():
    store = Store()

    async def fetch():
        raise RuntimeError("surprise")

    poller = Poller(store, [PollTarget("joy", "a", 5.0, fetch)])
    result = await poller.poll_once(poller.targets[("joy", "a")])
    assert result.changes is None and isinstance(store.accounts[("joy", "a")].error, RuntimeError)


async def test_a_probe_ends_the_backoff_once_the_account_works_again():
    # Four failures grow the backoff to 8 intervals; the probe, once an interval, sees the
    # server back after the fault clears, so the next poll comes one interval later.
    store = Store()
    failing = {"on": True}
    waits: list[float] = []
    probes: list[bool] = []

    async def fetch():
        if failing["on"]:
            raise ServerError("server error (500)", provider="joy", account="a")
        return snap(res("m1"))

    async def probe():
        probes.append(failing["on"])
        if failing["on"]:
            raise ServerError("server error (500)", provider="joy", account="a")

    async def sleep(delay, wake):
        waits.append(delay)
        if len(probes) == 2:
            failing["on"] = False  # the fault clears during the backoff
        await asyncio.sleep(0)

    target = PollTarget("joy", "a", 2.0, fetch, probe=probe)
    poller = Poller(store, [target], sleep=sleep, rng=random.Random(1))
    for _ in range(4):
        await poller.poll_once(target)
    state = store.accounts[("joy", "a")]
    assert state.failures == 4
    result = await poller.poll_once(target)  # a fifth failure: backoff 2 * 2**4 = 32 s
    assert result.next_in > 20
    task = asyncio.create_task(poller._back_off(target, result, asyncio.Event()))
    await asyncio.wait_for(task, 5)
    assert probes == [True, True, False]  # probed once an interval until it worked
    assert sum(waits) < 4 * 2.0 * 1.1  # recovered within a few intervals, not 32 s
    assert all(w <= 2.2 for w in waits)


async def test_no_probe_before_retry_after():
    store = Store()
    waits: list[float] = []

    async def fetch():
        raise RateLimitedError("rate limited (429)", provider="joy", account="a", retry_after=30.0)

    async def probe():
        return None

    async def sleep(delay, wake):
        waits.append(delay)
        await asyncio.sleep(0)

    target = PollTarget("joy", "a", 2.0, fetch, probe=probe)
    poller = Poller(store, [target], sleep=sleep)
    result = await poller.poll_once(target)
    await poller._back_off(target, result, asyncio.Event())
    assert waits[0] >= 30.0


def test_data_older_than_a_few_intervals_is_stale_whatever_the_state():
    now = {"t": 1000.0}
    store = Store(clock=lambda: now["t"])
    store.apply_snapshot(snap(res("m1")))
    state = store.accounts[("joy", "a")]
    state.interval = 2.0
    assert state.health_at(now["t"]) is Health.OK and not state.stale_at(now["t"])
    now["t"] += 10  # a poll is stuck: no error, but nothing new for 5 intervals
    assert state.stale_at(now["t"]) and state.health_at(now["t"]) is Health.DEGRADED
    assert "no poll has finished for 10s" in state.problem_at(now["t"])
