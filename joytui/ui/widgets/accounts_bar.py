"""One line at the bottom: every account's health at a glance, its age when stale."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import Static

from joytui.core.store import AccountState, Health
from joytui.safe_text import printable
from joytui.ui.colors import theme_style
from joytui.ui.formatting import HEALTH_GLYPHS, health_style, human_age


class AccountsBar(Static):
    """``✔ sim-joy  ✔ sim-cockpit  ▲ sim-jamsocket stale 42s  …``"""

    def show(self, accounts: Iterable[AccountState], now: float) -> None:
        """Redraw for ``accounts`` as of ``now``."""
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, state in enumerate(accounts):
            if i:
                text.append("  ")
            health = state.health
            colour = theme_style(self.app, health_style(health))
            text.append(f"{HEALTH_GLYPHS[health]} ", style=colour)
            text.append(printable(state.account))
            if health in (Health.DEGRADED, Health.DOWN):
                age = state.age(now)
                detail = f" {health.value}" + (f" {human_age(age)}" if age is not None else "")
                text.append(detail, style=colour)
        self.update(text)
