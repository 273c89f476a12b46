"""``l``: a resource's logs, followed live where its provider streams them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import ClassVar

import platformdirs
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from joytui.core.session import Session
from joytui.model import LogLine, Resource
from joytui.safe_text import printable
from joytui.ui.widgets.log_view import LogView

NO_LOGS = "The {provider} API offers no logs for a {kind}."


class LogsScreen(Screen[None]):
    """The last lines of a resource's log, with follow, search, wrap and save."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "follow", "Follow", id="logs_follow"),
        Binding("slash", "search", "Search", id="logs_search"),
        Binding("n", "next_match(1)", "Next match", id="logs_next"),
        Binding("N", "next_match(-1)", "Previous match", id="logs_previous"),
        Binding("w", "wrap", "Wrap", id="logs_wrap"),
        Binding("t", "timestamps", "Timestamps", id="logs_timestamps"),
        Binding("g", "top", "Top", show=False, id="logs_top"),
        Binding("G", "bottom", "Bottom", show=False, id="logs_bottom"),
        Binding("ctrl+s", "save", "Save", id="logs_save"),
        Binding("escape", "back", "Back", id="logs_back"),
    ]

    def __init__(self, session: Session, resource: Resource) -> None:
        super().__init__()
        self.session = session
        self.resource = resource
        self.stream = None
        self.saved_to: Path | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="logs-title")
        yield LogView(self.session.config.logs.buffer_lines, id="logs-view")
        yield Input(placeholder="search (Enter finds, Esc cancels)", id="logs-search")
        yield Footer()

    def on_mount(self) -> None:
        self.stream = self.session.log_stream(self.resource)
        view = self.query_one(LogView)
        view.focus()
        if self.stream is not None:
            self.run_worker(self._follow(), group="logs", exit_on_error=False)
        self._title()

    def _title(self, extra: str = "") -> None:
        r = self.resource
        view = self.query_one(LogView)
        text = Text()
        text.append(f"logs of {r.kind} {printable(r.name)} ", style="bold")
        text.append(f"({r.provider} {printable(r.account)})  ")
        if self.stream is None:
            text.append(NO_LOGS.format(provider=r.provider, kind=r.kind), style="italic")
        else:
            state = getattr(self.stream, "state", None)
            state_words = str(getattr(state, "value", state) or "")
            attempt = getattr(self.stream, "attempt", 0)
            if state_words == "reconnecting":
                state_words = f"reconnecting… (attempt {attempt})"
            text.append(f"{len(view.lines):,} lines  {state_words}")
            text.append(f"  follow {'on' if view.follow else 'off'}", style="dim")
            if view.wrap:
                text.append("  wrap", style="dim")
        if extra:
            text.append(f"  {extra}", style="bold")
        self.query_one("#logs-title", Static).update(text)

    async def _follow(self) -> None:
        # Lines arrive one by one; they are drawn in batches, a few times a second at most.
        view = self.query_one(LogView)
        pending: list[LogLine] = []
        stream = self.stream
        assert stream is not None

        async def drain() -> None:
            while True:
                await asyncio.sleep(0.2)
                if pending:
                    batch = pending[:]
                    pending.clear()
                    view.add(batch)
                self._title()

        drawer = asyncio.create_task(drain())
        try:
            async with contextlib.aclosing(stream):
                async for line in stream:
                    pending.append(line if isinstance(line, LogLine) else LogLine(text=str(line)))
        finally:
            drawer.cancel()
            if pending:
                view.add(pending)
            self._title("(the stream ended)")

    # -- keys -------------------------------------------------------------------------------

    def action_follow(self) -> None:
        view = self.query_one(LogView)
        view.follow = not view.follow
        if view.follow:
            view.scroll_end(animate=False)
        self._title()

    def action_search(self) -> None:
        box = self.query_one("#logs-search", Input)
        box.add_class("-active")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        view = self.query_one(LogView)
        found = view.find(event.value)
        event.input.remove_class("-active")
        view.focus()
        self._title("" if found is not None or not event.value else "no match")

    def action_next_match(self, step: int) -> None:
        view = self.query_one(LogView)
        if view.search:
            found = view.find(view.search, step)
            self._title("" if found is not None else "no match")

    def action_wrap(self) -> None:
        view = self.query_one(LogView)
        view.set_wrap(not view.wrap)
        self._title()

    def action_timestamps(self) -> None:
        view = self.query_one(LogView)
        view.set_timestamps(not view.timestamps)

    def action_top(self) -> None:
        view = self.query_one(LogView)
        view.follow = False
        view.scroll_home(animate=False)
        self._title()

    def action_bottom(self) -> None:
        self.query_one(LogView).scroll_end(animate=False)

    def action_save(self) -> None:
        """Write the lines kept to a file only the user can read, and say where."""
        view = self.query_one(LogView)
        directory = Path(platformdirs.user_data_dir("joytui")) / "logs"
        directory.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.resource.name)
        path = directory / f"{safe[:60] or 'log'}-{time.strftime('%Y%m%d-%H%M%S')}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for line in view.lines:
                out.write(view._text(line) + "\n")
        self.saved_to = path
        self.notify(f"Saved {len(view.lines):,} lines to {path}", markup=False, timeout=6)

    def action_back(self) -> None:
        box = self.query_one("#logs-search", Input)
        if box.has_class("-active"):
            box.remove_class("-active")
            self.query_one(LogView).focus()
            return
        self.workers.cancel_group(self, "logs")
        self.dismiss()
