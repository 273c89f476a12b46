"""Rich styles from the current theme's variables (for widgets that render Rich text)."""

from __future__ import annotations

from rich.style import Style
from textual.app import App
from textual.color import Color


def theme_style(app: App[object], variable: str, **attributes: bool) -> Style:
    """A Rich style in the colour of theme ``variable`` (e.g. "success"), alpha dropped."""
    value = app.theme_variables.get(variable)
    color = None
    if value:
        try:
            color = Color.parse(value).rich_color
        except Exception:  # an odd theme value: fall back to the terminal's colour
            color = None
    return Style(color=color, **attributes)
