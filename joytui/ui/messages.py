"""Typed messages from workers to screens: workers never touch widgets."""

from __future__ import annotations

from textual.message import Message

from joytui.core.accounts import AccountHandle
from joytui.core.poller import PollResult


class AccountPolled(Message):
    """One poll of one account finished, well or badly."""

    def __init__(self, result: PollResult) -> None:
        super().__init__()
        self.result = result


class AccountsOpened(Message):
    """The session opened its accounts (some may have failed to)."""

    def __init__(self, handles: tuple[AccountHandle, ...]) -> None:
        super().__init__()
        self.handles = handles
