"""The secret registry: every live provider client's secret values, so that every message is
masked of every account's secrets (:func:`mask_secrets`)."""

from __future__ import annotations

import weakref
from typing import Protocol


class SecretHolder(Protocol):
    """What the registry needs of a client (:class:`~joytui.providers.base.ProviderClient`)."""

    def secret_values(self) -> list[str]: ...


MIN_SECRET_CHARS = 4
"""Shorter secret values are not masked (masking "ab" would shred every message)."""

_LIVE_CLIENTS: weakref.WeakSet[SecretHolder] = weakref.WeakSet()
"""Every client alive now: the registry whose secrets every message is masked of, so one
account's error never quotes another's key (a proxy echoing the wrong header, say). Weak: a
client's secrets leave with it."""


def known_secrets() -> list[str]:
    """Every secret value of every live client, longest first (so none is half masked)."""
    values = {
        value
        for client in list(_LIVE_CLIENTS)
        for value in client.secret_values()
        if len(value) >= MIN_SECRET_CHARS
    }
    return sorted(values, key=len, reverse=True)


def mask_secrets(text: str) -> str:
    """``text`` with every secret of every account masked as ``***``."""
    for value in known_secrets():
        if value in text:
            text = text.replace(value, "***")
    return text


__all__ = ["MIN_SECRET_CHARS", "SecretHolder", "known_secrets", "mask_secrets"]
