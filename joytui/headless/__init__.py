"""The headless commands for scripts and runbooks: ``list``, ``totals`` and ``config check``
here; ``action``, ``actions`` and ``audit`` in :mod:`joytui.headless.actions`.

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
