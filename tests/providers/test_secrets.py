"""Secrets never show: not in a client's repr, not in an error, not in a log line."""

from __future__ import annotations

import gc
import logging

import httpx
import pytest
from pydantic import SecretStr

from joytui.config import CockpitAccount, InstancesAccount, JoyAccount
from joytui.providers import make_client
from joytui.providers.base import known_secrets
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


async def test_an_error_echoing_another_accounts_secret_masks_it():
    # Account "b" is refused, and the answer quotes account "a"'s key (a proxy that mixed up
    # tenants): b's client never held that key, yet its error must not show it.
    a_key, b_key, joy_token = "inst-key-aaaa-0123456789", "inst-key-bbbb-9876543210", "joy-tok-42xy"

    def refuse_b(request: httpx.Request) -> httpx.Response:
        said = f"unknown tenant for {a_key} (and {joy_token}); yours was {b_key}"
        return httpx.Response(401, json={"error": said})

    a = make_client(
        "instances",
        InstancesAccount(name="a", base_url="http://a.test", api_key="k"),
        {"api_key": SecretStr(a_key)},
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=[])),
    )
    joy = make_client(
        "joy",
        JoyAccount(name="j", base_url="http://j.test", api_token="t", api_key="k"),
        {"api_token": SecretStr(joy_token), "api_key": SecretStr("joy-key-77zz")},
    )
    b = make_client(
        "instances",
        InstancesAccount(name="b", base_url="http://b.test", api_key="k"),
        {"api_key": SecretStr(b_key)},
        transport=httpx.MockTransport(refuse_b),
    )
    try:
        with pytest.raises(AuthError) as info:
            await b.snapshot()
    finally:
        for client in (a, joy, b):
            await client.aclose()
    text = " ".join([str(info.value), repr(info.value), *map(str, vars(info.value).values())])
    assert a_key not in text and joy_token not in text and b_key not in text
    assert "unknown tenant for *** (and ***); yours was ***" in text
    assert text.startswith("instances 'b': credentials refused (401)")


def test_a_closed_and_collected_clients_secrets_leave_the_registry():
    key = "inst-key-gone-5555555555"
    client = make_client(
        "instances",
        InstancesAccount(name="gone", base_url="http://gone.test", api_key="k"),
        {"api_key": SecretStr(key)},
    )
    assert key in known_secrets()
    del client
    gc.collect()
    assert key not in known_secrets()
