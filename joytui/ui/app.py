"""The dashboard app: wiring, themes, the keymap, help and quit. Screens own the rest."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import ClassVar

import platformdirs
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.theme import Theme

from joytui.config import Config
from joytui.core.alerts import AlertsRaised
from joytui.core.session import AccountPolled, AccountsOpened, Session, SessionEvent
from joytui.ui import messages
from joytui.ui.screens.dashboard import DashboardScreen
from joytui.ui.screens.help import HelpScreen
from joytui.ui.screens.logs import LogsScreen
from joytui.ui.themes import DEFAULT_THEME, load_themes
from joytui.ui.views import VIEWS
from joytui.ui.widgets.detail_pane import DetailPane
from joytui.ui.widgets.log_view import LogView
from joytui.ui.widgets.resource_table import ResourceTable


def binding_ids() -> set[str]:
    """Every binding id ``[keymap]`` can remap."""
    from joytui.ui.screens.actions import ActionForm, ActionMenu, ConfirmAction
    from joytui.ui.screens.columns import ColumnsScreen
    from joytui.ui.screens.detail import RawScreen
    from joytui.ui.screens.help import HelpScreen as Help

    modals = [ActionMenu, ActionForm, ConfirmAction, ColumnsScreen, RawScreen]
    return {
        b.id
        for b in [
            *JoyTuiApp.BINDINGS,
            *DashboardScreen.BINDINGS,
            *ResourceTable.BINDINGS,
            *Help.BINDINGS,
            *DetailPane.BINDINGS,
            *LogsScreen.BINDINGS,
            *LogView.BINDINGS,
            *(b for modal in modals for b in modal.BINDINGS),
        ]
        if isinstance(b, Binding) and b.id
    }


class JoyTuiApp(App[int]):
    """Totals, resource tables and account health, polled in the background."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute, so subclasses elsewhere work
    TITLE = "joytui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("t", "next_theme", "Next theme", show=False, id="next_theme"),
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
        about: str | None = None,
    ) -> None:
        super().__init__()
        self.about = about
        """One line on where the data comes from (``joytui demo``: the simulator's URL)."""
        self.debug_tracebacks = debug_tracebacks
        self.config = config
        self.clock = clock
        self.session = Session(config, read_only=read_only, clock=clock)
        self.session.subscribe(self._on_session_event)
        self._poll = poll
        self._initial_view = initial_view
        self.theme_files, self.theme_problems = load_themes()
        for theme_file in self.theme_files.values():
            self.register_theme(theme_file.to_theme())
        self.theme = theme or config.theme or DEFAULT_THEME
        if config.keymap:
            self.set_keymap(config.keymap)

    @property
    def available_themes(self) -> dict[str, Theme]:
        """Only our themes: they carry the status colours (Textual's would lose them)."""
        every = super().available_themes
        mine = getattr(self, "theme_files", None)  # None while App.__init__ runs
        ours = {name: t for name, t in every.items() if mine and name in mine}
        return ours or every

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Save screenshots under the user data dir (Textual's default, Downloads, may not
        exist on a server); the notification says where."""
        if path is None:
            directory = Path(platformdirs.user_data_dir("joytui")) / "screenshots"
            directory.mkdir(parents=True, exist_ok=True)
            path = str(directory)
        return super().deliver_screenshot(filename, path, time_format)

    @property
    def read_only(self) -> bool:
        return self.session.read_only

    def get_default_screen(self) -> DashboardScreen:
        return DashboardScreen(self.session, clock=self.clock, initial_view=self._initial_view)

    @property
    def dashboard(self) -> DashboardScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, DashboardScreen)
        return screen

    def on_mount(self) -> None:
        # Accounts open, and the first polls run, after the first paint: neither a slow secret
        # command nor the first polls' work on this loop delays it.
        self.session.register_accounts()
        self.call_after_refresh(self._start_session)

    def _start_session(self) -> None:
        self.run_worker(self._run_session(), name="session", group="poll", exit_on_error=False)

    async def _run_session(self) -> None:
        await self.session.open()
        if self._poll:
            await self.session.run()

    def _on_session_event(self, event: SessionEvent) -> None:
        # Session events arrive on the event loop; the dashboard applies them as messages.
        if isinstance(event, AccountPolled):
            self.dashboard.post_message(messages.AccountPolled(event.result))
        elif isinstance(event, AccountsOpened):
            self.dashboard.post_message(messages.AccountsOpened(event.handles))
        elif isinstance(event, AlertsRaised):
            self._alert(event)

    def _alert(self, event: AlertsRaised) -> None:
        """The terminal bell (tmux flags the window with monitor-bell) and a notification."""
        settings = self.config.alerts
        if settings.bell:
            self.bell()
        if settings.notify:
            for alert in event.alerts:
                self.notify(
                    alert.message,
                    title=alert.title,
                    severity="error" if alert.severity == "error" else "warning",
                    markup=False,  # names are text, never markup
                    timeout=10,
                )

    # -- global keys -------------------------------------------------------------------------

    def action_next_theme(self) -> None:
        names = sorted(self.theme_files)
        if names:
            index = names.index(self.theme) if self.theme in names else -1
            self.theme = names[(index + 1) % len(names)]
            self.notify(f"Theme: {self.theme}", timeout=2)

    def watch_theme(self) -> None:
        if self.screen_stack and isinstance(self.screen_stack[0], DashboardScreen):
            self.dashboard.show_health()

    def action_help(self) -> None:
        keys: list[tuple[str, str, str]] = []
        keymap = dict(self.config.keymap)
        seen: set[str] = set()
        every = [
            *self.BINDINGS,
            *DashboardScreen.BINDINGS,
            *ResourceTable.BINDINGS,
            *DetailPane.BINDINGS,
            *LogsScreen.BINDINGS,
        ]
        for binding in every:
            assert isinstance(binding, Binding)
            if binding.id in seen:
                continue
            seen.add(binding.id or "")
            key = keymap.get(binding.id or "", binding.key)
            keys.append((key, binding.description, binding.id or ""))
        keys.append(("ctrl+p", "Command palette", ""))
        themes = [(name, t.description) for name, t in sorted(self.theme_files.items())]
        self.push_screen(HelpScreen(keys, themes, self.theme, about=self.about))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Our actions in the command palette, beside Textual's own."""
        yield from super().get_system_commands(screen)
        dashboard = self.dashboard
        for i, view in enumerate(VIEWS):
            yield SystemCommand(
                f"View: {view.title}",
                f"Show the {view.title} view (key {i + 1})",
                partial(dashboard.action_view, view.id),
            )
        yield SystemCommand(
            "Refresh now", "Poll every account now (key r)", dashboard.action_refresh
        )
        yield SystemCommand(
            "Filter", "Filter the table as you type (key /)", dashboard.action_filter
        )
        yield SystemCommand("Sort by next column", "Key s; S reverses", dashboard.action_sort_next)
        yield SystemCommand("Next theme", "Cycle joytui's themes (key t)", self.action_next_theme)
        yield SystemCommand(
            "Help", "Every key, the filter syntax, the themes (key ?)", self.action_help
        )

    def _fatal_error(self) -> None:
        # Textual's crash report shows local variables, which can hold secrets: never show them.
        # This overrides a private hook of Textual's App, hence the pinned major version.
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

    async def on_unmount(self) -> None:
        # However the app ends (quit, a crash, a test's exit), no connection is left open.
        self.session.stop()
        await self.session.aclose()

    async def action_quit(self) -> None:
        self.session.stop()
        self.workers.cancel_group(self, "poll")
        await self.session.aclose()
        self.exit(0)
