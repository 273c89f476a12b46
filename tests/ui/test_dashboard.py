"""The dashboard driven by keys against a real simulator (run_test, no mocks)."""

from __future__ import annotations

from joytui.core.store import Health
from joytui.model import Status
from joytui.sim.cockpit import DEMO_PASSWORD
from joytui.sim.instances import DEMO_API_KEY
from joytui.sim.joy import DEMO_KEY, DEMO_TOKEN
from joytui.ui.widgets.resource_table import ResourceTable
from tests.ui.conftest import make_app, refresh, set_sim_faults, settle


async def test_first_poll_fills_the_table_and_every_view(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.query_one(ResourceTable)
        kinds = {app.session.store.get(k).kind for k in table.ordered_keys()}
        assert {"machine", "host", "vm", "instance"} <= kinds
        for key, view, kind in [
            ("3", "machines", "machine"),
            ("5", "vms", "vm"),
            ("8", "instances", "instance"),
        ]:
            await pilot.press(key)
            assert table.view_id == view
            assert table.row_count > 0
            assert {app.session.store.get(k).kind for k in table.ordered_keys()} == {kind}
        await pilot.press("1")
        assert app.query_one("#main").current == "totals-scroll"
        await pilot.press("tab")
        assert table.view_id == "all"


async def test_filter_as_you_type_and_escape_clears(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.query_one(ResourceTable)
        everything = table.row_count
        await pilot.press("slash", *"status:stopped")
        assert 0 < table.row_count < everything
        assert all(app.session.store.get(k).status is Status.STOPPED for k in table.ordered_keys())
        await pilot.press("escape")
        assert table.row_count == everything


async def test_sort_and_cursor_survive_a_refresh(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.query_one(ResourceTable)
        await pilot.press("s")
        assert table.sort_column == "cpu"
        await pilot.press("S")
        assert table.sort_reverse
        await pilot.press("down", "down", "down")
        chosen = table.cursor_key
        order = table.ordered_keys()
        await refresh(app, pilot)
        assert table.cursor_key == chosen
        assert table.sort_column == "cpu" and table.sort_reverse
        assert table.ordered_keys().index(chosen) == table.cursor_row
        assert len(table.ordered_keys()) == len(order)


async def test_failing_account_goes_stale_then_recovers(demo_config, sim):
    app = make_app(demo_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        joy = app.session.store.accounts[("joy", "sim-joy")]
        rows_before = len(joy.resources)
        await set_sim_faults(sim, {"joy": {"error_rate": 1.0}})
        await refresh(app, pilot)
        assert joy.health is Health.DEGRADED and joy.stale
        assert len(joy.resources) == rows_before  # the last good data stays
        assert "server error 500" in str(joy.error)
        bar = str(app.query_one("#accounts").render())
        assert "sim-joy degraded" in bar
        await set_sim_faults(sim, None)
        await refresh(app, pilot)
        assert joy.health is Health.OK and not joy.stale


async def test_help_lists_keys_and_closes(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        assert app.screen.__class__.__name__ != "HelpScreen"


async def test_keymap_from_config_rebinds(demo_config):
    config = demo_config.model_copy(update={"keymap": {"refresh": "ctrl+r", "help": "f1"}})
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert app.screen.__class__.__name__ == "HelpScreen"


async def test_quit_exits_zero(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("q")
    assert app.return_code == 0


async def test_no_secret_reaches_the_screen(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        screens = []
        for key in ["2", "1", "3", "question_mark"]:
            await pilot.press(key)
            screens.append(app.export_screenshot())
        text = "\n".join(screens)
        for secret in (DEMO_TOKEN, DEMO_KEY, DEMO_PASSWORD, DEMO_API_KEY, DEMO_KEY[-12:]):
            assert secret not in text


async def test_command_palette_offers_our_views(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "View: VMs" in titles and "Refresh now" in titles
        await pilot.press("ctrl+p")
        await pilot.press(*"View: VMs")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one(ResourceTable).view_id == "vms"


async def test_cursor_keys_and_header_click(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = app.query_one(ResourceTable)
        last = table.row_count - 1
        await pilot.press("G")
        assert table.cursor_row == last
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("j", "j", "k")
        assert table.cursor_row == 1
        await pilot.press("pagedown")
        assert table.cursor_row > 10
        await pilot.press("pageup")
        assert table.cursor_row == 1
        await pilot.press("shift+tab")
        assert app.query_one("#main").current == "totals-scroll"
        await pilot.press("tab", "tab")
        assert table.view_id == "machines"
        # A click on the header sorts by that column; again reverses.
        await pilot.click(ResourceTable, offset=(1, 0))
        assert table.sort_column == "account"
        await pilot.click(ResourceTable, offset=(1, 0))
        assert table.sort_column == "account" and table.sort_reverse


async def test_keymap_rebinds_the_cursor_keys(demo_config):
    # The table runs its cursor keys itself (before the key bubbles up): with the keymap.
    config = demo_config.model_copy(update={"keymap": {"cursor_down": "n"}})
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = app.query_one(ResourceTable)
        await pilot.press("n", "n")
        assert table.cursor_row == 2
        await pilot.press("j")
        assert table.cursor_row == 2
        await pilot.press("k", "down")
        assert table.cursor_row == 1


async def test_a_change_a_row_does_not_show_leaves_its_line_as_drawn(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.query_one(ResourceTable)
        key = table.visible_keys()[0]
        r = app.session.store.get(key)
        assert r is not None
        drawn = table.render_line(1)
        # Nothing the row shows: the same line (the cached strip itself), not a redraw.
        table.apply_changes(changed=[r.model_copy(update={"detail": {**r.detail, "x": 1}})])
        assert table.render_line(1) is drawn
        # Its name: the line is drawn again, with it.
        renamed = r.model_copy(update={"name": f"{r.name}-renamed"})
        table.apply_changes(changed=[renamed])
        row = table.ordered_keys().index(key) - int(table.scroll_offset.y) + 1
        assert f"{r.name}-renamed" in table.render_line(row).text
