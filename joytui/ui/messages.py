"""Typed messages from workers to screens: workers never touch widgets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

from joytui.core.poller import PollResult

if TYPE_CHECKING:
    from joytui.core.accounts import AccountHandle


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
