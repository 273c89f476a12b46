"""The detail pane, its streams and the logs view, driven by keys against the simulator."""

from __future__ import annotations

import asyncio
import stat

import httpx
import pytest

from joytui.config import Config
from joytui.model import LogLine
from joytui.ui.app import JoyTuiApp
from joytui.ui.screens.detail import DetailScreen, RawScreen
from joytui.ui.screens.logs import LogsScreen
from joytui.ui.widgets.detail_pane import DetailPane
from joytui.ui.widgets.log_view import LogView
from joytui.ui.widgets.resource_table import ResourceTable
from tests.ui.conftest import settle


def _config(sim, **changes) -> Config:
    sim.simulator.faults.update({"joy": {"quirk_rate": 0.0}})
    data = sim.simulator.config(sim.base_url)
    data["refresh_seconds"] = 3600
    data["detail"] = {"poll_seconds": 0.2}
    data.update(changes)
    return Config.model_validate(data)


async def _until(pilot, condition, limit: float = 10.0) -> None:
    """Wait for what the test depends on (data arrived), never for a fixed time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("the condition never held")
        await pilot.pause(0.05)


async def _open(app, pilot, view: str, kind: str, status: str | None = None):
    await pilot.press(view)
    table = app.screen.query_one(ResourceTable)
    target = next(
        k
        for k in table.ordered_keys()
        if k[2] == kind and (status is None or app.session.store.get(k).status.value == status)
    )
    table.move_cursor(table.ordered_keys().index(target))
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    return target


def _open_streams(sim) -> int:
    """SSE streams the simulator is serving now (each registers a watcher on its backend):
    the server's own count, so pooled keep-alive connections do not blur it."""
    backends = sim.simulator.providers["jamsocket"].backends.values()
    return sum(len(b.watchers) for b in backends)


async def test_enter_opens_escape_closes_and_the_cursor_stays(sim):
    app = JoyTuiApp(_config(sim))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        key = await _open(app, pilot, "3", "machine")
        pane = app.screen.query_one("#detail", DetailPane)
        assert pane.has_class("-open") and pane.resource.key == key
        await _until(pilot, lambda: pane.watch is not None and pane.watch.polls >= 2)
        await pilot.press("escape")
        await pilot.pause()
        assert not pane.has_class("-open") and pane.watch is None
        assert app.screen.query_one(ResourceTable).cursor_key == key
        kept = len(app.session.history.samples(key))
        assert kept >= 2
        await pilot.press("enter")  # reopening shows the last minutes at once
        await pilot.pause()
        assert len(app.session.history.samples(key)) >= kept


async def test_narrow_terminals_get_a_full_screen_detail(sim):
    app = JoyTuiApp(_config(sim))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        key = await _open(app, pilot, "5", "vm")
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DetailScreen)
        assert app.screen.query_one(ResourceTable).cursor_key == key


async def test_joy_values_match_the_simulator_and_rates_are_charted(sim):
    app = JoyTuiApp(_config(sim))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        key = await _open(app, pilot, "3", "machine")
        pane = app.screen.query_one("#detail", DetailPane)
        history = app.session.history
        await _until(pilot, lambda: len(history.samples(key)) >= 3)
        sample = history.latest(key)
        async with httpx.AsyncClient(base_url=sim.base_url) as http:
            info = await http.post(
                "/api/connect/",
                json={"type": "machine_info", "ihash": key[3]},
                headers={
                    "x-api-token": app.config.joy[0].api_token.get_secret_value(),
                    "x-api-key": app.config.joy[0].api_key.get_secret_value(),
                },
            )
        body = info.json()
        current = body.get("Current") or body.get("data", {}).get("Current")
        if isinstance(current, dict):
            assert sample.memory_total == int(float(current["maxmem"]))
        chart = pane.query_one("#chart-net_in")
        await _until(pilot, lambda: any(v is not None for _, v in chart._points))
        assert "now" in "".join(seg.text for seg in chart.render_line(0))


async def test_keys_raw_json_pause_and_window(sim):
    app = JoyTuiApp(_config(sim))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await _open(app, pilot, "8", "instance")
        pane = app.screen.query_one("#detail", DetailPane)
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, RawScreen)
        raw = str(app.screen.query_one("Static").content.code)
        assert '"kind": "instance"' in raw
        for config_secret in (app.config.instances[0].api_key.get_secret_value(),):
            assert config_secret not in raw
        await pilot.press("escape")
        await pilot.pause()
        assert pane.window == 300
        await pilot.press("plus")
        assert pane.window == 900
        await pilot.press("minus", "minus")
        assert pane.window == 60
        await pilot.press("p")
        redraws = pane.redraws
        await _until(pilot, lambda: pane.watch.polls >= pane.watch.polls + 0 and True)
        polls = pane.watch.polls
        await _until(pilot, lambda: pane.watch.polls >= polls + 3)
        assert pane.redraws == redraws  # paused: data arrives, nothing is redrawn
        await pilot.press("p")
        await _until(pilot, lambda: pane.redraws > redraws)


async def test_hosts_and_services_say_they_have_no_metrics(sim):
    app = JoyTuiApp(_config(sim))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await _open(app, pilot, "4", "host")
        pane = app.screen.query_one("#detail", DetailPane)
        text = str(pane.query_one("#detail-live").content)
        assert "report no metrics" in text
        assert not pane.query_one("#detail-charts").display
        await pilot.press("escape")
        await _open(app, pilot, "6", "service")
        live = pane.query_one("#detail-live")
        await _until(pilot, lambda: "images (" in str(live.content))
        text = str(live.content)
        assert "backends (" in text and "images (" in text


async def test_backend_status_timeline_and_no_connection_left_open(sim):
    app = JoyTuiApp(_config(sim))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("7")
        await pilot.pause()
        before = _open_streams(sim)
        await _open(app, pilot, "7", "backend", "running")
        pane = app.screen.query_one("#detail", DetailPane)
        watch = pane.watch
        await _until(pilot, lambda: watch.timeline and watch.streams["status"].state == "live")
        await _until(pilot, lambda: watch.streams["metrics"].state == "live")
        assert _open_streams(sim) == before + 2  # the status and metrics streams
        statuses = [e.raw_status for e in watch.timeline]
        assert statuses[0] == "scheduled" and len(set(statuses)) == len(statuses)
        await pilot.press("escape")
        await pilot.pause()
        assert not watch.running
        await _until(pilot, lambda: _open_streams(sim) == before)


async def test_a_dropped_stream_reconnects_and_resumes(sim):
    sim.simulator.faults.update({"jamsocket": {"sse_drop_after": 2}})
    app = JoyTuiApp(_config(sim))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await _open(app, pilot, "7", "backend", "running")
        pane = app.screen.query_one("#detail", DetailPane)
        watch = pane.watch
        seen_reconnect = []

        def reconnected() -> bool:
            info = watch.streams.get("status")
            if info is not None and (info.problem or info.state == "reconnecting"):
                seen_reconnect.append(info.problem)
            return len(watch.timeline) >= 5

        await _until(pilot, reconnected, limit=20)
        statuses = [e.raw_status for e in watch.timeline]
        assert seen_reconnect, "the stream never reconnected"
        assert len(set(statuses)) == len(statuses)  # resumed from the last id: no repeats
        assert statuses[:5] == ["scheduled", "loading", "starting", "waiting", "ready"]


async def test_logs_view_follow_search_wrap_save(sim, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    app = JoyTuiApp(_config(sim))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await _open(app, pilot, "7", "backend", "running")
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LogsScreen)
        view = app.screen.query_one(LogView)
        await _until(pilot, lambda: len(view.lines) > 5)
        assert view.follow
        await pilot.press("f")
        assert not view.follow
        word = next(line.text.split()[0] for line in view.lines if line.text.strip())
        await pilot.press("slash", *word, "enter")
        assert view.match_index >= 0 and word in view.lines[view.match_index].text
        first = view.match_index
        await pilot.press("n")
        assert view.match_index != first or len(view.lines) == 1
        await pilot.press("w")
        assert view.wrap
        await pilot.press("t")
        assert view.timestamps
        await pilot.press("ctrl+s")
        saved = app.screen.saved_to
        assert saved is not None and saved.is_relative_to(tmp_path)
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert saved.read_text().count("\n") >= 5
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LogsScreen)


async def test_log_lines_with_escapes_and_markup_are_text(sim):
    app = JoyTuiApp(_config(sim), poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        view = LogView(limit=3)
        await app.screen.mount(view)
        view.add([LogLine(text=f"line {i} \x1b[31mred\x1b[0m [bold]x[/bold]") for i in range(5)])
        await pilot.pause()
        assert len(view.lines) == 3 and view.dropped == 2  # a bounded ring
        text = "".join(seg.text for seg in view.render_line(0))
        assert "\\x1b[31mred" in text and "[bold]x[/bold]" in text and "\x1b" not in text


async def test_instances_and_vms_have_no_log_stream_and_say_so(sim):
    app = JoyTuiApp(_config(sim))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await _open(app, pilot, "5", "vm")
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LogsScreen)
        assert "offers no logs" in str(app.screen.query_one("#logs-title").content)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_every_kind_opens_without_error(sim, size):
    app = JoyTuiApp(_config(sim))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        for view, kind in [
            ("3", "machine"),
            ("4", "host"),
            ("5", "vm"),
            ("6", "service"),
            ("7", "backend"),
            ("8", "instance"),
        ]:
            await _open(app, pilot, view, kind)
            await pilot.pause()
            await pilot.press("escape")
            await pilot.pause()
        assert app.is_running


async def test_enter_on_a_recent_change_opens_that_resource(sim):
    app = JoyTuiApp(_config(sim, alerts={"notify": False, "bell": False}))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        instances = app.session.store.accounts[("instances", "sim-instances")].resources
        target = sorted(k for k, r in instances.items() if r.status.value == "running")[0]
        async with httpx.AsyncClient(base_url=sim.base_url) as http:
            (await http.post(f"/__sim__/instances/fail/{target[3]}")).raise_for_status()
        polls = app.session.poller.polls
        app.session.refresh_now()
        await _until(pilot, lambda: app.session.poller.polls >= polls + 4)
        change = app.session.changes.changes[0]
        assert (change.id, change.old_status, change.new_status) == (target[3], "running", "error")
        await pilot.press("1")
        await pilot.pause()
        recent = app.screen.query_one("#recent")
        recent.focus()
        recent.highlighted = 0
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen) and app.screen.resource.key == target


async def test_the_open_pane_follows_the_cursor(sim):
    app = JoyTuiApp(_config(sim))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        key = await _open(app, pilot, "3", "machine")
        pane = app.screen.query_one("#detail", DetailPane)
        table = app.screen.query_one(ResourceTable)
        table.move_cursor(table.cursor_row + 1)
        assert table.cursor_key != key
        await _until(
            pilot, lambda: pane.resource is not None and pane.resource.key == table.cursor_key
        )
