"""The dashboard: view tabs, the resource table or the totals, the filter, the accounts bar.

It owns the keys that act on what it shows, routes poll results into its widgets, and tells
the session which rows are on screen so their accounts poll those first. ``a`` opens the
action menu for the marked rows or the row under the cursor (:mod:`.actions`); the rows show
an action under way (``◐ stopping…``) until a poll reports its outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Input, Static, Tab, Tabs

from joytui.core.actions import ActionFinished, ActionStarted, Outcome, PendingSettled
from joytui.core.query import FIELDS
from joytui.core.session import Session
from joytui.core.store import Health, ResourceKey
from joytui.model import Resource
from joytui.ui.columns import COLUMNS
from joytui.ui.messages import AccountPolled, AccountsOpened
from joytui.ui.screens.actions import ActionCommands, ActionEvent, run_action_flow
from joytui.ui.screens.columns import ColumnsScreen
from joytui.ui.screens.detail import DetailScreen, RawScreen
from joytui.ui.screens.logs import LogsScreen
from joytui.ui.views import VIEWS, VIEWS_BY_ID
from joytui.ui.widgets.accounts_bar import AccountsBar
from joytui.ui.widgets.detail_pane import DetailPane
from joytui.ui.widgets.overview import Overview, RecentChangesList
from joytui.ui.widgets.resource_table import ResourceTable, stale_ages
from joytui.ui.widgets.totals_view import TotalsView

OUTCOME_SECONDS = 15.0
"""How long a row shows what an action led to (``✔ stopped``) before its plain status."""
NOTIFY_SETTLED_UP_TO = 5
"""Settled actions are notified one by one while at most this many are pending (a bulk action
of fifty shows its outcomes in the rows, not in fifty notifications)."""


class MainSwitcher(ContentSwitcher):
    """The table or the totals, whichever is current: it fills the space between the tabs and
    the bottom line, and what it shows fills it, so it draws no lines of its own (``BLANK``)."""

    BLANK = True


class DashboardScreen(Screen[None]):
    """Totals, resource tables and account health of one session."""

    BLANK = True
    """Its children cover it (tabs, the table or the totals, the bottom line, the footer), so
    a frame does not draw its 40 background lines under them: a cursor move redraws two
    lines of the table, and the compositor renders every child of the screen in full."""

    COMMANDS: ClassVar = {ActionCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        # The app's own keys, repeated here so the footer lists them first.
        Binding("q", "app.quit", "Quit", id="quit"),
        Binding("question_mark", "app.help", "Help", id="help"),
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="clear_filter"),
        Binding("s", "sort_next", "Sort", id="sort"),
        Binding("S", "sort_reverse", "Reverse sort", show=False, id="sort_reverse"),
        Binding("c", "columns", "Columns", show=False, id="columns"),
        Binding("enter", "open_detail", "Detail", id="detail"),
        Binding("a", "actions", "Actions", id="actions"),
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
        with MainSwitcher(initial="table", id="main"):
            with VerticalScroll(id="totals-scroll"):
                yield TotalsView(id="totals")
                yield Overview(id="overview")
            yield ResourceTable(id="table")
        yield DetailPane(self.session, clock=self.clock, id="detail")
        yield Input(
            placeholder="filter: words, status:error, provider:joy, kind:vm … (Esc clears)",
            id="filter",
        )
        with Horizontal(id="bottom"):
            yield AccountsBar(id="accounts")
            yield Static(id="status-line")
        yield Footer()

    @property
    def table(self) -> ResourceTable:
        return self.query_one(ResourceTable)

    def on_mount(self) -> None:
        # Runner events arrive on the event loop; they are applied as messages, in order.
        self.session.actions.subscribe(lambda event: self.post_message(ActionEvent(event)))
        for view_id, columns in self.session.config.columns.items():
            self.table.view_columns[view_id] = tuple(columns)
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
            pane = self.query_one(DetailPane)
            if pane.resource is not None:
                for resource in changes.changed:
                    pane.update_resource(resource)
        self.show_health()

    def on_resource_table_sort_changed(self) -> None:
        self.show_status_line()

    def on_resource_table_visible_changed(self, message: ResourceTable.VisibleChanged) -> None:
        by_account: dict[tuple[str, str], list[str]] = {}
        for provider, account, _kind, rid in message.keys:
            by_account.setdefault((provider, account), []).append(rid)
        for key in self.session.store.accounts:
            # Rows with an action pending are fetched first too, on screen or not.
            pending = self.session.actions.pending_ids(key)
            self.session.set_visible(key, [*pending, *by_account.get(key, ())])

    def show_health(self) -> None:
        """Redraw everything that shows how the accounts are doing."""
        now = self.clock()
        accounts = self.session.accounts
        self.table.set_stale(stale_ages(accounts, now))
        self.query_one(AccountsBar).show(accounts, now)
        if self.query_one(ContentSwitcher).current == "totals-scroll":
            totals = self.query_one(TotalsView)
            totals.show(accounts, now)
            totals._render_totals(max(40, self.size.width - 2))  # computes the figures
            overview = self.query_one(Overview)
            overview.show(self.session.fleet, self.session.changes.changes, now, totals.figures)
        self.show_status_line()

    def show_status_line(self) -> None:
        """The bottom right: what is shown of how many, filter problems, statuses still
        unknown, read-only."""
        table = self.table
        accounts = self.session.accounts
        line = Text(no_wrap=True)
        unknown = known_of = 0
        for state in accounts:  # from the totals: no walk over a big fleet
            if state.provider == "joy" and state.totals is not None:
                machines = state.totals.counts.get("machine", {})
                unknown += machines.get("unknown", 0)
                known_of += sum(machines.values())
        if unknown:
            line.append(f"statuses {known_of - unknown:,}/{known_of:,}  ", style="dim")
        query = table.query_filter
        if self.query_one(ContentSwitcher).current == "table":
            line.append(f"{table.row_count:,} of {table.total_in_view:,}")
        if table.marked:
            line.append("  ")  # outside the bold span: an SVG drops a span's leading spaces
            line.append(f"{len(table.marked):,} marked", style="bold")
        if query.unknown_fields:
            line.append(f"  unknown field {', '.join(query.unknown_fields)}:", style="bold")
        if self.session.read_only:
            line.append("  READ-ONLY", style="bold reverse")
        shown = (line.plain, tuple(line.spans))
        if shown != getattr(self, "_status_shown", None):  # an unchanged line costs nothing
            self._status_shown = shown
            self.query_one("#status-line", Static).update(line)
        table.set_empty_message(self._empty_message())

    def _empty_message(self) -> str:
        table = self.table
        accounts = self.session.accounts
        query = table.query_filter
        if query.unknown_fields:
            fields = ", ".join(f"{f}:" for f in FIELDS)
            return (
                f"unknown filter field {', '.join(query.unknown_fields)}: the fields are "
                f"{fields} (plain words match names)"
            )
        if not query.empty and table.total_in_view:
            return f"no matches for {query.text!r} (Esc clears the filter)"
        if accounts and all(s.health == Health.DOWN for s in accounts):
            first = next((s for s in accounts if s.error is not None), None)
            why = f": {first.error}" if first is not None else ""
            return f"every account is down{why} (r retries; 1 shows each account)"
        if any(s.health == Health.WAITING for s in accounts):
            return "waiting for the first poll…"
        return "nothing of this kind in any account"

    def _tick(self) -> None:
        self.session.actions.expire()  # a pending action no poll settles is given up on
        # Ages only change what is on screen when something is stale or totals are shown.
        now = self.clock()
        if any(s.error is not None or s.stale_at(now) for s in self.session.accounts) or (
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
            self.query_one("#filter", Input).remove_class("-active")  # no table to filter
            self.show_health()
        else:
            switcher.current = "table"
            self.table.view_id = view_id
            if self.table.query_filter.text:
                self.query_one("#filter", Input).add_class("-active")
            self.table.focus()
            self.show_status_line()

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
        if self.query_one(ContentSwitcher).current != "table":
            self.notify("The filter applies to the tables (2-8)", timeout=2)
            return
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
            self.show_status_line()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            if not event.value:
                event.input.remove_class("-active")
            self.table.focus()

    def action_sort_next(self) -> None:
        self.table.sort_next()

    def action_sort_reverse(self) -> None:
        self.table.sort_by(self.table.sort_column, reverse=not self.table.sort_reverse)

    # -- actions -----------------------------------------------------------------------------

    def action_targets(self) -> list[Resource]:
        """What ``a`` acts on: the marked rows, else the row under the cursor."""
        if self.query_one(ContentSwitcher).current != "table":
            return []
        marked = self.table.marked_resources()
        if marked:
            return marked
        resource = self.table.cursor_resource
        return [] if resource is None else [resource]

    def action_actions(self) -> None:
        """The action menu of the marked rows, or of the row under the cursor."""
        targets = self.action_targets()
        if not targets:
            self.notify("Actions act on the rows of a table (2-8)", timeout=2)
            return
        self.start_action(None, targets)

    def start_action(self, action_id: str | None, targets: Sequence[Resource]) -> None:
        """Run the action flow (menu unless ``action_id``, form, confirmation) in a worker."""
        self.run_worker(self._act(action_id, list(targets)), group="actions", exit_on_error=False)

    async def _act(self, action_id: str | None, targets: list[Resource]) -> None:
        reports = await run_action_flow(self.app, self.session, targets, action_id)
        if reports is not None and len(targets) > 1:
            self.table.clear_marks()  # sent: the marks did their job

    def on_resource_table_marks_changed(self, message: ResourceTable.MarksChanged) -> None:
        self.show_status_line()

    def on_action_event(self, message: ActionEvent) -> None:
        event = message.event
        table = self.table
        if isinstance(event, ActionStarted):
            table.set_note(event.key, f"◐ {event.words}")
        elif isinstance(event, ActionFinished):
            report = event.report
            key = report.resource.key
            if report.outcome is Outcome.UNKNOWN:
                self._show_outcome(key, "? unknown")
            elif not report.ok:
                table.set_note(key, None)  # nothing changed: the provider's status again
        elif isinstance(event, PendingSettled):
            status = event.resource.status.value if event.resource else "gone"
            self._show_outcome(event.key, f"{'✔' if event.ok else '✗'} {status}")
            if len(self.session.actions.pending) < NOTIFY_SETTLED_UP_TO:
                name = event.resource.name if event.resource else event.key[3]
                self.notify(
                    f"{event.label} {name!r}: {event.words}",
                    severity="information" if event.ok else "warning",
                    timeout=6,
                )
        pane = self.query_one(DetailPane)
        if pane.resource is not None:
            pane.refresh_actions()

    def _show_outcome(self, key: ResourceKey, note: str) -> None:
        self.table.set_note(key, note)

        def clear() -> None:
            if self.table.notes.get(key) == note:
                self.table.set_note(key, None)

        self.set_timer(OUTCOME_SECONDS, clear)

    # -- the detail -------------------------------------------------------------------------

    @property
    def detail_open(self) -> bool:
        return self.query_one(DetailPane).has_class("-open")

    async def action_open_detail(self) -> None:
        """Enter: the detail of the resource under the cursor, beside the table at 120
        columns and wider, on a screen of its own below that."""
        if self.query_one(ContentSwitcher).current != "table":
            return
        resource = self.table.cursor_resource
        if resource is None:
            return
        if self.size.width >= 120:
            pane = self.query_one(DetailPane)
            pane.add_class("-open")
            await pane.show(resource)
            pane.focus()
        else:
            self.app.push_screen(DetailScreen(self.session, resource, clock=self.clock))

    async def on_detail_pane_closed(self, message: DetailPane.Closed) -> None:
        pane = self.query_one(DetailPane)
        await pane.close()
        pane.resource = None
        pane.remove_class("-open")
        self.table.focus()

    async def on_resource_table_cursor_moved(self, message: ResourceTable.CursorMoved) -> None:
        # The open pane follows the cursor; the last resource's poll and streams stop.
        if self.detail_open and message.key is not None:
            resource = self.session.store.get(message.key)
            if resource is not None:
                await self.query_one(DetailPane).show(resource)

    async def on_recent_changes_list_open(self, message: RecentChangesList.Open) -> None:
        """Enter on a recent change: that resource's detail, on a screen of its own."""
        resource = self.session.store.get(message.key)
        if resource is not None:
            self.app.push_screen(DetailScreen(self.session, resource, clock=self.clock))

    def on_detail_pane_open_logs(self, message: DetailPane.OpenLogs) -> None:
        self.app.push_screen(LogsScreen(self.session, message.resource))

    def on_detail_pane_show_raw(self, message: DetailPane.ShowRaw) -> None:
        self.app.push_screen(RawScreen(message.resource))

    def action_columns(self) -> None:
        """Choose the columns of the current view."""
        if self.query_one(ContentSwitcher).current != "table":
            return
        table = self.table
        view = table.view
        shown = table.view_columns.get(view.id, view.columns)
        offered = (*shown, *(c for c in COLUMNS if c not in shown))

        def chosen(columns: tuple[str, ...] | None) -> None:
            if columns:
                table.show_columns(columns)

        self.app.push_screen(ColumnsScreen(view.title, offered, shown), chosen)
