"""The argparse tree of every ``joytui`` command and its flags."""

from __future__ import annotations

import argparse
from typing import Any

from joytui import __version__
from joytui.config import PROVIDERS
from joytui.model import KINDS, Status


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
