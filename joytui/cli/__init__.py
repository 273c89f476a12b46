"""The command line: ``joytui [demo|sim|list|totals|action|actions|audit|config ...]`` as
DESIGN.md lays it out.

Exit status: 0 on success, 1 when any account failed (the others still print) or a provider
refused an action, 2 on bad usage, bad config, an unknown resource or action, or a write
refused by read-only mode. Errors go to stderr, one line per problem, naming the account.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from joytui.cli.common import (
    EXIT_ACCOUNT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    check_filters,
    load_from_args,
)
from joytui.cli.config_commands import cmd_config_check, cmd_config_init
from joytui.cli.parser import build_parser
from joytui.cli.runners import cmd_alerts_test, cmd_demo, cmd_sim, cmd_web, run_dashboard
from joytui.config import ConfigError, config_path


def _quiet_broken_pipe() -> int:
    # The reader went away (`joytui list | head`): end quietly, as `ls | head` does. Point
    # stdout at /dev/null so the interpreter's last flush at exit cannot fail again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run joytui with ``argv``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = _dispatch(parser, args)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except UsageError as exc:
        print(f"joytui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(
            f"joytui: internal error: {type(exc).__name__}: {exc} (--debug shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_ACCOUNT_FAILED


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "sim":
        return cmd_sim(args)
    if args.command == "list":
        from joytui.headless import cmd_list

        _, config = load_from_args(args)
        check_filters(config, args)
        return cmd_list(
            config, args.provider, args.account, args.kind, args.status, fmt=args.format
        )
    if args.command == "totals":
        from joytui.headless import cmd_totals

        _, config = load_from_args(args)
        check_filters(config, args)
        return cmd_totals(config, args.provider, args.account, fmt=args.format)
    if args.command == "action":
        from joytui.headless.actions import cmd_action

        _, config = load_from_args(args)
        return cmd_action(
            config,
            args.target,
            args.action,
            args.param,
            yes=args.yes,
            wait=args.wait,
            timeout=args.timeout,
            fmt=args.format,
            read_only=args.read_only,
        )
    if args.command == "actions":
        from joytui.headless.actions import cmd_actions

        _, config = load_from_args(args)
        return cmd_actions(config, args.target, fmt=args.format, read_only=args.read_only)
    if args.command == "audit":
        from joytui.headless.actions import cmd_audit

        return cmd_audit(args.since, args.format)
    if args.command == "config":
        if args.config_command == "path":
            print(config_path(args.config))
            return EXIT_OK
        if args.config_command == "check":
            return cmd_config_check(args)
        if args.config_command == "init":
            return cmd_config_init(args)
        raise UsageError("config needs an action: init, check or path")
    if args.command == "demo":
        return cmd_demo(args)
    if args.command == "exporter":
        from joytui.exporter import ListenError, cmd_exporter

        _, config = load_from_args(args)
        try:
            return cmd_exporter(config, args.listen)
        except ListenError as exc:
            raise UsageError(str(exc)) from None
    if args.command == "web":
        return cmd_web(args)
    if args.command == "alerts":
        if args.alerts_command == "test":
            return cmd_alerts_test(args)
        raise UsageError("alerts needs an action: test")
    if args.command is None:
        _, config = load_from_args(args)
        return run_dashboard(config, args)
    parser.print_help(sys.stderr)
    return EXIT_USAGE


__all__ = [
    "EXIT_ACCOUNT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "main",
]
