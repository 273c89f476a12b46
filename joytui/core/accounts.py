"""From a config to live clients: resolve each account's secrets and open its provider client.

An account whose secrets cannot be resolved gets no client, only an error, so the others still
work. :class:`~joytui.core.session.Session` is the only user.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from joytui.config import Account, Config, SecretError, resolve_account_secrets_async
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

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def key(self) -> tuple[str, str]:
        """(provider, account name): the store's key for this account."""
        return (self.provider, self.account.name)

    @property
    def label(self) -> str:
        """``cockpit 'lab'``: how every message names the account."""
        return f"{self.provider} {self.account.name!r}"


class AccountSetupError(Exception):
    """An account that could not be set up (its secrets did not resolve)."""


def matching_accounts(
    config: Config, provider: str | None = None, account: str | None = None
) -> list[tuple[str, Account]]:
    """The configured accounts, optionally only one provider's or one name's."""
    return [
        (prov, acct)
        for prov, acct in config.accounts()
        if (not provider or prov == provider) and (not account or acct.name == account)
    ]


async def open_account(
    config: Config, provider: str, account: Account, **client_options: Any
) -> AccountHandle:
    """A handle with an open client, or with the reason there is none. Never raises."""
    handle = AccountHandle(
        provider, account, refresh_seconds=account.refresh_seconds or config.refresh_seconds
    )
    try:
        secrets = await resolve_account_secrets_async(provider, account)
        handle.client = make_client(provider, account, secrets, **client_options)
    except SecretError as exc:
        handle.error = str(exc)
    except ValueError as exc:  # no client for this provider in this build
        handle.error = f"{handle.label}: {exc}"
    return handle


async def open_accounts(
    config: Config,
    provider: str | None = None,
    account: str | None = None,
    **client_options: Any,
) -> list[AccountHandle]:
    """A handle per (matching) account, in config order; secrets resolve concurrently."""
    return list(
        await asyncio.gather(
            *(
                open_account(config, prov, acct, **client_options)
                for prov, acct in matching_accounts(config, provider, account)
            )
        )
    )


async def close_accounts(handles: list[AccountHandle]) -> None:
    """Close every open client."""
    await asyncio.gather(
        *(h.client.aclose() for h in handles if h.client is not None), return_exceptions=True
    )
