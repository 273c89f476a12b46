"""``joytui config check`` and ``joytui config init`` (with its prompts)."""

from __future__ import annotations

import argparse
import getpass
import shlex
import sys
from typing import Any

from joytui.cli.common import EXIT_OK, UsageError, check_keymap, load_from_args
from joytui.config import PROVIDERS, account_template, config_path, write_config


def cmd_config_check(args: argparse.Namespace) -> int:
    """Validate the config, resolve every secret and probe every account; a line each."""
    from joytui.headless import cmd_config_probe

    path, config = load_from_args(args)
    check_keymap(config)
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
