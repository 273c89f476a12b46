"""The Session against the simulator: opening accounts off the loop, hints, one-shot polls."""

from __future__ import annotations

import asyncio
import sys

import pytest

from joytui.config import CommandSecret, Config, SecretError, resolve_secret_async
from joytui.core.session import AccountPolled, AccountsOpened, Session


def _config(sim, **changes) -> Config:
    data = sim.simulator.config(sim.base_url)
    data.update(changes)
    return Config.model_validate(data)


async def test_secret_commands_run_off_the_event_loop():
    # A slow secret command must not freeze the loop: a ticker keeps ticking while it runs.
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.create_task(ticker())
    script = "import time; time.sleep(0.4); print('s3cret')"
    value = await resolve_secret_async(CommandSecret(command=[sys.executable, "-c", script]))
    task.cancel()
    assert value.get_secret_value() == "s3cret"
    assert ticks >= 10


async def test_secret_command_timeout_and_failure_messages():
    slow = CommandSecret(command=[sys.executable, "-c", "import time; time.sleep(5)"])
    slow = slow.model_copy(update={"timeout_seconds": 0.2})
    with pytest.raises(SecretError, match=r"took longer than 0\.2 s"):
        await resolve_secret_async(slow)
    script = "import sys; print('leaked'); print('no such entry', file=sys.stderr); sys.exit(3)"
    with pytest.raises(SecretError) as info:
        await resolve_secret_async(CommandSecret(command=[sys.executable, "-c", script]))
    assert "exited 3: no such entry" in str(info.value)
    assert "leaked" not in str(info.value)
    with pytest.raises(SecretError, match="not found"):
        await resolve_secret_async(CommandSecret(command=["/nonexistent/pass"]))


async def test_open_poll_once_and_events(sim):
    session = Session(_config(sim))
    events = []
    session.subscribe(events.append)
    try:
        results = await session.poll_all_once()
    finally:
        await session.aclose()
    assert isinstance(events[0], AccountsOpened)
    assert len([e for e in events if isinstance(e, AccountPolled)]) == 4
    assert {h.provider for h, _ in results} == {"joy", "cockpit", "jamsocket", "instances"}
    for handle, state in results:
        assert state.error is None, state.error
        assert state.resources
        assert session.client_for(handle.key) is handle.client
    # A complete one-shot: every Joy machine's status is known.
    joy = next(s for h, s in results if h.provider == "joy")
    assert all(r.status.value != "unknown" for r in joy.resources.values())
    assert session.client_for(("joy", "nope")) is None


async def test_a_failing_secret_leaves_the_others_working(sim):
    config = _config(sim)
    broken = config.instances[0].model_copy(
        update={"api_key": CommandSecret(command=[sys.executable, "-c", "import sys; sys.exit(1)"])}
    )
    config = config.model_copy(update={"instances": [broken]})
    session = Session(config)
    try:
        results = dict((h.provider, s) for h, s in await session.poll_all_once())
    finally:
        await session.aclose()
    assert "secret command" in str(results["instances"].error)
    assert results["joy"].error is None and results["cockpit"].error is None


async def test_visible_rows_reach_the_provider_as_hints(sim):
    session = Session(_config(sim), provider="joy")
    await session.open()
    handle = session.handles[0]
    seen = []
    real = handle.client.snapshot

    async def spy(hints=None):
        seen.append(hints)
        return await real(hints)

    handle.client.snapshot = spy  # type: ignore[method-assign]
    session.set_visible(handle.key, ["a", "b"])
    task = asyncio.create_task(session.run())
    for _ in range(200):
        await asyncio.sleep(0.01)
        if seen:
            break
    session.stop()
    await task
    await session.aclose()
    assert seen and seen[0] is not None and seen[0].priority_ids == ("a", "b")
