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
    """``✔ sim-joy  ✔ sim-cockpit  ▲ sim-jamsocket degraded 42s  …  — the first problem``"""

    def show(self, accounts: Iterable[AccountState], now: float) -> None:
        """Redraw for ``accounts`` as of ``now``."""
        text = Text(no_wrap=True, overflow="ellipsis")
        first_problem: str | None = None
        for i, state in enumerate(accounts):
            if i:
                text.append("  ")
            health = state.health_at(now)
            colour = theme_style(self.app, health_style(health))
            text.append(f"{HEALTH_GLYPHS[health]} ", style=colour)
            text.append(printable(state.account))
            if health in (Health.DEGRADED, Health.DOWN):
                age = state.age(now)
                detail = f" {health.value}" + (f" {human_age(age)}" if age is not None else "")
                text.append(detail, style=colour)
                first_problem = first_problem or state.problem_at(now)
        if first_problem:
            # The bar is one line: the first problem in words, cut to fit (totals shows all).
            text.append(f"  — {printable(first_problem)}", style="dim")
        # A poll or a tick that changes nothing on the bar costs no layout and no redraw.
        shown = (text.plain, tuple(text.spans))
        if shown != getattr(self, "_bar_shown", None):
            self._bar_shown = shown
            self.update(text)
