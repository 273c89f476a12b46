"""The dashboard: view tabs, the resource table or the totals, the filter, the accounts bar.

It owns the keys that act on what it shows, routes poll results into its widgets, and tells
the session which rows are on screen so their accounts poll those first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Input, Tab, Tabs

from joytui.core.session import Session
from joytui.ui.messages import AccountPolled, AccountsOpened
from joytui.ui.views import VIEWS, VIEWS_BY_ID
from joytui.ui.widgets.accounts_bar import AccountsBar
from joytui.ui.widgets.resource_table import ResourceTable, stale_ages
from joytui.ui.widgets.totals_view import TotalsView


class DashboardScreen(Screen[None]):
    """Totals, resource tables and account health of one session."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # The app's own keys, repeated here so the footer lists them first.
        Binding("q", "app.quit", "Quit", id="quit"),
        Binding("question_mark", "app.help", "Help", id="help"),
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="clear_filter"),
        Binding("s", "sort_next", "Sort", id="sort"),
        Binding("S", "sort_reverse", "Reverse sort", show=False, id="sort_reverse"),
        Binding("tab", "next_view", "Next view", show=False, priority=True, id="next_view"),
        Binding(
            "shift+tab", "prev_view", "Previous view", show=False, priority=True, id="prev_view"
        ),
        *[
            Binding(str(i + 1), f"view('{v.id}')", v.title, show=False, id=f"view_{v.id}")
            for i, v in enumerate(VIEWS)
        ],
    ]

    def __init__(
        self, session: Session, *, clock: Callable[[], float], initial_view: str = "all"
    ) -> None:
        super().__init__()
        self.session = session
        self.clock = clock
        self._initial_view = initial_view

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
        self.set_interval(1.0, self._tick)
        self.action_view(self._initial_view)
        self.table.focus()
        self.show_health()

    # -- data in -----------------------------------------------------------------------------

    def on_accounts_opened(self, message: AccountsOpened) -> None:
        self.show_health()

    def on_account_polled(self, message: AccountPolled) -> None:
        changes = message.result.changes
        if changes is not None and not changes.empty:
            self.table.apply_changes(changes.added, changes.changed, changes.removed)
        self.show_health()

    def on_resource_table_visible_changed(self, message: ResourceTable.VisibleChanged) -> None:
        by_account: dict[tuple[str, str], list[str]] = {}
        for provider, account, _kind, rid in message.keys:
            by_account.setdefault((provider, account), []).append(rid)
        for key in self.session.store.accounts:
            self.session.set_visible(key, by_account.get(key, ()))

    def show_health(self) -> None:
        """Redraw everything that shows how the accounts are doing."""
        now = self.clock()
        accounts = self.session.accounts
        self.table.set_stale(stale_ages(accounts, now))
        self.query_one(AccountsBar).show(accounts, now)
        if self.query_one(ContentSwitcher).current == "totals-scroll":
            self.query_one(TotalsView).show(accounts, now)

    def _tick(self) -> None:
        # Ages only change what is on screen when something is stale or totals are shown.
        if any(s.error is not None for s in self.session.accounts) or (
            self.query_one(ContentSwitcher).current == "totals-scroll"
        ):
            self.show_health()

    # -- views -------------------------------------------------------------------------------

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
            self.show_health()
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

    # -- keys --------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Poll every account now."""
        if self.session.refresh_now():
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
