"""Helpers of these tests: the Jamsocket client against the simulated v2 API (a recording transport, a client on the simulator, reads of the simulator's own state)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime

import httpx
from pydantic import SecretStr

from joytui.config import JamsocketAccount
from joytui.model import Resource, Status
from joytui.providers import make_client
from joytui.providers.jamsocket import (
    JamsocketClient,
)
from joytui.sim.jamsocket import DEMO_ACCOUNT, DEMO_TOKEN

AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}


ACCT = f"/v2/account/{DEMO_ACCOUNT}"


class Recorder(httpx.AsyncBaseTransport):
    """A real HTTP transport that remembers every request it sends."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def sent(self, method: str, path_end: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path.endswith(path_end)]


def build(sim, transport=None, **account) -> JamsocketClient:
    settings_ = {"name": "sim", "base_url": sim.base_url, "account": DEMO_ACCOUNT}
    settings_.update(account)
    acct = JamsocketAccount(token=DEMO_TOKEN, **settings_)
    client = make_client("jamsocket", acct, {"token": SecretStr(DEMO_TOKEN)}, transport=transport)
    assert isinstance(client, JamsocketClient)
    client.backoff_seconds = 0.01
    client.stream_backoff_seconds = 0.01
    return client


def raw_backends(api, params: dict | None = None) -> list[dict]:
    out = []
    for name in api.get(f"{ACCT}/services").json()["services"]:
        url = f"/v2/service/{DEMO_ACCOUNT}/{name}/backends"
        out += api.get(url, params=params or {}).json()["backends"]
    return out


def a_backend(api, status: str, exclude: tuple = ()) -> str:
    return next(
        b["id"]
        for b in raw_backends(api)
        if b["status"]["status"] == status and b["id"] not in exclude
    )


def as_resource(backend_id: str, raw_status: str) -> Resource:
    return Resource(
        provider="jamsocket",
        account="sim",
        kind="backend",
        id=backend_id,
        name=backend_id,
        status=Status.UNKNOWN,
        raw_status=raw_status,
    )


def watchers(sim, backend_id: str) -> set:
    return sim.simulator.providers["jamsocket"].backends[backend_id].watchers


async def wait_until(predicate, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def collect(stream, limit: int | None = None, within: float = 5.0) -> list:
    out = []

    async def run() -> None:
        async with contextlib.aclosing(stream):
            async for item in stream:
                out.append(item)
                if limit is not None and len(out) >= limit:
                    return

    await asyncio.wait_for(run(), within)
    return out
