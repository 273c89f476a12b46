"""What the dashboard shows when it crashes: never local variables, which can hold secrets."""

from __future__ import annotations


def crash_report(error: BaseException | None, *, debug: bool) -> object:
    """The renderable of a crash: with ``debug``, the traceback without its locals; else one
    line naming the error."""
    from rich.text import Text
    from rich.traceback import Traceback

    if debug:
        return Traceback(show_locals=False, width=None)
    return Text(
        f"joytui: internal error: {type(error).__name__}: {error} (--debug shows the traceback)"
    )
