"""Secrets never show: not in a client's repr, not in an error, not in a log line."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr

from joytui.config import CockpitAccount, InstancesAccount, JoyAccount
from joytui.providers import make_client
from joytui.providers.errors import AuthError, BadPayloadError, ProviderError
from joytui.providers.joy import read_account_info
from joytui.sim.cockpit import DEMO_PASSWORD
from joytui.sim.instances import DEMO_API_KEY
from joytui.sim.joy import DEMO_KEY, DEMO_TOKEN
from tests.conftest import set_faults

SECRETS = [DEMO_TOKEN, DEMO_KEY, DEMO_PASSWORD, DEMO_API_KEY]


def all_clients(base_url: str, transport=None):
    return [
        make_client(
            "joy",
            JoyAccount(name="j", base_url=base_url, api_token="t", api_key="k"),
            {"api_token": SecretStr(DEMO_TOKEN), "api_key": SecretStr(DEMO_KEY)},
            transport=transport,
        ),
        make_client(
            "cockpit",
            CockpitAccount(name="c", base_url=base_url, username="admin", password="p"),
            {"password": SecretStr(DEMO_PASSWORD)},
            transport=transport,
        ),
        make_client(
            "instances",
            InstancesAccount(name="i", base_url=base_url, api_key="k"),
            {"api_key": SecretStr(DEMO_API_KEY)},
            transport=transport,
        ),
    ]


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


async def test_client_repr_and_str_hold_no_secret(sim):
    for client in all_clients(sim.base_url):
        async with client:
            await client.snapshot()  # logged in, headers set: the most there is to leak
            assert leaks(repr(client)) == [] and leaks(str(client)) == []
            assert client.name in repr(client)
            assert leaks(repr(client._secrets)) == []


async def test_no_secret_in_debug_logs(sim, sim_http, caplog):
    caplog.set_level(logging.DEBUG)
    for client in all_clients(sim.base_url):
        async with client:
            await client.snapshot()
    set_faults(sim_http, joy={"error_rate": 1.0}, cockpit={"auth_fail": True})
    for client in all_clients(sim.base_url):
        client.backoff_seconds = 0.001
        async with client:
            try:
                await client.snapshot()
            except ProviderError as err:
                logging.getLogger("test").error("poll failed: %s", err, exc_info=True)
    assert any(r.name == "joytui.providers" for r in caplog.records)
    assert leaks(caplog.text) == []


async def test_a_secret_echoed_by_the_server_is_masked():
    def handler(request: httpx.Request) -> httpx.Response:
        key = request.headers.get("x-api-key") or "?"
        return httpx.Response(401, json={"error": f"API key {key} was revoked"})

    for client in all_clients("http://api.test", transport=httpx.MockTransport(handler)):
        async with client:
            with pytest.raises(AuthError) as info:
                await client.snapshot()
        err = info.value
        assert leaks(f"{err} {err!r} {err.args} {vars(err)}") == []
        if client.provider == "instances":
            assert "API key *** was revoked" in str(err)


def test_a_mistyped_credential_in_account_info_is_not_quoted():
    doc = {"success": "true", "api_token": {"api_token": [DEMO_TOKEN], "api_key": DEMO_KEY}}
    with pytest.raises(BadPayloadError, match=r"api_token\.api_token: expected a string") as info:
        read_account_info(doc)
    err = info.value
    assert leaks(f"{err} {err!r} {vars(err)}") == [] and err.__context__ is None
