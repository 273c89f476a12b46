"""The resource table's cursor keys, run on the table itself.

Textual checks bindings that are not priority once a key has bubbled up to the app, copying
every binding map of the focus chain on the way: most of what a cursor move cost before its
frame. The table runs its cursor bindings (with the app's keymap applied, as Textual applies
it) when it has the key; any other key goes on as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import events

CURSOR_ACTIONS: dict[str, Callable[[Any], None]] = {
    "cursor_up": lambda t: t.action_cursor(-1),
    "cursor_down": lambda t: t.action_cursor(1),
    "page_up": lambda t: t.action_page(-1),
    "page_down": lambda t: t.action_page(1),
    "top": lambda t: t.action_edge(0),
    "bottom": lambda t: t.action_edge(1),
}
"""Binding id -> its action, for the bindings :meth:`CursorKeys.on_key` runs itself (they
must stay the same as the BINDINGS' actions)."""


class CursorKeys:
    """Mixin of :class:`~joytui.ui.widgets.resource_table.ResourceTable`."""

    _cursor_keymap: object = None
    _cursor_keys: dict[str, Callable[[Any], None]] | None = None
    app: Any
    _bindings: Any

    def _cursor_actions(self) -> dict[str, Callable[[Any], None]]:
        """key -> what it does, for the keys of the cursor bindings (with the app's keymap
        applied, as Textual applies it), worked out once per keymap."""
        keymap = getattr(self.app, "_keymap", None)  # set_keymap replaces it, never edits it
        if self._cursor_keymap is not keymap or self._cursor_keys is None:
            bindings = self._bindings.copy()
            if keymap:
                bindings.apply_keymap(keymap)
            keys: dict[str, Callable[[Any], None]] = {}
            for key, key_bindings in bindings.key_to_bindings.items():
                first = key_bindings[0] if key_bindings else None
                if first is not None and not first.priority and first.id in CURSOR_ACTIONS:
                    keys[key] = CURSOR_ACTIONS[first.id]
            self._cursor_keymap, self._cursor_keys = keymap, keys
        return self._cursor_keys

    def on_key(self, event: events.Key) -> None:
        # The cursor keys act here, on the focused table, as their bindings would: Textual
        # checks bindings that are not priority once the key has bubbled up to the app,
        # copying every binding map of the focus chain on the way, which is most of what a
        # cursor move costs before its frame. Any other key goes on as before.
        act = self._cursor_actions().get(event.key)
        if act is not None:
            event.stop()
            act(self)
