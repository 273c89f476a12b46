"""Property: whatever text a server or a config sends, the table, the bars, the totals and
`list`'s table and CSV draw it visibly and never pass a control character through."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from joytui.config import Config
from joytui.core.store import AccountState
from joytui.headless import iter_resources
from joytui.model import Resource, Status, Totals
from joytui.safe_text import is_printable, printable
from joytui.ui.app import JoyTuiApp
from joytui.ui.widgets.accounts_bar import AccountsBar
from joytui.ui.widgets.resource_table import ResourceTable
from joytui.ui.widgets.totals_view import TotalsView
from tests.faults.conftest import CONTROL

HOSTILE = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(
            ["\x1b", "\x07", "\r", "\b", "\t", "\n", "\u202e", "\u200b", "[", "]", "/"]
        ),
    ),
    max_size=40,
)


def _resource(name: str, other: str) -> Resource:
    return Resource(
        provider="instances",
        account=other or "a",
        kind="instance",
        id=other or "i-1",
        name=name,
        status=Status.ERROR,
        raw_status=other,
        ip=other,
        location=other,
    )


def _clean(text: str) -> None:
    assert not (CONTROL & set(text)), repr(text)
    assert "\n" not in text
    assert is_printable(text), repr(text)


@given(HOSTILE)
def test_printable_is_total_and_shows_every_control(text):
    shown = printable(text)
    _clean(shown)
    if is_printable(text):
        assert shown == text


@given(HOSTILE, HOSTILE)
def test_list_table_and_csv_never_emit_controls(name, other):
    resources = [_resource(name, other), _resource(other, name)]
    table = "".join(iter_resources(resources, "table"))
    for line in table.splitlines():
        _clean(line)
    text = "".join(iter_resources(resources, "csv"))
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 3  # header + two rows: no name broke a line
    for row in rows:
        for cell in row:
            _clean(cell)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HOSTILE, HOSTILE)
async def test_the_dashboard_draws_hostile_text_as_text(name, other):
    app = JoyTuiApp(Config(), poll=False)
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.screen.query_one(ResourceTable)
        table.replace_all([_resource(name, other), _resource(other, name)])
        await pilot.pause()
        for y in range(3):
            for segment in table.render_line(y):
                _clean(segment.text)
        state = AccountState("instances", name or "x")
        state.error = RuntimeError(f"server said {other}")
        state.error_at = 0.0
        state.failures = 3
        state.totals = Totals(provider="instances", account=name, figures={"amount": other})
        bar = app.screen.query_one(AccountsBar)
        bar.show([state], 10.0)
        totals = app.screen.query_one(TotalsView)
        totals.show([state], 10.0)
        options = app.console.options.update(width=100)
        for widget in (bar,):
            for segment in app.console.render(widget.content, options):
                if segment.text != "\n":
                    _clean(segment.text)
        for segment in app.console.render(totals._render_totals(100), options):
            if segment.text != "\n":
                _clean(segment.text)
