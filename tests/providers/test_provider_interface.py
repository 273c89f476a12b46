"""The provider interface every client offers, the same for all four against the simulator:
``snapshot(None)`` and ``snapshot(hints)``, latency stamped once, and the three stream
operations (None where the API offers no such stream)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from joytui.config import Config, resolve_account_secrets
from joytui.model import PollHints, Snapshot
from joytui.providers import make_client
from joytui.providers.base import ProviderClient
from joytui.providers.sse import LiveStream, StreamState

PROVIDERS = ("joy", "cockpit", "jamsocket", "instances")


@pytest.fixture(params=PROVIDERS)
async def client(request, shared) -> AsyncIterator[ProviderClient]:
    """A client of one provider, on the simulator's demo account."""
    config = Config.model_validate(shared.simulator.config(shared.base_url))
    provider, account = next((p, a) for p, a in config.accounts() if p == request.param)
    secrets: dict[str, SecretStr] = resolve_account_secrets(provider, account)
    c = make_client(provider, account, secrets)
    yield c
    await c.aclose()


async def test_snapshot_without_hints_and_with_them(client):
    whole = await client.snapshot()
    assert isinstance(whole, Snapshot) and whole.resources and whole.latency_ms > 0
    assert (await client.snapshot(None)).provider == client.provider
    visible = tuple(r.id for r in whole.resources[:3])
    polled = await client.snapshot(PollHints(priority_ids=visible))
    assert polled.latency_ms > 0
    assert {r.id for r in polled.resources} >= set(visible)


async def test_streams_are_offered_only_where_the_api_has_them(client):
    snap = await client.snapshot()
    offered = {}
    for resource in snap.resources:
        streams = (
            client.metric_stream(resource),
            client.status_stream(resource),
            client.log_stream(resource),
        )
        for stream in streams:
            if stream is not None:
                assert isinstance(stream, LiveStream) and stream.state is StreamState.CONNECTING
                await stream.aclose()  # opened nothing yet; closing is clean
                assert stream.state is StreamState.ENDED
        offered[resource.kind] = tuple(s is not None for s in streams)
    expected = {
        "joy": {"machine": (False, False, False)},
        "cockpit": {"host": (False, False, False), "vm": (False, False, False)},
        # The instances API has no logs over HTTP (the spec: "via the CLI only").
        "instances": {"instance": (False, False, False)},
        "jamsocket": {"service": (False, False, False), "backend": (True, True, True)},
    }
    assert offered == expected[client.provider]


async def test_a_stream_closed_before_reading_sends_nothing(shared):
    config = Config.model_validate(shared.simulator.config(shared.base_url))
    provider, account = next((p, a) for p, a in config.accounts() if p == "jamsocket")
    async with make_client(provider, account, resolve_account_secrets(provider, account)) as c:
        backend = next(r for r in (await c.snapshot()).resources if r.kind == "backend")
        sent: list[str] = []

        async def remember(request) -> None:
            sent.append(request.url.path)

        c.http.event_hooks["request"].append(remember)
        stream = c.status_stream(backend)
        assert stream is not None
        async with contextlib.aclosing(stream):
            pass
        assert sent == []
