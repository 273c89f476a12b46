"""The detail as a screen of its own, for terminals narrower than 120 columns, and the
raw-JSON view (``y``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from joytui.core.session import Session
from joytui.model import Resource
from joytui.ui.widgets.detail_pane import DetailPane, raw_json


class DetailScreen(Screen[None]):
    """One resource's detail, full screen; Escape goes back to the table."""

    def __init__(self, session: Session, resource: Resource, *, clock: Callable[[], float]):
        super().__init__()
        self.session = session
        self.resource = resource
        self.clock = clock

    def compose(self) -> ComposeResult:
        yield DetailPane(self.session, clock=self.clock, id="detail-full")
        yield Footer()

    async def on_mount(self) -> None:
        pane = self.query_one(DetailPane)
        await pane.show(self.resource)
        pane.focus()

    async def on_detail_pane_closed(self, message: DetailPane.Closed) -> None:
        await self.query_one(DetailPane).close()
        self.dismiss()

    def on_detail_pane_open_logs(self, message: DetailPane.OpenLogs) -> None:
        from joytui.ui.screens.logs import LogsScreen

        self.app.push_screen(LogsScreen(self.session, message.resource))

    def on_detail_pane_show_raw(self, message: DetailPane.ShowRaw) -> None:
        self.app.push_screen(RawScreen(message.resource))


class RawScreen(ModalScreen[None]):
    """The resource as JSON, scrollable; Escape, q or y closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,y", "dismiss", "Close", id="close_raw"),
    ]

    def __init__(self, resource: Resource) -> None:
        super().__init__()
        self.resource = resource

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="raw-body"):
            yield Static(Syntax(raw_json(self.resource), "json", word_wrap=True))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
