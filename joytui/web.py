"""``joytui web``: the dashboard in a browser, served by textual-serve.

Each browser tab that connects starts its own ``joytui`` process (the same config, theme and
read-only flag; ``joytui demo`` with ``--demo``) and talks to it over a websocket. The page
has no login of its own, so it is served on loopback; a remote host needs ``--allow-remote``.
Reach it from elsewhere through SSH: ``ssh -L 8000:127.0.0.1:8000 host``.

The stock page loads its font from Google Fonts; ours is the same page with the font that
textual-serve ships, served from its own static folder, so a browser asks nothing of any
other host.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import TextIO

DEFAULT_PORT = 8000
PAGE = "app_index.html"
_REMOTE_FONT = re.compile(r"\s*<link[^>]*fonts\.googleapis\.com[^>]*/?>", re.S)
_LOCAL_FONT = """
    <style>
      @font-face {
        font-family: "Roboto Mono";
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf");
      }
    </style>"""


def dashboard_command(
    *,
    config: str | None = None,
    theme: str | None = None,
    read_only: bool = False,
    demo: bool = False,
    debug: bool = False,
) -> str:
    """The shell command each browser session runs: this Python's ``joytui`` (or ``joytui
    demo``) with the same flags."""
    argv = [sys.executable, "-m", "joytui"]
    if demo:
        argv.append("demo")
    elif config is not None:
        argv += ["--config", config]
    if theme is not None:
        argv += ["--theme", theme]
    if read_only:
        argv.append("--read-only")
    if debug:
        argv.append("--debug")
    # textual-serve runs it through the shell: every part quoted.
    return shlex.join(argv)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> str | None:
    """Why ``host``:``port`` cannot be listened on, or None if it can (checked by binding)."""
    if not 1 <= port <= 65535:
        return "the port must be between 1 and 65535"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return str(exc.strerror or exc)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return str(exc.strerror or exc)
    return None


def write_page(folder: Path) -> Path:
    """textual-serve's page, its web font served locally, written into ``folder``; returns
    the folder (textual-serve's ``templates_path``)."""
    import textual_serve

    stock = Path(textual_serve.__file__).parent / "templates" / PAGE
    text = stock.read_text(encoding="utf-8")
    text, found = _REMOTE_FONT.subn(_LOCAL_FONT, text, count=1)
    if not found:
        text = text.replace("</head>", _LOCAL_FONT + "\n  </head>", 1)
    (folder / PAGE).write_text(text, encoding="utf-8")
    return folder


def serve(
    command: str,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    public_url: str | None = None,
) -> None:
    """Serve ``command`` in the browser at ``host``:``port`` until Ctrl-C."""
    from textual_serve.server import Server

    folder = Path(tempfile.mkdtemp(prefix="joytui-web-"))
    try:
        server = Server(
            command,
            host=host,
            port=port,
            title="joytui",
            public_url=public_url,
            templates_path=write_page(folder),
        )
        # Not serve(debug=True): that asks the app for Textual's devtools, which we lack.
        server.serve()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def cmd_web(
    command: str,
    *,
    host: str,
    port: int,
    allow_remote: bool = False,
    public_url: str | None = None,
    err: TextIO | None = None,
) -> int:
    """``joytui web``: refuse a remote host without ``allow_remote`` (exit 2), warn with it,
    then serve until Ctrl-C (exit 0)."""
    err = err or sys.stderr
    if not is_loopback(host):
        if not allow_remote:
            print(
                f"joytui: --host {host}: not a loopback address; the page has no login of its "
                "own, so joytui web serves 127.0.0.1 only (reach it with ssh -L "
                f"{port}:127.0.0.1:{port} HOST), or give --allow-remote to serve it anyway",
                file=err,
            )
            return 2
        print(
            f"joytui web: warning: serving {host}:{port} beyond this machine; the page has no "
            "login of its own: anyone who reaches it gets the dashboard and its actions "
            "(consider --read-only, and a proxy that checks who asks)",
            file=err,
        )
    problem = check_port(host, port)
    if problem is not None:
        print(f"joytui: --port {port}: cannot listen on {host}:{port}: {problem}", file=err)
        return 2
    url = public_url or f"http://{f'[{host}]' if ':' in host else host}:{port}"
    print(f"joytui web: the dashboard is at {url}/ (Ctrl-C stops)", file=err)
    err.flush()
    try:
        serve(command, host=host, port=port, public_url=public_url)
    except KeyboardInterrupt:
        pass  # Ctrl-C before textual-serve took over the signal: still a clean stop
    return 0
