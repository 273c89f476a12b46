"""The dashboard app: wiring and global keys. Screens and widgets own their behaviour."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Input, Tab, Tabs

from joytui.config import Config
from joytui.core.accounts import AccountHandle, AccountSetupError, close_accounts, open_accounts
from joytui.core.poller import Poller, PollTarget
from joytui.core.store import Store
from joytui.model import Snapshot
from joytui.ui.messages import AccountPolled
from joytui.ui.screens.help import HelpScreen
from joytui.ui.themes import DEFAULT_THEME, load_themes
from joytui.ui.views import VIEWS, VIEWS_BY_ID
from joytui.ui.widgets.accounts_bar import AccountsBar
from joytui.ui.widgets.resource_table import ResourceTable, stale_ages
from joytui.ui.widgets.totals_view import TotalsView

JOY_FIRST_POLL = 200
"""Joy machine_info requests in the first poll of an account."""
JOY_ROTATION = 8
"""Joy machine_info requests per poll beyond the visible rows, at least: the rest, in
rotation (more for big fleets, see ``_fetcher``). Visible machines are fresh every poll."""


class JoyTuiApp(App[int]):
    """Totals, resource tables and account health, polled in the background."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute, so subclasses elsewhere work
    TITLE = "joytui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="clear_filter"),
        Binding("s", "sort_next", "Sort", id="sort"),
        Binding("S", "sort_reverse", "Reverse sort", show=False, id="sort_reverse"),
        Binding("tab", "next_view", "Next view", show=False, priority=True, id="next_view"),
        Binding(
            "shift+tab", "prev_view", "Previous view", show=False, priority=True, id="prev_view"
        ),
        Binding("t", "next_theme", "Next theme", show=False, id="next_theme"),
        *[
            Binding(str(i + 1), f"view('{v.id}')", v.title, show=False, id=f"view_{v.id}")
            for i, v in enumerate(VIEWS)
        ],
    ]

    def __init__(
        self,
        config: Config,
        *,
        theme: str | None = None,
        read_only: bool | None = None,
        clock: Callable[[], float] = time.time,
        poll: bool = True,
        initial_view: str = "all",
        debug_tracebacks: bool = False,
    ) -> None:
        super().__init__()
        self.debug_tracebacks = debug_tracebacks
        self.config = config
        self.read_only = config.read_only if read_only is None else read_only
        self.clock = clock
        self.store = Store(clock=clock)
        self.handles: list[AccountHandle] = []
        self.poller: Poller | None = None
        self._poll = poll
        self._joy_seen: dict[str, bool] = {}
        self._initial_view = initial_view
        self.theme_files, self.theme_problems = load_themes()
        for theme_file in self.theme_files.values():
            self.register_theme(theme_file.to_theme())
        self.theme = theme or config.theme or DEFAULT_THEME
        if config.keymap:
            self.set_keymap(config.keymap)

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Tabs(
            *[Tab(f"{i + 1} {v.title}", id=f"tab-{v.id}") for i, v in enumerate(VIEWS)],
            id="views",
        )
        with ContentSwitcher(initial="table", id="main"):
            with VerticalScroll(id="totals-scroll"):
                yield TotalsView(id="totals")
            yield ResourceTable(id="table")
        yield Input(
            placeholder="filter: words, status:error, provider:joy, kind:vm … (Esc clears)",
            id="filter",
        )
        yield AccountsBar(id="accounts")
        yield Footer()

    @property
    def table(self) -> ResourceTable:
        return self.query_one(ResourceTable)

    def on_mount(self) -> None:
        self.handles = open_accounts(self.config)
        targets = []
        for handle in self.handles:
            self.store.register(handle.provider, handle.name)
            if handle.client is None:
                error = AccountSetupError(handle.error or f"{handle.label}: not set up")
                self.store.apply_error(handle.provider, handle.name, error)
                continue
            targets.append(
                PollTarget(
                    handle.provider, handle.name, handle.refresh_seconds, self._fetcher(handle)
                )
            )
        self.poller = Poller(
            self.store, targets, on_result=lambda r: self.post_message(AccountPolled(r))
        )
        if self._poll and targets:
            self.run_worker(self.poller.run(), name="poller", group="poll", exit_on_error=False)
        self.set_interval(1.0, self._tick)
        self.action_view(self._initial_view)
        self.table.focus()
        self._show_health()

    def _fetcher(self, handle: AccountHandle) -> Callable[[], object]:
        client = handle.client
        assert client is not None

        async def fetch() -> Snapshot:
            if handle.provider != "joy":
                return await client.snapshot()
            visible = [k[3] for k in self.table.visible_keys() if k[:2] == ("joy", handle.name)]
            known = len(self.store.register("joy", handle.name).resources)
            # A full cycle within ~60 polls, but never fewer than 8 or more than 200 a poll.
            rotation = max(JOY_ROTATION, min(JOY_FIRST_POLL, known // 60))
            budget = len(visible) + rotation
            if not self._joy_seen.get(handle.name):
                # First poll: a screenful and more, before anything is visible to prioritise.
                self._joy_seen[handle.name] = True
                budget = JOY_FIRST_POLL
            return await client.snapshot(info_budget=budget, priority_ids=visible)

        return fetch

    # -- data in -----------------------------------------------------------------------------

    def on_account_polled(self, message: AccountPolled) -> None:
        changes = message.result.changes
        if changes is not None and not changes.empty:
            self.table.apply_changes(changes.added, changes.changed, changes.removed)
        self._show_health()

    def _show_health(self) -> None:
        now = self.clock()
        accounts = list(self.store.accounts.values())
        self.table.set_stale(stale_ages(accounts, now))
        self.query_one(AccountsBar).show(accounts, now)
        if self.query_one(ContentSwitcher).current == "totals-scroll":
            self.query_one(TotalsView).show(accounts, now)

    def _tick(self) -> None:
        # Ages only change what is on screen when something is stale or totals are shown.
        if any(s.error is not None for s in self.store.accounts.values()) or (
            self.query_one(ContentSwitcher).current == "totals-scroll"
        ):
            self._show_health()

    # -- actions -----------------------------------------------------------------------------

    def action_view(self, view_id: str) -> None:
        """Show a view: the totals screen or the table with that view's kinds and columns."""
        if view_id not in VIEWS_BY_ID:
            return
        self.query_one(Tabs).active = f"tab-{view_id}"

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab is None or event.tab.id is None:
            return
        view_id = event.tab.id.removeprefix("tab-")
        switcher = self.query_one(ContentSwitcher)
        if view_id == "totals":
            switcher.current = "totals-scroll"
            self._show_health()
        else:
            switcher.current = "table"
            self.table.view_id = view_id
            self.table.focus()

    def _step_view(self, step: int) -> None:
        ids = [v.id for v in VIEWS]
        current = (self.query_one(Tabs).active or "tab-all").removeprefix("tab-")
        self.action_view(ids[(ids.index(current) + step) % len(ids)])

    def action_next_view(self) -> None:
        self._step_view(1)

    def action_prev_view(self) -> None:
        self._step_view(-1)

    def action_refresh(self) -> None:
        """Poll every account now."""
        if self.poller is not None:
            self.poller.refresh_now()
            self.notify("Refreshing every account…", timeout=2)

    def action_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        filter_input.add_class("-active")
        filter_input.focus()

    def action_clear_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        filter_input.value = ""
        filter_input.remove_class("-active")
        self.table.set_filter("")
        self.table.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.table.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            if not event.value:
                event.input.remove_class("-active")
            self.table.focus()

    def action_sort_next(self) -> None:
        self.table.sort_next()

    def action_sort_reverse(self) -> None:
        self.table.sort_by(self.table.sort_column, reverse=not self.table.sort_reverse)

    def action_next_theme(self) -> None:
        names = sorted(self.theme_files)
        if names:
            index = names.index(self.theme) if self.theme in names else -1
            self.theme = names[(index + 1) % len(names)]
            self.notify(f"Theme: {self.theme}", timeout=2)

    def watch_theme(self) -> None:
        if self.screen_stack:
            self._show_health()

    def action_help(self) -> None:
        keys: list[tuple[str, str]] = []
        keymap = dict(self.config.keymap)
        for binding in [*self.BINDINGS, *ResourceTable.BINDINGS]:
            assert isinstance(binding, Binding)
            keys.append((keymap.get(binding.id or "", binding.key), binding.description))
        keys.append(("ctrl+p", "Command palette"))
        themes = [(name, t.description) for name, t in sorted(self.theme_files.items())]
        self.push_screen(HelpScreen(keys, themes, self.theme))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Our actions in the command palette, beside Textual's own."""
        yield from super().get_system_commands(screen)
        for i, view in enumerate(VIEWS):
            yield SystemCommand(
                f"View: {view.title}",
                f"Show the {view.title} view (key {i + 1})",
                partial(self.action_view, view.id),
            )
        yield SystemCommand("Refresh now", "Poll every account now (key r)", self.action_refresh)
        yield SystemCommand("Filter", "Filter the table as you type (key /)", self.action_filter)
        yield SystemCommand("Sort by next column", "Key s; S reverses", self.action_sort_next)
        yield SystemCommand("Next theme", "Cycle joytui's themes (key t)", self.action_next_theme)
        yield SystemCommand(
            "Help", "Every key, the filter syntax, the themes (key ?)", self.action_help
        )

    def _fatal_error(self) -> None:
        # Textual's crash report shows local variables, which can hold secrets: never show them.
        from rich.segment import Segments
        from rich.text import Text
        from rich.traceback import Traceback

        self.bell()
        error = self._exception
        if self.debug_tracebacks:
            renderable: object = Traceback(show_locals=False, width=None)
        else:
            renderable = Text(
                f"joytui: internal error: {type(error).__name__}: {error} "
                "(--debug shows the traceback)"
            )
        self._exit_renderables.append(
            Segments(self.console.render(renderable, self.console.options))  # type: ignore[arg-type]
        )
        self._close_messages_no_wait()

    async def action_quit(self) -> None:
        if self.poller is not None:
            self.poller.stop()
        self.workers.cancel_group(self, "poll")
        await close_accounts(self.handles)
        self.exit(0)
