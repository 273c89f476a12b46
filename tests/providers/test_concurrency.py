"""The adaptive request limit (joytui.providers.concurrency.AdaptiveLimit), on its own: width,
halving once per round, growing back slowly, first come first served, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from joytui.providers.concurrency import AdaptiveLimit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_no_more_holders_than_the_limit():
    limit = AdaptiveLimit(3)
    inside = 0
    most = 0

    async def hold() -> None:
        nonlocal inside, most
        taken = await limit.acquire()
        inside += 1
        most = max(most, inside)
        await asyncio.sleep(0.01)
        inside -= 1
        limit.release(taken, ok=True)

    await asyncio.gather(*(hold() for _ in range(20)))
    assert most == 3 and limit.peak == 3 and limit.in_flight == 0


async def test_a_round_of_rate_limits_halves_once_and_never_below_one():
    limit = AdaptiveLimit(8)
    taken = [await limit.acquire() for _ in range(8)]
    for t in taken:
        limit.release(t, rate_limited=True)
    assert (limit.limit, limit.cuts) == (4, 1)  # eight 429s of one round: one halving
    for _ in range(5):
        limit.release(await limit.acquire(), rate_limited=True)
    assert limit.limit == 1 and limit.cuts == 3  # 8 to 4, 2, 1, and no lower


async def test_growing_back_takes_a_round_of_successes_and_time():
    clock = Clock()
    limit = AdaptiveLimit(8, recover_seconds=1.0, clock=clock)
    limit.release(await limit.acquire(), rate_limited=True)
    assert limit.limit == 4
    for _ in range(100):
        limit.release(await limit.acquire(), ok=True)
    assert limit.limit == 4  # not a second has passed
    clock.now = 1.0
    for _ in range(4):
        limit.release(await limit.acquire(), ok=True)
    assert limit.limit == 5
    clock.now = 1.5
    for _ in range(10):
        limit.release(await limit.acquire(), ok=True)
    assert limit.limit == 5
    clock.now = 2.5
    limit.release(await limit.acquire(), ok=True)
    assert limit.limit == 6
    for _ in range(7):
        clock.now += 1.0
        for _ in range(limit.limit):
            limit.release(await limit.acquire(), ok=True)
    assert limit.limit == 8  # back to the configured width, never above it
    limit.release(await limit.acquire())  # another kind of failure changes nothing
    assert limit.limit == 8


async def test_waiters_are_served_in_order_and_a_cut_holds_them_back():
    limit = AdaptiveLimit(2)
    first, second = await limit.acquire(), await limit.acquire()
    order: list[int] = []

    async def wait(n: int) -> None:
        taken = await limit.acquire()
        order.append(n)
        await asyncio.sleep(0)
        limit.release(taken, ok=True)

    waiting = [asyncio.create_task(wait(n)) for n in range(4)]
    await asyncio.sleep(0)
    limit.release(first, rate_limited=True)  # the width is now 1 and one is still held
    await asyncio.sleep(0.01)
    assert order == []  # no room until the other holder leaves
    limit.release(second, ok=True)
    await asyncio.gather(*waiting)
    assert order == [0, 1, 2, 3] and limit.in_flight == 0


async def test_a_cancelled_waiter_gives_its_place_away():
    limit = AdaptiveLimit(1)
    held = await limit.acquire()
    cancelled = asyncio.create_task(limit.acquire())
    later = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    limit.release(held, ok=True)
    await asyncio.wait_for(later, 1)
    assert limit.in_flight == 1
