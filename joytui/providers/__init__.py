"""Provider clients: one module per API (wire models, async client, adapter to the normalized
model), one error taxonomy (:mod:`joytui.providers.errors`), and :func:`make_client`.

Nothing here imports Textual.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

import httpx
from pydantic import SecretStr

from joytui.config import Account
from joytui.providers.base import ProviderClient
from joytui.providers.errors import (
    AuthError,
    BadPayloadError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    RejectedError,
    ServerError,
    TransportError,
)

CLIENTS: dict[str, str] = {
    "joy": "joytui.providers.joy:JoyClient",
    "cockpit": "joytui.providers.cockpit:CockpitClient",
    "instances": "joytui.providers.instances:InstancesClient",
    # The Jamsocket client lives in its own module; imported lazily so that a missing or
    # broken module never breaks the other three.
    "jamsocket": "joytui.providers.jamsocket:JamsocketClient",
}
"""provider key -> "module:ClassName" of its client."""


def client_class(provider: str) -> type[ProviderClient]:
    """The client class for ``provider``; raises ``ValueError`` if there is none."""
    target = CLIENTS.get(provider)
    if target is None:
        raise ValueError(f"unknown provider {provider!r} (known: {', '.join(CLIENTS)})")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ValueError(f"provider {provider!r} has no client yet ({module_name})") from None
    return getattr(module, class_name)


def make_client(
    provider: str,
    account: Account,
    secrets: Mapping[str, SecretStr],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ProviderClient:
    """A client for ``account`` of ``provider``, with its resolved ``secrets``."""
    return client_class(provider)(account, secrets, transport=transport)


__all__ = [
    "CLIENTS",
    "AuthError",
    "BadPayloadError",
    "NotFoundError",
    "ProviderClient",
    "ProviderError",
    "RateLimitedError",
    "RejectedError",
    "ServerError",
    "TransportError",
    "client_class",
    "make_client",
]
