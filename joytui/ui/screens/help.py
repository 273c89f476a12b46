"""``?``: every key, the filter syntax, the status legend and the themes."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from joytui.model import Status
from joytui.ui.formatting import STATUS_GLYPHS


def _key_label(keys: str) -> str:
    names = {"question_mark": "?", "slash": "/", "escape": "Esc", "shift+tab": "Shift+Tab"}
    return ", ".join(names.get(k, k) for k in keys.split(","))


class HelpScreen(ModalScreen[None]):
    """A scrollable modal; Esc, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="close_help"),
    ]

    def __init__(
        self,
        keys: list[tuple[str, str, str]],
        themes: list[tuple[str, str]],
        current: str,
        *,
        about: str | None = None,
    ) -> None:
        super().__init__()
        self._keys = keys
        self._themes = themes
        self._current = current
        self._about = about

    def compose(self) -> ComposeResult:
        keys = Table(box=None, show_header=False, pad_edge=False)
        keys.add_column(style="bold", no_wrap=True)
        keys.add_column()
        keys.add_column(style="dim", no_wrap=True)
        for key, description, binding_id in self._keys:
            keys.add_row(_key_label(key), description, binding_id)
        legend = Text()
        for status in Status:
            legend.append(f"{STATUS_GLYPHS[status]} {status.value}  ")
        legend.append("~ stale (the account's last poll failed)")
        themes = Table(box=None, show_header=False, pad_edge=False)
        themes.add_column(no_wrap=True)
        themes.add_column()
        for name, description in self._themes:
            marker = "▸ " if name == self._current else "  "
            themes.add_row(marker + name, description)
        filters = Text(
            "Type after /: words match name, id, IP, place or account; "
            "field:value matches one field (provider: account: kind: status: name: ip: state:). "
            "Example: status:error provider:joy london. Esc clears."
        )
        about = [Text(self._about, style="bold"), Text("")] if self._about else []
        body = Group(
            *about,
            Text(
                'Keys (remap by id in the config\'s [keymap]: refresh = "f5")',
                style="bold underline",
            ),
            keys,
            Text(""),
            Text("Filter", style="bold underline"),
            filters,
            Text(""),
            Text("Status", style="bold underline"),
            legend,
            Text(""),
            Text(
                "Themes (--theme NAME or theme = in the config; t cycles)", style="bold underline"
            ),
            themes,
        )
        with VerticalScroll(id="help-body"):
            yield Static(body)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
