"""The command line: ``joytui [demo|sim|list|totals|action|actions|audit|config ...]`` as
DESIGN.md lays it out.

Exit status: 0 on success, 1 when any account failed (the others still print) or a provider
refused an action, 2 on bad usage, bad config, an unknown resource or action, or a write
refused by read-only mode. Errors go to stderr, one line per problem, naming the account.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from joytui import __version__
from joytui.config import (
    PROVIDERS,
    ConfigError,
    account_template,
    config_path,
    load_config,
    permission_warning,
    write_config,
)
from joytui.model import KINDS, Status

EXIT_OK, EXIT_ACCOUNT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage: exit 2 with this message."""


def _common(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """The common flags, accepted before or after the subcommand. A subcommand's copy has no
    default of its own, so it never overwrites what was given before the subcommand."""
    default: Any = {} if top else {"default": argparse.SUPPRESS}
    flag: Any = {"default": False} if top else {"default": argparse.SUPPRESS}
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $JOYTUI_CONFIG or the user dir)",
        **default,
    )
    parser.add_argument(
        "--read-only", action="store_true", help="refuse state-changing actions", **flag
    )
    parser.add_argument("--theme", metavar="NAME", help="colour theme", **default)
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks (secrets masked)", **flag
    )


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", choices=PROVIDERS, help="only this provider's accounts")
    parser.add_argument("--account", metavar="NAME", help="only the account with this name")


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every command."""
    parser = argparse.ArgumentParser(
        prog="joytui",
        description="Watch and control compute across Joy, Cockpit, Jamsocket and instances APIs.",
    )
    parser.add_argument("--version", action="version", version=f"joytui {__version__}")
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sim = sub.add_parser(
        "sim",
        help="run the simulator of all four APIs and print a config that points at it",
        description="Serve a seeded, living fleet behind all four APIs on 127.0.0.1. "
        "Prints a ready config on stdout (logs go to stderr); Ctrl-C stops it.",
    )
    _common(sim)
    sim.add_argument("--port", type=int, default=0, help="TCP port (default 0: a free one)")
    sim.add_argument("--seed", type=int, default=7, help="seed of the fleet and its story")
    sim.add_argument("--machines", type=int, default=40, help="Joy machines in the fleet (1-50000)")
    sim.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per wall second (0 freezes)"
    )
    sim.add_argument(
        "--faults",
        metavar="SPEC",
        action="append",
        help="e.g. 'joy.error_rate=0.2,cockpit.hang,*.latency_ms=100' (repeatable)",
    )
    sim.add_argument(
        "--token-ttl", type=int, default=3600, help="Cockpit token lifetime in seconds"
    )
    sim.add_argument("--no-incidents", action="store_true", help="nothing fails by itself")
    sim.add_argument(
        "--config-out",
        metavar="PATH",
        help="also write the config to PATH (mode 0600, so joytui reads it without a warning)",
    )

    demo = sub.add_parser(
        "demo",
        help="start the simulator on a free loopback port and open the dashboard on it",
        description="No config needed: a seeded fleet behind all four APIs, served on "
        "127.0.0.1 for as long as the dashboard runs.",
    )
    _common(demo)
    demo.add_argument("--seed", type=int, default=7, help="seed of the fleet and its story")
    demo.add_argument("--machines", type=int, default=40, help="Joy machines (1-50000)")
    demo.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    demo.add_argument("--faults", metavar="SPEC", action="append", help="as for `joytui sim`")

    listing = sub.add_parser("list", help="one-shot listing of every resource, normalized")
    _common(listing)
    _filters(listing)
    listing.add_argument("--kind", choices=KINDS, help="only resources of this kind")
    listing.add_argument(
        "--status", choices=[s.value for s in Status], help="only resources in this status"
    )
    listing.add_argument("--format", choices=("table", "json", "csv"), default="table")
    totals = sub.add_parser("totals", help="one-shot counts and dashboard totals")
    _common(totals)
    _filters(totals)
    totals.add_argument("--format", choices=("table", "json", "csv"), default="table")

    action = sub.add_parser(
        "action",
        help="perform one action on one resource, exactly once",
        description="Perform ACTION on the resource PROVIDER/ACCOUNT/ID (its id as `joytui "
        "list` shows it; PROVIDER/ACCOUNT for the account's own actions, such as create). "
        "Sent once, never retried; written to the audit log. Without --yes it asks on a "
        "terminal and refuses without one. Exit 0 done, 1 the provider refused or failed "
        "(or --wait timed out), 2 bad usage, an unknown resource or action, or read-only.",
    )
    _common(action)
    action.add_argument("target", metavar="PROVIDER/ACCOUNT/ID", help="the resource")
    action.add_argument("action", metavar="ACTION", help="an action id (`joytui actions` lists)")
    action.add_argument(
        "--param",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a parameter of the action (repeatable; env=NAME=VALUE adds an env var)",
    )
    action.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    action.add_argument(
        "--wait",
        action="store_true",
        help="wait until the provider reports the new state (progress on stderr)",
    )
    action.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long --wait waits (default 300)",
    )
    action.add_argument("--format", choices=("table", "json"), default="table")
    actions = sub.add_parser("actions", help="list the actions a resource offers now")
    _common(actions)
    actions.add_argument("target", metavar="PROVIDER/ACCOUNT/ID", help="the resource")
    actions.add_argument("--format", choices=("table", "json"), default="table")
    audit = sub.add_parser("audit", help="print the audit log of actions taken")
    _common(audit)
    audit.add_argument(
        "--since", metavar="DURATION", help="only the last DURATION (90s, 30m, 2h, 1d)"
    )
    audit.add_argument("--format", choices=("table", "json"), default="table")

    exporter = sub.add_parser(
        "exporter",
        help="poll headless and serve Prometheus/OpenMetrics metrics at /metrics",
        description="Poll every account as the dashboard does and serve the fleet as "
        "Prometheus metrics at http://LISTEN/metrics; Ctrl-C stops. The metrics have no "
        "authentication: keep them on loopback unless something in front guards them.",
    )
    _common(exporter)
    exporter.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default="127.0.0.1:9877",
        help="address to serve on (default 127.0.0.1:9877; port 0 picks a free one)",
    )

    web = sub.add_parser(
        "web",
        help="serve the dashboard in a browser (textual-serve), on loopback",
        description="Serve the dashboard as a web page: each browser tab runs its own "
        "dashboard on the same config. The page has no login of its own, so it is served on "
        "127.0.0.1; from elsewhere, tunnel: ssh -L 8000:127.0.0.1:8000 HOST. Ctrl-C stops.",
    )
    _common(web)
    web.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    web.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    web.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host beyond loopback (the page has no login: anyone reaching it acts)",
    )
    web.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers use, when it is not http://HOST:PORT (a proxy, a tunnel "
        "on another port)",
    )
    web.add_argument(
        "--demo", action="store_true", help="serve `joytui demo` (the simulator): no config"
    )

    alerts = sub.add_parser("alerts", help="check the [alerts] settings")
    asub = alerts.add_subparsers(dest="alerts_command", metavar="ACTION")
    _common(
        asub.add_parser(
            "test",
            help="show a sample alert, ring the bell if it is on, and print the settings",
        )
    )

    config = sub.add_parser("config", help="write, check or locate the config file")
    csub = config.add_subparsers(dest="config_command", metavar="ACTION")
    for name, text in (("path", "print the config path"), ("check", "validate and probe")):
        _common(csub.add_parser(name, help=text))
    init = csub.add_parser(
        "init",
        help="write a config file (interactive, or from flags)",
        description="Write a config file with one account, mode 0600. Secrets are best given "
        "as env:VAR or command:ARGV so they never sit in the file.",
    )
    _common(init)
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.add_argument("--provider", choices=PROVIDERS)
    init.add_argument("--name", help="your label for the account")
    init.add_argument("--base-url", help="the API host root")
    init.add_argument(
        "--set", metavar="FIELD=VALUE", action="append", default=[], help="a non-secret field"
    )
    init.add_argument(
        "--secret",
        metavar="FIELD=SOURCE",
        action="append",
        default=[],
        help="a secret: FIELD=env:VAR, FIELD=command:ARGV or FIELD=literal:VALUE",
    )
    init.add_argument("--no-input", action="store_true", help="never prompt; fail if incomplete")
    return parser


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

        _, config = _load(args)
        _check_filters(config, args)
        return cmd_list(
            config, args.provider, args.account, args.kind, args.status, fmt=args.format
        )
    if args.command == "totals":
        from joytui.headless import cmd_totals

        _, config = _load(args)
        _check_filters(config, args)
        return cmd_totals(config, args.provider, args.account, fmt=args.format)
    if args.command == "action":
        from joytui.headless.actions import cmd_action

        _, config = _load(args)
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

        _, config = _load(args)
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

        _, config = _load(args)
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
        _, config = _load(args)
        return run_dashboard(config, args)
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _check_filters(config: Any, args: argparse.Namespace) -> None:
    """An account or provider filter that matches no configured account is a mistake."""
    accounts = config.accounts()
    if args.provider and not any(p == args.provider for p, _ in accounts):
        raise UsageError(f"--provider {args.provider}: the config has no {args.provider} account")
    if args.account:
        names = sorted({a.name for p, a in accounts if not args.provider or p == args.provider})
        if args.account not in names:
            known = ", ".join(names) or "none"
            raise UsageError(f"--account {args.account}: no such account (known: {known})")


def _check_keymap(config: Any) -> None:
    """Every binding id in ``[keymap]`` must be one the dashboard has, and every view and
    column in ``[columns]`` one it shows."""
    from joytui.ui.app import binding_ids
    from joytui.ui.columns import COLUMNS
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


# -- the dashboard --------------------------------------------------------------------------------


def _check_theme(name: str | None) -> None:
    if name is None:
        return
    from joytui.ui.themes import load_themes

    known = sorted(load_themes()[0])
    if name not in known:
        raise UsageError(f"--theme {name}: unknown theme (known: {', '.join(known)})")


def run_dashboard(config: Any, args: argparse.Namespace, about: str | None = None) -> int:
    """Run the Textual dashboard on ``config`` until the user quits."""
    _check_theme(args.theme or config.theme)
    _check_keymap(config)
    from joytui.ui.app import JoyTuiApp

    app = JoyTuiApp(
        config,
        theme=args.theme,
        read_only=args.read_only or None,
        debug_tracebacks=args.debug,
        about=about,
    )
    app.run()
    return app.return_code or EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Serve the simulator in a background thread and run the dashboard on it."""
    from joytui.config import Config
    from joytui.sim.base import SimOptions
    from joytui.sim.faults import FaultSpecError
    from joytui.sim.server import SimServer

    if not 1 <= args.machines <= 50_000:
        raise UsageError("--machines must be between 1 and 50000")
    _check_theme(args.theme)
    options = SimOptions(seed=args.seed, machines=args.machines, speed=args.speed)
    try:
        server = SimServer(options, faults=",".join(args.faults or []) or None)
    except FaultSpecError as exc:
        raise UsageError(f"--faults: {exc}") from None
    with server:
        data = server.simulator.config(server.base_url)
        data["refresh_seconds"] = 2
        config = Config.model_validate(data)
        where = (
            f"simulator at {server.base_url} (faults: {server.base_url}/__sim__/faults, "
            f"seed {args.seed})"
        )
        status = run_dashboard(config, args, about=where)
        print(f"joytui demo: the {where} has stopped", file=sys.stderr)
        return status


# -- sim ----------------------------------------------------------------------------------------


def cmd_sim(args: argparse.Namespace) -> int:
    """Serve the simulator in the foreground until interrupted."""
    from joytui.sim.base import SimOptions
    from joytui.sim.faults import FaultSpecError
    from joytui.sim.server import bind_loopback, make_server

    if not 1 <= args.machines <= 50_000:
        raise UsageError("--machines must be between 1 and 50000")
    if args.speed < 0:
        raise UsageError("--speed must be 0 or more")
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    options = SimOptions(
        seed=args.seed,
        machines=args.machines,
        speed=args.speed,
        token_ttl=args.token_ttl,
        incidents=not args.no_incidents,
    )
    from joytui.sim.app import Simulator

    try:
        simulator = Simulator(options, faults=",".join(args.faults or []) or None)
    except FaultSpecError as exc:
        raise UsageError(f"--faults: {exc}") from None
    try:
        sock = bind_loopback(args.port)
    except OSError as exc:
        raise UsageError(f"--port {args.port}: {exc.strerror}") from None
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    simulator.set_base_url(base_url)
    server = make_server(simulator, sock)
    if args.config_out:
        _write_private(Path(args.config_out), simulator.config_toml(base_url))
    try:
        sys.stdout.write(simulator.config_toml(base_url))
        sys.stdout.flush()
        print(
            f"joytui sim: serving {base_url} (seed {options.seed}, {options.machines} machines, "
            f"speed {options.speed:g}); faults at {base_url}/__sim__/faults; Ctrl-C stops",
            file=sys.stderr,
        )
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # Ctrl-C before uvicorn took over the signal: still a clean stop
    finally:
        sock.close()
    return EXIT_OK


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600, even if it existed)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise UsageError(f"--config-out {path}: {exc.strerror}") from None


# -- web ------------------------------------------------------------------------------------------


def cmd_web(args: argparse.Namespace) -> int:
    """Serve the dashboard (or the demo) in a browser; the config is checked here first, so
    a bad one fails once, not in every browser tab."""
    from joytui.web import cmd_web as serve_web
    from joytui.web import dashboard_command

    config_file = None
    if args.demo:
        _check_theme(args.theme)
    else:
        path, config = _load(args)
        _check_theme(args.theme or config.theme)
        _check_keymap(config)
        config_file = str(path.resolve())
    command = dashboard_command(
        config=config_file,
        theme=args.theme,
        read_only=args.read_only,
        demo=args.demo,
        debug=args.debug,
    )
    return serve_web(
        command,
        host=args.host,
        port=args.port,
        allow_remote=args.allow_remote,
        public_url=args.public_url,
    )


# -- alerts ---------------------------------------------------------------------------------------


def cmd_alerts_test(args: argparse.Namespace) -> int:
    """Show the alert a resource going into error would raise, ring the bell when ``bell`` is
    on (and stdout is a terminal), and print the ``[alerts]`` settings in force."""
    from joytui.core.alerts import sample_alert

    _, config = _load(args)
    settings = config.alerts
    alert = sample_alert(config)
    print(f"{alert.title}: {alert.message}")
    if settings.bell and sys.stdout.isatty():
        sys.stdout.write("\a")
    silenced = [f"{p} {a.name!r}" for p, a in config.accounts() if not a.alerts]
    on_off = {True: "on", False: "off"}
    print(
        f"bell: {on_off[settings.bell]}, notify: {on_off[settings.notify]}, "
        f"on: {', '.join(settings.on) or 'nothing'}; at most one alert per resource or "
        f"account every {settings.min_interval_seconds:g} s"
    )
    print(f"silenced accounts: {', '.join(silenced) or 'none'}")
    return EXIT_OK


# -- config ---------------------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> tuple[Path, Any]:
    path = config_path(args.config)
    config = load_config(path)
    if warning := permission_warning(path):
        print(f"warning: {warning}", file=sys.stderr)
    return path, config


def cmd_config_check(args: argparse.Namespace) -> int:
    """Validate the config, resolve every secret and probe every account; a line each."""
    from joytui.headless import cmd_config_probe

    path, config = _load(args)
    _check_keymap(config)
    if not config.accounts():
        print(f"{path}: valid, but it lists no accounts", file=sys.stderr)
        return EXIT_OK
    return cmd_config_probe(config)


def _parse_secret(spec: str) -> tuple[str, Any]:
    field, eq, source = spec.partition("=")
    kind, colon, value = source.partition(":")
    if not eq or not colon or kind not in ("env", "command", "literal") or not value:
        raise UsageError(f"--secret {field or spec}: expected FIELD=env:VAR|command:ARGV|literal:V")
    if kind == "env":
        return field, {"env": value}
    if kind == "command":
        return field, {"command": shlex.split(value)}
    return field, value


def _prompt(label: str, secret: bool = False) -> str:
    reader = getpass.getpass if secret else input
    while True:
        value = reader(f"{label}: ").strip()
        if value:
            return value


def cmd_config_init(args: argparse.Namespace) -> int:
    """Write a config with one account from flags, prompting for what is missing."""
    path = config_path(args.config)
    if path.exists() and not args.force:
        raise UsageError(f"{path}: already exists; pass --force to overwrite it")
    interactive = not args.no_input and sys.stdin.isatty()
    provider = args.provider
    if provider is None:
        if not interactive:
            raise UsageError("config init: --provider is required without a terminal")
        while provider not in PROVIDERS:
            provider = _prompt(f"provider ({', '.join(PROVIDERS)})")
    fields: dict[str, Any] = {}
    for item in args.set:
        key, eq, value = item.partition("=")
        if not eq:
            raise UsageError(f"--set {item}: expected FIELD=VALUE")
        fields[key] = value
    for item in args.secret:
        key, value = _parse_secret(item)
        fields[key] = value
    if args.name:
        fields["name"] = args.name
    if args.base_url:
        fields["base_url"] = args.base_url
    for field, kind in account_template(provider).items():
        if field in fields:
            continue
        if not interactive:
            raise UsageError(f"config init: {field} is missing (use --set or --secret)")
        if kind == "secret":
            source = _prompt(f"{field} (env:VAR, command:ARGV, or the value itself)", secret=True)
            fields[field] = (
                _parse_secret(f"{field}={source}")[1]
                if source.split(":", 1)[0] in ("env", "command", "literal")
                else source
            )
        else:
            fields[field] = _prompt(field)
    data = {"refresh_seconds": 5, "theme": "joy-dark", provider: [fields]}
    write_config(path, data, force=args.force)
    print(f"wrote {path} (mode 0600)")
    return EXIT_OK
