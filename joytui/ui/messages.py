"""Typed messages from workers to the app: workers never touch widgets."""

from __future__ import annotations

from textual.message import Message

from joytui.core.poller import PollResult


class AccountPolled(Message):
    """One poll of one account finished, well or badly."""

    def __init__(self, result: PollResult) -> None:
        super().__init__()
        self.result = result
