"""Which themes the dashboard offers (only joytui's, from :mod:`joytui.ui.themes`) and which
one ``t`` moves to."""

from __future__ import annotations

from collections.abc import Container, Iterable

from textual.theme import Theme


def our_themes(every: dict[str, Theme], mine: Container[str] | None) -> dict[str, Theme]:
    """Only our themes: they carry the status colours (Textual's would lose them). All of
    ``every`` while ``mine`` is not loaded yet, or when none of it is there."""
    ours = {name: t for name, t in every.items() if mine and name in mine}
    return ours or every


def next_theme(names: Iterable[str], current: str) -> str | None:
    """The theme after ``current`` in name order (the first if it is not one), or None when
    there are none."""
    ordered = sorted(names)
    if not ordered:
        return None
    index = ordered.index(current) if current in ordered else -1
    return ordered[(index + 1) % len(ordered)]
