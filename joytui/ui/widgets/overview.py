"""The overview's lower half: fleet charts (resources in error, CPU in use) and the recent
changes across every account, newest first; Enter on a change opens that resource."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from joytui.core.changes import ACCOUNT_KIND, Change
from joytui.safe_text import printable
from joytui.ui.formatting import human_age
from joytui.ui.widgets.chart import BrailleChart

STATUS_STYLE = {"error": "bold red", "down": "bold red", "gone": "yellow", "recovered": "green"}


def change_text(change: Change, now: float) -> Text:
    """``09:14  12m ago  vm web-10  running → error``"""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(time.strftime("%H:%M", time.localtime(change.time)))
    text.append(f"  {human_age(max(0.0, now - change.time)):>4} ago  ", style="dim")
    if change.kind == ACCOUNT_KIND:
        text.append(f"account {printable(change.provider)} {printable(change.name)}  ")
    else:
        text.append(f"{change.kind} {printable(change.name)}  ")
    old = change.old_status or "new"
    text.append(f"{old} → ")
    text.append(change.new_status, style=STATUS_STYLE.get(change.new_status, "bold"))
    if change.kind != ACCOUNT_KIND:
        text.append(f"  ({printable(change.account)})", style="dim")
    return text


class RecentChangesList(OptionList):
    """The last changes, newest first."""

    class Open(Message):
        """Open the detail of the resource a change is about."""

        def __init__(self, key: tuple[str, str, str, str]) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: list[Change] = []

    def show(self, changes: Sequence[Change], now: float) -> None:
        """Redraw with ``changes`` (newest first); keeps the highlighted row where it was."""
        changes = list(changes)
        if not changes:
            self._shown = []
            self.clear_options()
            self.add_option(Option(Text("no changes since joytui started", style="dim")))
            return
        highlighted = self.highlighted
        self._shown = changes
        self.clear_options()
        self.add_options([Option(change_text(c, now)) for c in changes])
        if highlighted is not None and highlighted < len(changes):
            self.highlighted = highlighted

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        index = event.option_index
        if index < len(self._shown):
            change = self._shown[index]
            if change.kind != ACCOUNT_KIND and change.new_status != "gone":
                self.post_message(
                    self.Open((change.provider, change.account, change.kind, change.id))
                )


class Overview(Vertical):
    """Fleet charts and the recent changes."""

    def compose(self) -> ComposeResult:
        # What changed first: it is what an on-call look is for; charts and figures below.
        yield Static(Text("Recent changes (Enter opens the resource)", style="bold"))
        yield RecentChangesList(id="recent")
        with Horizontal(id="fleet-charts"):
            yield BrailleChart("IN ERROR", lambda v: f"{v:.0f}", id="fleet-errors")
            yield BrailleChart("CPU IN USE", lambda v: f"{v:.0f}%", id="fleet-cpu")
        yield Static(id="figures")

    def show(
        self,
        fleet: Sequence[tuple[float, int, float]],
        changes: Sequence[Change],
        now: float,
        figures: Sequence[Text] = (),
    ) -> None:
        """Redraw the charts from the fleet readings and the list from the changes."""
        self.query_one("#figures", Static).update(Text("\n").join(figures))
        start = now - 900.0
        points = [p for p in fleet if p[0] <= now]
        self.query_one("#fleet-errors", BrailleChart).set_points(
            [(t, float(e)) for t, e, _ in points], start, now
        )
        self.query_one("#fleet-cpu", BrailleChart).set_points(
            [(t, c) for t, _, c in points], start, now
        )
        self.query_one(RecentChangesList).show(changes, now)
