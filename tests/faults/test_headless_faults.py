"""The fault matrix, headless: every fault against `joytui list` and `totals`.

Each case turns one fault on for one provider and checks what a person sees: the broken
account fails with one line that names it and says what went wrong, every other account
still prints, nothing printed holds a secret or a control character, and the exit status
says so (1). Faults a client should absorb (the spec's quirks) must not fail at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from joytui.sim.server import SimServer
from tests.faults.conftest import (
    PROVIDERS,
    assert_clean,
    make_config,
    run_headless,
    set_faults,
)


@dataclass(frozen=True)
class Case:
    id: str
    provider: str
    faults: dict[str, Any]
    says: tuple[str, ...] = ()
    """Substrings (any one of them, case-insensitive) of the broken account's error line."""
    fails: bool = True
    config: dict[str, Any] = field(default_factory=dict)


CASES = [
    # A server that accepts and never answers; one that drips its body a byte at a time.
    *[Case(f"hang-{p}", p, {"hang": True}, ("timed out", "timeout")) for p in PROVIDERS],
    *[
        Case(f"drip-{p}", p, {"drip_ms": 400}, ("timed out", "timeout"))
        for p in ("joy", "instances")
    ],
    # Status codes, as the provider's JSON or its proxy's HTML page.
    *[
        Case(f"status-{code}-{p}", p, {"status_code": code, "status_rate": 1.0}, says)
        for code, says in [
            (401, ("401", "credentials", "refused")),
            (403, ("403", "forbidden", "permission")),
            (404, ("404", "not found")),
            (429, ("429", "rate", "limit")),
            (500, ("500", "server")),
            (503, ("503", "unavailable", "server")),
        ]
        for p in ("joy", "cockpit")
    ],
    *[Case(f"html-500-{p}", p, {"error_rate": 1.0}, ("500", "server")) for p in PROVIDERS],
    *[
        Case(f"truncated-{p}", p, {"truncate_rate": 1.0}, ("json", "payload", "answer"))
        for p in PROVIDERS
    ],
    *[
        Case(f"mangled-{p}", p, {"mangle_rate": 1.0}, ("field", "payload", "expected", "json"))
        for p in ("cockpit", "instances")
    ],
    *[
        Case(f"empty-body-{p}", p, {"empty_rate": 1.0}, ("empty", "json", "payload"))
        for p in ("joy", "cockpit", "instances")
    ],
    # Invalid UTF-8 inside a string is read with U+FFFD in its place, not refused.
    *[
        Case(f"invalid-utf8-{p}", p, {"invalid_utf8_rate": 1.0}, fails=False)
        for p in ("cockpit", "instances")
    ],
    *[
        Case(f"deep-nesting-{p}", p, {"nested_rate": 1.0}, ("json", "nested", "payload"))
        for p in ("joy", "instances")
    ],
    *[
        Case(f"redirect-loop-{p}", p, {"redirect_rate": 1.0}, ("redirect",))
        for p in ("cockpit", "instances")
    ],
    *[
        Case(f"revoked-{p}", p, {"auth_fail": True}, ("401", "credentials", "refused", "token"))
        for p in PROVIDERS
    ],
    # The spec's own quirks are not faults: Joy's JSON encoded twice, numbers as strings.
    Case("joy-quirks-always", "joy", {"quirk_rate": 1.0}, fails=False),
    # Hostile names are data, not faults: listed, with control characters made visible.
    *[Case(f"hostile-names-{p}", p, {"hostile_names": True}, fails=False) for p in PROVIDERS],
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault_headless(sim: SimServer, case: Case) -> None:
    set_faults(sim, {case.provider: case.faults})
    config = make_config(sim, **case.config)
    # Table and totals for every case; CSV too where names are hostile.
    runs = [("list", "table"), ("totals", "csv")]
    if "hostile_names" in case.faults:
        runs.append(("list", "csv"))
    for command, fmt in runs:
        status, out, err = run_headless(config, command, fmt)
        assert_clean(out, err)
        others = [p for p in PROVIDERS if p != case.provider]
        for provider in others:  # every other account still prints
            assert f"sim-{provider}" in out, f"{provider} missing from {command} --format {fmt}"
        if not case.fails:
            assert status == 0, err
            assert f"sim-{case.provider}" in out
            continue
        assert status == 1
        lines = [line for line in err.splitlines() if line]
        assert len(lines) == 1, lines  # one line per failed account
        line = lines[0]
        assert line.startswith("error: ") and f"sim-{case.provider}" in line
        assert any(word in line.lower() for word in case.says), line
        assert "Traceback" not in err


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40
