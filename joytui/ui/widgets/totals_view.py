"""The totals screen: per account, health, age of data, counts by status, and Joy's figures."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from joytui.core.store import AccountState
from joytui.model import Status
from joytui.safe_text import printable
from joytui.ui.colors import theme_style
from joytui.ui.formatting import (
    HEALTH_GLYPHS,
    STATUS_GLYPHS,
    STATUS_SHORT,
    health_style,
    human_age,
)

FIGURE_LABELS = {
    "amount": ("wallet", "{:,.2f} (account currency)"),
    "instances": ("instances", "{:,}"),
    "icore": ("vCPU", "{:,} cores"),
    "iram": ("RAM", "{:,} GB"),
    "hostings": ("hostings", "{:,}"),
    "databases": ("databases", "{:,}"),
    "dns_domains": ("DNS", "{:,} domains"),
    "cdn_domains": ("CDN", "{:,} domains"),
    "total": ("services in all", "{:,}"),
}
"""Joy's dashboardinfo figures: label and format, with the units the spec gives (RAM is in
GB "as per dashboard"; the wallet amount is in the account's own currency)."""


class _ByWidth:
    """A renderable built when it is drawn, for the width it is drawn at: the view's own size
    may not be settled when the data arrives."""

    def __init__(self, build: Callable[[int], RenderableType]) -> None:
        self.build = build

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.build(options.max_width)


class TotalsView(Static):
    """A Rich table of every account, redrawn when a poll lands (and each second for ages)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._accounts: list[AccountState] = []
        self._now = 0.0
        self.figures: list[Text] = []

    def show(self, accounts: Iterable[AccountState], now: float) -> None:
        """Redraw for ``accounts`` as of ``now``."""
        self._accounts = list(accounts)
        self._now = now
        self.update(_ByWidth(self._render_totals))

    def _render_totals(self, width: int) -> RenderableType:
        table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
        wide = width >= 100
        table.add_column("PROVIDER", no_wrap=True)
        table.add_column("ACCOUNT", no_wrap=True, ratio=2, overflow="ellipsis", min_width=10)
        table.add_column("HEALTH", no_wrap=True)
        table.add_column("AGE", justify="right", no_wrap=True)
        if wide:
            table.add_column("POLL", justify="right", no_wrap=True)
        for status in Status:
            # Narrow terminals get the glyph alone (the legend is under ?), so names fit.
            title = (
                f"{STATUS_GLYPHS[status]} {STATUS_SHORT[status]}" if wide else STATUS_GLYPHS[status]
            )
            table.add_column(title, justify="right", no_wrap=True)
        problems: list[Text] = []
        figures: list[Text] = []
        for state in self._accounts:
            counts: dict[str, int] = {}
            if state.totals is not None:
                for by_status in state.totals.counts.values():
                    for st, n in by_status.items():
                        counts[st] = counts.get(st, 0) + n
            health = state.health_at(self._now)
            colour = theme_style(self.app, health_style(health))
            age = human_age(state.age(self._now)) if state.updated_at is not None else "-"
            poll = [f"{state.latency_ms:.0f}ms" if state.latency_ms else "-"] if wide else []
            table.add_row(
                Text(state.provider),
                Text(printable(state.account)),  # a name is text, never markup
                Text(f"{HEALTH_GLYPHS[health]} {health.value}", style=colour),
                age,
                *poll,
                *(str(counts.get(s.value, 0)) if counts.get(s.value) else "·" for s in Status),
            )
            problem = state.problem_at(self._now)
            if problem is not None:
                since = state.failing_since
                when = (
                    f"failing since {time.strftime('%H:%M', time.localtime(since))}, "
                    f"{human_age(self._now - since)}"
                    if since is not None
                    else ""
                )
                line = Text(f"{HEALTH_GLYPHS[health]} ", style=colour)
                line.append(printable(problem))
                if when:
                    line.append(f"  ({when}; {state.failures} failed in a row)", style="dim")
                problems.append(line)
            if state.totals is not None and state.totals.figures:
                text = Text(f"{state.provider} {printable(state.account)}: ", style="bold")
                parts = []
                for key, (label, fmt) in FIGURE_LABELS.items():
                    value = state.totals.figures.get(key)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        parts.append(f"{label} {fmt.format(value)}")
                    elif value is not None:
                        parts.append(f"{label} {printable(str(value))}")
                text.append("  ".join(parts))
                figures.append(text)
        in_error = self._in_error()
        self.figures = figures  # drawn below the recent changes (Overview), not here
        parts: list[RenderableType] = [table]
        if problems:
            parts.append(Text(""))
            parts.extend(problems)
        if in_error:
            parts.append(Text(""))
            parts.append(in_error)
        return Group(*parts)

    def _in_error(self) -> Text | None:
        """``in error now (2): vm web-10 (sim-cockpit), …`` from the accounts' data."""
        found = []
        for state in self._accounts:
            counts = state.totals.counts if state.totals is not None else {}
            if not any(by.get("error") for by in counts.values()):
                continue  # the walk below only for accounts with something in error
            found += [r for r in state.resources.values() if r.status.value == "error"]
        if not found:
            return None
        text = Text("in error now ", style="bold")
        text.append(f"({len(found)}): ", style="bold")
        shown = [f"{r.kind} {printable(r.name)} ({printable(r.account)})" for r in found[:8]]
        text.append(", ".join(shown) + (" …" if len(found) > 8 else ""))
        return text
