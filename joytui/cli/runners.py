"""The long-running commands: the dashboard, ``demo``, ``sim``, ``web``, and ``alerts test``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from joytui.cli.common import (
    EXIT_OK,
    UsageError,
    check_keymap,
    check_theme,
    load_from_args,
)

T = TypeVar("T")

# -- the dashboard --------------------------------------------------------------------------------


def run_dashboard(config: Any, args: argparse.Namespace, about: str | None = None) -> int:
    """Run the Textual dashboard on ``config`` until the user quits."""
    check_theme(args.theme or config.theme)
    check_keymap(config)
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
    from joytui.sim.server import SimServer

    _check_machines(args)
    check_theme(args.theme)
    options = SimOptions(seed=args.seed, machines=args.machines, speed=args.speed)
    server = _with_faults(SimServer, options, args)
    with server:
        # Polled like a real config (every 5 s by default): the demo shows what a newcomer's
        # own fleet will look like, and costs what it will.
        config = Config.model_validate(server.simulator.config(server.base_url))
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
    from joytui.sim.server import bind_loopback, make_server

    _check_machines(args)
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

    simulator = _with_faults(Simulator, options, args)
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


def _check_machines(args: argparse.Namespace) -> None:
    if not 1 <= args.machines <= 50_000:
        raise UsageError("--machines must be between 1 and 50000")


def _with_faults(make: Callable[..., T], options: Any, args: argparse.Namespace) -> T:
    """``make(options, faults=...)`` with the ``--faults`` given; a bad spec is a usage error."""
    from joytui.sim.faults import FaultSpecError

    try:
        return make(options, faults=",".join(args.faults or []) or None)
    except FaultSpecError as exc:
        raise UsageError(f"--faults: {exc}") from None


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
        check_theme(args.theme)
    else:
        path, config = load_from_args(args)
        check_theme(args.theme or config.theme)
        check_keymap(config)
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

    _, config = load_from_args(args)
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
