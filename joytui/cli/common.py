"""What the commands share: the exit statuses, the usage error, loading the config and the
checks of what it names (filters, theme, keymap, columns)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from joytui.config import config_path, load_config, permission_warning

EXIT_OK, EXIT_ACCOUNT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage: exit 2 with this message."""


def load_from_args(args: argparse.Namespace) -> tuple[Path, Any]:
    """The config ``--config`` (or the default) names, and its path; a loose file mode is
    warned about on stderr."""
    path = config_path(args.config)
    config = load_config(path)
    if warning := permission_warning(path):
        print(f"warning: {warning}", file=sys.stderr)
    return path, config


def check_filters(config: Any, args: argparse.Namespace) -> None:
    """An account or provider filter that matches no configured account is a mistake."""
    accounts = config.accounts()
    if args.provider and not any(p == args.provider for p, _ in accounts):
        raise UsageError(f"--provider {args.provider}: the config has no {args.provider} account")
    if args.account:
        names = sorted({a.name for p, a in accounts if not args.provider or p == args.provider})
        if args.account not in names:
            known = ", ".join(names) or "none"
            raise UsageError(f"--account {args.account}: no such account (known: {known})")


def check_keymap(config: Any) -> None:
    """Every binding id in ``[keymap]`` must be one the dashboard has, and every view and
    column in ``[columns]`` one it shows."""
    from joytui.ui.columns import COLUMNS
    from joytui.ui.commands import binding_ids
    from joytui.ui.views import VIEWS_BY_ID

    for view_id, columns in config.columns.items():
        view = VIEWS_BY_ID.get(view_id)
        if view is None or not view.columns:
            views = ", ".join(v.id for v in VIEWS_BY_ID.values() if v.columns)
            raise UsageError(f"[columns]: unknown view {view_id!r} (views: {views})")
        unknown_columns = [c for c in columns if c not in COLUMNS]
        if unknown_columns or not columns:
            raise UsageError(
                f"[columns] {view_id}: unknown column {', '.join(unknown_columns) or '(none)'} "
                f"(columns: {', '.join(COLUMNS)})"
            )

    known = binding_ids()
    unknown = sorted(set(config.keymap) - known)
    if unknown:
        raise UsageError(
            f"[keymap]: unknown binding id {', '.join(unknown)} (the ids are listed under ?; "
            f"known: {', '.join(sorted(known))})"
        )


def check_theme(name: str | None) -> None:
    if name is None:
        return
    from joytui.ui.themes import load_themes

    known = sorted(load_themes()[0])
    if name not in known:
        raise UsageError(f"--theme {name}: unknown theme (known: {', '.join(known)})")
