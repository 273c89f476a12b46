"""Themes are data: TOML files (``themes/*.toml``) turned into ``textual.theme.Theme``."""

from __future__ import annotations

import tomllib
from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from textual.theme import Theme

DEFAULT_THEME = "joy-dark"


class ThemeFile(BaseModel):
    """One theme file's fields (colours as CSS colour strings or ``ansi_*`` names)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="What --theme and the config call it.")
    description: str = Field("", description="One line for the help screen.")
    dark: bool = True
    ansi: bool = Field(False, description="Use the terminal's own 16 colours.")
    primary: str
    secondary: str | None = None
    accent: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    success: str | None = None
    warning: str | None = None
    error: str | None = None
    boost: str | None = None
    variables: dict[str, str] = Field(
        default_factory=dict, description="Extra Textual CSS variables (ANSI themes need some)."
    )

    def to_theme(self) -> Theme:
        """The Textual theme."""
        fields = self.model_dump(exclude={"description"})
        return Theme(**fields)


def theme_dirs() -> list[Path]:
    """Where theme files are looked for: the source tree or the installed copy, then the user's."""
    here = Path(__file__).resolve()
    return [
        here.parents[2] / "themes",
        here.parents[1] / "_themes",
        platformdirs.user_config_path("joytui") / "themes",
    ]


def load_themes(dirs: list[Path] | None = None) -> tuple[dict[str, ThemeFile], list[str]]:
    """Every theme file found (later directories override earlier), and one problem per bad file."""
    themes: dict[str, ThemeFile] = {}
    problems: list[str] = []
    for folder in dirs or theme_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = ThemeFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
            except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
                first = str(exc).splitlines()[0]
                problems.append(f"{path}: not a usable theme: {first}")
                continue
            themes[theme.name] = theme
    return themes, problems
