"""The dashboard app: wiring, themes, the keymap, help and quit. Screens own the rest."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.theme import Theme

from joytui.config import Config
from joytui.core.alerts import AlertsRaised
from joytui.core.session import AccountPolled, AccountsOpened, Session, SessionEvent
from joytui.ui import messages
from joytui.ui.alerting import tell_alerts
from joytui.ui.commands import help_keys, palette_commands
from joytui.ui.crash import crash_report
from joytui.ui.screens.dashboard import DashboardScreen
from joytui.ui.screens.help import HelpScreen
from joytui.ui.screenshots import screenshot_dir
from joytui.ui.theme_choice import next_theme, our_themes
from joytui.ui.themes import DEFAULT_THEME, load_themes


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
        """Only our themes: they carry the status colours (Textual's would lose them).
        Textual asks for them on every styled line; they are filtered once per change."""
        mine = getattr(self, "theme_files", None)  # None while App.__init__ runs
        cached = self.__dict__.get("_our_themes")
        if cached is None or cached[0] is not mine:
            cached = (mine, our_themes(super().available_themes, mine))
            self.__dict__["_our_themes"] = cached
        return dict(cached[1])

    def register_theme(self, theme: Theme) -> None:
        super().register_theme(theme)
        self.__dict__.pop("_our_themes", None)

    def unregister_theme(self, theme_name: str) -> None:
        super().unregister_theme(theme_name)
        self.__dict__.pop("_our_themes", None)

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Save screenshots under the user data dir (Textual's default, Downloads, may not
        exist on a server); the notification says where."""
        path = screenshot_dir() if path is None else path
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
            tell_alerts(self, self.config.alerts, event)

    # -- global keys -------------------------------------------------------------------------

    def action_next_theme(self) -> None:
        following = next_theme(self.theme_files, self.theme)
        if following is not None:
            self.theme = following
            self.notify(f"Theme: {self.theme}", timeout=2)

    def watch_theme(self) -> None:
        if self.screen_stack and isinstance(self.screen_stack[0], DashboardScreen):
            self.dashboard.show_health()

    def action_help(self) -> None:
        keys = help_keys(self.BINDINGS, self.config.keymap)
        themes = [(name, t.description) for name, t in sorted(self.theme_files.items())]
        self.push_screen(HelpScreen(keys, themes, self.theme, about=self.about))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Our actions in the command palette, beside Textual's own."""
        yield from super().get_system_commands(screen)
        yield from palette_commands(self)

    def _fatal_error(self) -> None:
        # Textual's crash report shows local variables, which can hold secrets: never show them.
        # This overrides a private hook of Textual's App, hence the pinned major version.
        from rich.segment import Segments

        self.bell()
        renderable = crash_report(self._exception, debug=self.debug_tracebacks)
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
