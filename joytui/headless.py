"""The headless commands for scripts and runbooks: ``list``, ``totals``, ``config check``,
``action``, ``actions`` and ``audit``.

Only ``action`` sends a state-changing request, through the session's action runner (the
dashboard's), so read-only, exactly-once and the audit log hold for scripts too. Output goes
to stdout in a stable order; one line per failed account goes to stderr, naming it; the exit
status is 1 when any account failed (or a provider refused an action), 2 on bad usage.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

from joytui.config import PROVIDERS, Config
from joytui.core.accounts import AccountHandle, AccountSetupError
from joytui.core.session import Session
from joytui.core.store import AccountState
from joytui.model import Resource, Totals
from joytui.safe_text import printable

LIST_COLUMNS = (
    "provider",
    "account",
    "kind",
    "id",
    "name",
    "status",
    "raw_status",
    "ip",
    "location",
)
TABLE_COLUMNS = (
    "provider",
    "account",
    "kind",
    "name",
    "status",
    "raw_status",
    "ip",
    "location",
    "id",
)


def _sort_key(r: Resource) -> tuple[Any, ...]:
    return (PROVIDERS.index(r.provider), r.account, r.kind, r.name.lower(), r.id)


def _fail_line(handle: AccountHandle, error: BaseException) -> str:
    text = str(error) or type(error).__name__
    # Provider errors already name the account; setup errors and surprises may not.
    text = printable(text if handle.label in text else f"{handle.label}: {text}")
    return f"error: {text}"


def poll_once(
    config: Config, provider: str | None = None, account: str | None = None
) -> list[tuple[AccountHandle, AccountState]]:
    """One complete poll of every (matching) account, all at once; then close the clients."""

    async def run() -> list[tuple[AccountHandle, AccountState]]:
        session = Session(config, provider=provider, account=account)
        try:
            return await session.poll_all_once()
        finally:
            await session.aclose()

    return asyncio.run(run())


def _gather(
    config: Config, provider: str | None, account: str | None, err: TextIO
) -> tuple[list[AccountState], int]:
    polled, failed = [], 0
    for handle, state in poll_once(config, provider, account):
        if state.error is None:
            polled.append(state)
        else:
            failed += 1
            print(_fail_line(handle, state.error), file=err)
    return polled, failed


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """Plain aligned columns, upper-case header, two spaces between columns."""
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    # Table and CSV go to a terminal or a spreadsheet: control characters shown, not obeyed.
    return "" if value is None else printable(str(value))


def iter_resources(resources: Iterable[Resource], fmt: str) -> Iterator[str]:
    """``list`` output in table, json or csv, in pieces (10,000 rows need not sit in memory
    twice)."""
    ordered = sorted(resources, key=_sort_key)
    if fmt == "json":
        # One resource per line: readable, greppable, and the C encoder (indent= is pure Python).
        if not ordered:
            yield "[]\n"
            return
        yield "[\n"
        for i, r in enumerate(ordered):
            yield json.dumps(r.public()) + (",\n" if i < len(ordered) - 1 else "\n")
        yield "]\n"
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(LIST_COLUMNS)
        for r in ordered:
            data = r.public()
            writer.writerow([_cell(data.get(c)) for c in LIST_COLUMNS])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        yield buf.getvalue()
    else:
        rows = [[_cell(r.public().get(c)) for c in TABLE_COLUMNS] for r in ordered]
        yield table(rows, TABLE_COLUMNS)


def cmd_list(
    config: Config,
    provider: str | None = None,
    account: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    fmt: str = "table",
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Print every (matching) resource; exit status 1 when any account failed."""
    out, err = out or sys.stdout, err or sys.stderr
    polled, failed = _gather(config, provider, account, err)
    resources = [
        r
        for s in polled
        for r in s.resources.values()
        if (kind is None or r.kind == kind) and (status is None or r.status.value == status)
    ]
    for piece in iter_resources(resources, fmt):
        out.write(piece)
    return 1 if failed else 0


def render_totals(totals: list[Totals], fmt: str) -> str:
    """``totals`` output in table, json or csv."""
    if fmt == "json":
        return json.dumps([t.model_dump(mode="json") for t in totals], indent=2) + "\n"
    rows = []
    for t in totals:
        for kind, by_status in sorted(t.counts.items()):
            for st, n in sorted(by_status.items()):
                rows.append([t.provider, t.account, kind, st, str(n)])
        for name, value in t.figures.items():
            rows.append([t.provider, t.account, "figure", name, _cell(value)])
    header = ("provider", "account", "kind", "status", "count")
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return buf.getvalue()
    return table(rows, header)


def cmd_totals(
    config: Config,
    provider: str | None = None,
    account: str | None = None,
    fmt: str = "table",
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Print counts per provider, account, kind and status, plus Joy's dashboard figures."""
    out, err = out or sys.stdout, err or sys.stderr
    polled, failed = _gather(config, provider, account, err)
    out.write(render_totals([s.totals for s in polled if s.totals is not None], fmt))
    return 1 if failed else 0


def _summary(totals: Totals) -> str:
    parts = []
    for kind, by_status in sorted(totals.counts.items()):
        n = sum(by_status.values())
        parts.append(f"{n} {kind}{'' if n == 1 else 's'}")
    return ", ".join(parts) or "no resources"


def cmd_config_probe(config: Config, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Probe every account: one line each, ok with counts and latency, or the error."""
    out, err = out or sys.stdout, err or sys.stderr
    failed = 0
    for handle, state in poll_once(config):
        if state.error is None and state.totals is not None:
            name = printable(handle.name)
            out.write(
                f"ok     {handle.provider:<10} {name:<20} {_summary(state.totals)} "
                f"in {state.latency_ms or 0:.0f} ms\n"
            )
        else:
            failed += 1
            print(_fail_line(handle, state.error or AccountSetupError("no data")), file=err)
    return 1 if failed else 0


# -- actions ------------------------------------------------------------------------------------

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
            await session.open()
            handle = session.handle_for(key)
            if handle is None or handle.client is None:
                why = handle.error if handle is not None else "not configured"
                print(f"error: {provider} {account!r}: {why}", file=err)
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
            await session.open()
            handle = session.handle_for(key)
            if handle is None or handle.client is None:
                why = handle.error if handle is not None else "not configured"
                print(f"error: {provider} {account!r}: {why}", file=err)
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
