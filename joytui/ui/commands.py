"""What the dashboard's keys and command palette offer: the binding ids ``[keymap]`` can
remap, the keys the help screen lists, and joytui's own commands in the palette."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.binding import Binding, BindingType

from joytui.ui.screens.dashboard import DashboardScreen
from joytui.ui.screens.logs import LogsScreen
from joytui.ui.views import VIEWS
from joytui.ui.widgets.detail_pane import DetailPane
from joytui.ui.widgets.log_view import LogView
from joytui.ui.widgets.resource_table import ResourceTable

if TYPE_CHECKING:
    from joytui.ui.app import JoyTuiApp


def binding_ids() -> set[str]:
    """Every binding id ``[keymap]`` can remap."""
    from joytui.ui.app import JoyTuiApp  # it imports this module
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


def help_keys(
    app_bindings: Iterable[BindingType], keymap: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """The keys the help screen lists, as ``(key, description, binding id)``: the app's and
    the dashboard's, each once, with ``keymap``'s remappings, then the palette's."""
    keys: list[tuple[str, str, str]] = []
    remapped = dict(keymap)
    seen: set[str] = set()
    every = [
        *app_bindings,
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
        key = remapped.get(binding.id or "", binding.key)
        keys.append((key, binding.description, binding.id or ""))
    keys.append(("ctrl+p", "Command palette", ""))
    return keys


def palette_commands(app: JoyTuiApp) -> Iterator[SystemCommand]:
    """joytui's own actions in the command palette (Textual's come first)."""
    dashboard = app.dashboard
    for i, view in enumerate(VIEWS):
        yield SystemCommand(
            f"View: {view.title}",
            f"Show the {view.title} view (key {i + 1})",
            partial(dashboard.action_view, view.id),
        )
    yield SystemCommand("Refresh now", "Poll every account now (key r)", dashboard.action_refresh)
    yield SystemCommand("Filter", "Filter the table as you type (key /)", dashboard.action_filter)
    yield SystemCommand("Sort by next column", "Key s; S reverses", dashboard.action_sort_next)
    yield SystemCommand("Next theme", "Cycle joytui's themes (key t)", app.action_next_theme)
    yield SystemCommand("Help", "Every key, the filter syntax, the themes (key ?)", app.action_help)
