"""From a config to live clients: resolve each account's secrets and open its provider client.

An account whose secrets cannot be resolved gets no client, only an error, so the others still
work. Used by the headless commands and by the dashboard.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from joytui.config import Account, Config, SecretError, resolve_account_secrets
from joytui.model import Snapshot
from joytui.providers import make_client
from joytui.providers.base import ProviderClient


@dataclass
class AccountHandle:
    """One configured account: its settings, and its client or why it has none."""

    provider: str
    account: Account
    client: ProviderClient | None = None
    error: str | None = None
    refresh_seconds: float = 5.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def label(self) -> str:
        """``cockpit 'lab'``: how every message names the account."""
        return f"{self.provider} {self.account.name!r}"


class AccountSetupError(Exception):
    """An account that could not be set up (its secrets did not resolve)."""


def open_accounts(
    config: Config,
    provider: str | None = None,
    account: str | None = None,
    **client_options: Any,
) -> list[AccountHandle]:
    """A handle per (matching) account, each with an open client unless its secrets failed."""
    handles = []
    for prov, acct in config.accounts():
        if provider and prov != provider:
            continue
        if account and acct.name != account:
            continue
        handle = AccountHandle(
            prov, acct, refresh_seconds=acct.refresh_seconds or config.refresh_seconds
        )
        try:
            secrets = resolve_account_secrets(prov, acct)
            handle.client = make_client(prov, acct, secrets, **client_options)
        except SecretError as exc:
            handle.error = str(exc)
        except ValueError as exc:  # no client for this provider in this build
            handle.error = f"{handle.label}: {exc}"
        handles.append(handle)
    return handles


async def close_accounts(handles: list[AccountHandle]) -> None:
    """Close every open client."""
    await asyncio.gather(
        *(h.client.aclose() for h in handles if h.client is not None), return_exceptions=True
    )


async def snapshot_one(handle: AccountHandle) -> Snapshot:
    """One full snapshot of ``handle``'s account; raises its setup or provider error."""
    if handle.client is None:
        raise AccountSetupError(handle.error or f"{handle.label}: not set up")
    started = time.perf_counter()
    snapshot = await handle.client.snapshot()
    elapsed_ms = (time.perf_counter() - started) * 1000
    return snapshot.model_copy(update={"latency_ms": elapsed_ms})


async def snapshot_all(
    handles: list[AccountHandle],
) -> list[tuple[AccountHandle, Snapshot | BaseException]]:
    """A snapshot (or the error) of every account, polled at the same time, in handle order."""
    results = await asyncio.gather(*(snapshot_one(h) for h in handles), return_exceptions=True)
    return list(zip(handles, results, strict=True))
