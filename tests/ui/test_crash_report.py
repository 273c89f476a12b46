"""A crash report never shows local variables: they can hold secrets.

``JoyTuiApp._fatal_error`` overrides a private hook of Textual's App (hence textual's major
version is pinned); this test fails if a Textual upgrade changes what it relies on.
"""

from __future__ import annotations

import pytest

from tests.ui.conftest import make_app


def _crash(app) -> str:
    def poll_account() -> None:
        # A local that a traceback with locals would show (built, so the source shows no value).
        api_key = "-".join(["hunter" + str(2), "sekrit"])
        raise RuntimeError(f"boom with {len(api_key)} chars")

    try:
        poll_account()
    except RuntimeError as exc:
        app._exception = exc
        app._fatal_error()
    return "".join(seg.text for r in app._exit_renderables for seg in r.segments)


@pytest.mark.parametrize("debug", [False, True])
async def test_crash_report_shows_no_local_variables(demo_config, debug):
    app = make_app(demo_config, poll=False, debug_tracebacks=debug)
    with pytest.raises(RuntimeError, match="boom"):  # run_test re-raises the app's crash
        async with app.run_test():
            report = _crash(app)
    assert "hunter2" not in report
    assert "boom with 14 chars" in report
    if debug:
        assert "poll_account" in report  # the traceback itself is there
    else:
        assert "internal error: RuntimeError" in report and "--debug" in report
