"""The headless action commands for runbooks: ``joytui action``, ``actions`` and ``audit``.

``action`` sends its write through the session's action runner (the dashboard's), so
read-only, exactly-once and the audit log hold for scripts too.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from joytui.config import PROVIDERS, Config
from joytui.core.accounts import AccountHandle, AccountSetupError
from joytui.core.session import Session
from joytui.headless import _cell, _fail_line, table
from joytui.model import Resource
from joytui.safe_text import printable

WAIT_POLL_SECONDS = 1.0
"""How often ``joytui action --wait`` polls the account."""
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class TargetError(ValueError):
    """A ``PROVIDER/ACCOUNT/ID`` that names no configured account."""


def parse_target(config: Config, text: str) -> tuple[str, str, str | None]:
    """``PROVIDER/ACCOUNT/ID`` (or ``PROVIDER/ACCOUNT`` for the account's own actions) as
    (provider, account, id or None); an account name may hold a slash."""
    provider, _, rest = text.partition("/")
    names = sorted((a.name for p, a in config.accounts() if p == provider), key=len, reverse=True)
    if provider not in PROVIDERS:
        raise TargetError(
            f"{text}: expected PROVIDER/ACCOUNT/ID, PROVIDER one of {', '.join(PROVIDERS)}"
        )
    if not names:
        raise TargetError(f"{text}: the config has no {provider} account")
    for name in names:
        if rest == name:
            return provider, name, None
        if rest.startswith(name + "/"):
            return provider, name, rest[len(name) + 1 :] or None
    raise TargetError(f"{text}: no {provider} account named so (known: {', '.join(names)})")


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` words as a mapping; a key given again adds to a list (``env``)."""
    params: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise TargetError(f"--param {item}: expected KEY=VALUE")
        if key in params:
            before = params[key]
            params[key] = [*(before if isinstance(before, list) else [before]), value]
        else:
            params[key] = value
    return params


def _one_value(params: dict[str, Any], env_like: set[str]) -> dict[str, Any]:
    for key, value in params.items():
        if isinstance(value, list) and key not in env_like:
            raise TargetError(f"--param {key} given {len(value)} times")
    return params


async def _opened(session: Session, key: tuple[str, str], err: TextIO) -> AccountHandle | None:
    """Open the session's one account: its handle, or None (said on stderr) if it has no
    client."""
    await session.open()
    handle = session.handle_for(key)
    if handle is None or handle.client is None:
        why = handle.error if handle is not None else "not configured"
        print(f"error: {key[0]} {key[1]!r}: {why}", file=err)
        return None
    return handle


async def _poll_for(session: Session, key: tuple[str, str], ids: tuple[str, ...]) -> bool:
    """One poll of account ``key``, ``ids`` asked first; False when it failed."""
    from joytui.core.poller import PollTarget
    from joytui.model import PollHints

    handle = session.handle_for(key)
    assert session.poller is not None and handle is not None and handle.client is not None
    client = handle.client
    target = PollTarget(
        key[0],
        key[1],
        handle.refresh_seconds,
        lambda: client.snapshot(PollHints(priority_ids=ids)),
    )
    result = await session.poller.poll_once(target)
    return result.changes is not None


def _find(session: Session, key: tuple[str, str], rid: str) -> Resource | list[Resource] | None:
    """The resource ``rid`` names (its id, else a unique name); several if the name is not
    unique."""
    state = session.store.accounts.get(key)
    if state is None:
        return None
    resources = list(state.resources.values())
    by_id = [r for r in resources if r.id == rid]
    if by_id:
        return by_id[0]
    by_name = [r for r in resources if r.name == rid]
    if len(by_name) == 1:
        return by_name[0]
    return by_name or None


def _ask(
    resource: Resource, label: str, destructive: bool, what: str, err: TextIO, stdin: TextIO
) -> bool:
    """Ask on the terminal; a destructive action needs the resource's name typed."""
    name = printable(resource.name)
    head = (
        f"{label} in {resource.provider} account {printable(resource.account)!r}"
        if resource.kind == "account"
        else f"{label} {resource.kind} {name!r} (id {printable(resource.id)}) in "
        f"{resource.provider} account {printable(resource.account)!r}"
    )
    err.write(f"{head}\n  {what}\n")
    if destructive:
        err.write(f"This cannot be taken back. Type the name ({name}) to confirm: ")
        err.flush()
        typed = stdin.readline().strip()
        return bool(typed) and typed in (resource.name, resource.id)
    err.write("Proceed? [y/N] ")
    err.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


def _report_row(report: Any, status: str | None) -> dict[str, Any]:
    from joytui.core.audit import safe_params

    r = report.resource
    return {
        "provider": r.provider,
        "account": r.account,
        "kind": r.kind,
        "id": r.id,
        "name": r.name,
        "action": report.action_id,
        "params": safe_params(report.params),
        "outcome": report.outcome.value,
        "message": report.message,
        "duration_ms": round(report.duration * 1000, 1),
        "status": status,
    }


def cmd_action(
    config: Config,
    target: str,
    action_id: str,
    param_items: Sequence[str] = (),
    *,
    yes: bool = False,
    wait: bool = False,
    timeout: float = 300.0,
    fmt: str = "table",
    read_only: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """``joytui action``: perform one action once. Exit 0 done, 1 the provider refused or
    failed (or --wait timed out), 2 bad usage, unknown resource or action, or read-only."""
    from joytui.core.actions import ParamError, account_target, coerce_params, consequence

    out, err, stdin = out or sys.stdout, err or sys.stderr, stdin or sys.stdin
    try:
        provider, account, rid = parse_target(config, target)
        raw = parse_params(param_items)
    except TargetError as exc:
        print(f"joytui: {exc}", file=err)
        return EXIT_USAGE
    key = (provider, account)

    async def run() -> int:
        session = Session(config, provider=provider, account=account, read_only=read_only or None)
        try:
            handle = await _opened(session, key, err)
            if handle is None:
                return EXIT_FAILED
            # Polled first: the resource as the provider has it now (for create, what is
            # there before, so what is new afterwards can be told).
            if not await _poll_for(session, key, () if rid is None else (rid,)):
                state = session.store.accounts[key]
                print(_fail_line(handle, state.error or AccountSetupError("no data")), file=err)
                return EXIT_FAILED
            if rid is None:
                resource: Resource = account_target(provider, account)
            else:
                found = _find(session, key, rid)
                if found is None or isinstance(found, list):
                    many = f" ({len(found)} have that name: use the id)" if found else ""
                    print(
                        f"joytui: {target}: no such resource in {provider} {account!r}{many} "
                        f"(joytui list --provider {provider} --account {account} shows them)",
                        file=err,
                    )
                    return EXIT_USAGE
                resource = found
            runner = session.actions
            offers = {o.action.id: o for o in await runner.offered(resource)}
            offer = offers.get(action_id)
            if offer is None:
                valid = ", ".join(offers) or "none"
                now = "" if rid is None else f" that is {resource.status.value}"
                print(
                    f"joytui: {action_id!r} is not an action of {resource.kind} "
                    f"{printable(resource.name)!r}{now} (valid now: {valid})",
                    file=err,
                )
                return EXIT_USAGE
            refused_now = runner.read_only_reason(key) is not None
            if not refused_now:
                try:
                    env_like = {p.name for p in offer.params if p.kind == "env"}
                    coerce_params(resource, action_id, _one_value(raw, env_like))
                except (ParamError, TargetError) as exc:
                    print(f"joytui: {exc}", file=err)
                    return EXIT_USAGE
                if not yes:
                    if not stdin.isatty():
                        print(
                            "joytui: refusing to act without --yes: no terminal to ask on "
                            "(nothing was sent)",
                            file=err,
                        )
                        return EXIT_USAGE
                    what = consequence(action_id, resource.kind)
                    label = offer.action.label
                    if not _ask(resource, label, offer.action.destructive, what, err, stdin):
                        print("joytui: cancelled (nothing was sent)", file=err)
                        return EXIT_USAGE
            report = await runner.perform(resource, action_id, raw)
            if report.audit_problem:
                print(f"warning: {report.audit_problem}", file=err)
            if report.outcome.value == "refused":
                print(f"joytui: refused: {printable(report.message)}", file=err)
                return EXIT_USAGE
            if not report.ok:
                print(f"error: {printable(report.message)}", file=err)
                return EXIT_FAILED
            status = None if rid is None else resource.status.value
            code = EXIT_OK
            if wait:
                code, status = await _wait(session, report, timeout, err)
            _print_report(_report_row(report, status), fmt, out)
            return code
        finally:
            await session.aclose()

    return asyncio.run(run())


async def _wait(
    session: Session, report: Any, seconds: float, err: TextIO
) -> tuple[int, str | None]:
    """Poll until the provider reports what the action led to, telling progress on stderr."""
    from joytui.core.actions import PendingSettled

    resource = report.resource
    key = (resource.provider, resource.account)
    ids = () if resource.kind == "account" else (resource.id,)
    settled: list[PendingSettled] = []
    session.actions.subscribe(lambda e: settled.append(e) if isinstance(e, PendingSettled) else 0)
    deadline = time.monotonic() + seconds
    seen: tuple[str, str | None] | None = None
    name = printable(resource.name)
    print(f"{name}: {report.message}; waiting for {resource.provider} to report it", file=err)
    while not settled:
        left = deadline - time.monotonic()
        if left <= 0:
            print(
                f"error: {resource.provider} {resource.account!r}: {name}: no new state "
                f"reported within {seconds:g} s (the action was sent: refresh to see)",
                file=err,
            )
            now = session.store.get(resource.key)
            gone = "gone" if resource.kind != "account" else None
            return EXIT_FAILED, now.status.value if now else gone
        await asyncio.sleep(min(WAIT_POLL_SECONDS, left))
        if not await _poll_for(session, key, ids):
            state = session.store.accounts[key]
            print(f"{name}: poll failed ({printable(str(state.error))}); still waiting", file=err)
            continue
        now = session.store.get(resource.key)
        shown = (now.status.value, now.raw_status) if now else ("gone", None)
        if shown != seen and resource.kind != "account":
            seen = shown
            status, raw = shown
            words = f"{status} ({printable(raw)})" if raw and raw != status else status
            print(f"{name}: {words}", file=err)
    done = settled[0]
    print(f"{name}: {printable(done.words)}", file=err)
    if resource.kind == "account":
        return (EXIT_OK if done.ok else EXIT_FAILED), None
    status = done.resource.status.value if done.resource else "gone"
    return (EXIT_OK if done.ok else EXIT_FAILED), status


def _print_report(row: dict[str, Any], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        out.write(json.dumps(row) + "\n")
        return
    columns = ("outcome", "provider", "account", "kind", "name", "id", "action", "message")
    cells = [_cell(row[c]) for c in columns]
    if row["status"] is not None:
        columns, cells = (*columns, "status"), [*cells, _cell(row["status"])]
    out.write(table([cells], columns))


def cmd_actions(
    config: Config,
    target: str,
    *,
    fmt: str = "table",
    read_only: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``joytui actions``: the actions a resource offers now; read-only ones say why not."""
    from joytui.core.actions import account_target

    out, err = out or sys.stdout, err or sys.stderr
    try:
        provider, account, rid = parse_target(config, target)
    except TargetError as exc:
        print(f"joytui: {exc}", file=err)
        return EXIT_USAGE
    key = (provider, account)

    async def run() -> int:
        session = Session(config, provider=provider, account=account, read_only=read_only or None)
        try:
            handle = await _opened(session, key, err)
            if handle is None:
                return EXIT_FAILED
            if rid is None:
                resource: Resource = account_target(provider, account)
            else:
                if not await _poll_for(session, key, (rid,)):
                    state = session.store.accounts[key]
                    print(_fail_line(handle, state.error or AccountSetupError("no data")), file=err)
                    return EXIT_FAILED
                found = _find(session, key, rid)
                if found is None or isinstance(found, list):
                    print(f"joytui: {target}: no such resource in {provider} {account!r}", file=err)
                    return EXIT_USAGE
                resource = found
            offers = await session.actions.offered(resource)
        finally:
            await session.aclose()
        rows = [
            {
                "id": o.action.id,
                "label": o.action.label,
                "destructive": o.action.destructive,
                "params": [p.name for p in o.params],
                "disabled": o.disabled,
            }
            for o in offers
        ]
        if fmt == "json":
            out.write(json.dumps(rows, indent=2) + "\n")
        else:
            cells = [
                [
                    r["id"],
                    r["label"],
                    "yes" if r["destructive"] else "",
                    ",".join(r["params"]),
                    r["disabled"] or "",
                ]
                for r in rows
            ]
            out.write(table(cells, ("action", "label", "destructive", "params", "disabled")))
        return EXIT_OK

    return asyncio.run(run())


def cmd_audit(
    since: str | None = None,
    fmt: str = "table",
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``joytui audit``: the audit log, oldest first (``--since 2h``: the last two hours)."""
    from joytui.core.audit import AuditLog, parse_duration

    out, err = out or sys.stdout, err or sys.stderr
    cutoff = None
    if since is not None:
        try:
            cutoff = time.time() - parse_duration(since)
        except ValueError as exc:
            print(f"joytui: --since {exc}", file=err)
            return EXIT_USAGE
    entries = AuditLog().read(since=cutoff)
    if fmt == "json":
        if not entries:
            out.write("[]\n")
            return EXIT_OK
        out.write("[\n")
        for i, entry in enumerate(entries):
            out.write(json.dumps(entry.public()) + (",\n" if i < len(entries) - 1 else "\n"))
        out.write("]\n")
        return EXIT_OK
    header = (
        "time",
        "user",
        "provider",
        "account",
        "kind",
        "name",
        "id",
        "action",
        "outcome",
        "ms",
        "message",
    )
    rows = [
        [
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.time)),
            _cell(e.user),
            e.provider,
            _cell(e.account),
            e.kind,
            _cell(e.name),
            _cell(e.id),
            e.action,
            e.outcome,
            f"{e.duration_ms:.0f}",
            _cell(e.message),
        ]
        for e in entries
    ]
    out.write(table(rows, header))
    return EXIT_OK
