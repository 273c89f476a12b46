"""``c``: choose the columns of the current view."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, SelectionList

from joytui.ui.columns import COLUMNS


class ColumnsScreen(ModalScreen[tuple[str, ...] | None]):
    """Tick the columns to show; Enter applies, Esc keeps what was there."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="columns_cancel"),
        Binding("enter", "apply", "Apply", id="columns_apply", priority=True),
    ]

    def __init__(self, view_title: str, offered: tuple[str, ...], shown: tuple[str, ...]):
        super().__init__()
        self._title = view_title
        self._offered = offered
        self._shown = set(shown)

    def compose(self) -> ComposeResult:
        with Vertical(id="columns-body"):
            yield Label(f"Columns of {self._title}: space toggles, Enter applies, Esc cancels")
            yield SelectionList[str](
                *[(COLUMNS[c].title, c, c in self._shown) for c in self._offered],
                id="columns-list",
            )

    def action_apply(self) -> None:
        chosen = set(self.query_one(SelectionList).selected)
        self.dismiss(tuple(c for c in self._offered if c in chosen) or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
