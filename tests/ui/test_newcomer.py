"""What a new user tripped on (issue 12), each driven by keys against the simulator."""

from __future__ import annotations

from joytui.config import Config
from joytui.ui.columns import layout
from joytui.ui.widgets.resource_table import ResourceTable
from tests.ui.conftest import make_app, settle


def _line_text(table: ResourceTable, y: int) -> str:
    return "".join(seg.text for seg in table.render_line(y))


async def test_sort_is_per_view_blanks_last_and_cursor_stays_visible(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.query_one(ResourceTable)
        await pilot.press("3")  # Joy: CPU is blank for machines that are not running
        table.sort_by("cpu")
        await pilot.pause()
        for reverse in (False, True):
            table.sort_by("cpu", reverse=reverse)
            await pilot.pause()
            cpus = [app.session.store.get(k).cpu_percent for k in table.ordered_keys()]
            live = [
                app.session.store.get(k).status.value in ("running", "pending")
                for k in table.ordered_keys()
            ]
            blank = [c is None or not is_live for c, is_live in zip(cpus, live, strict=True)]
            assert any(blank) and not all(blank)
            first_blank = blank.index(True)
            assert all(blank[first_blank:]), f"blanks not last with reverse={reverse}"
        await pilot.press("5")  # VMs keep their own sort
        assert table.sort_column == "status"
        await pilot.press("3")
        assert table.sort_column == "cpu"
        # After S, the cursor's row is on screen.
        await pilot.press("down", "down", "down", "down", "down")
        await pilot.press("S")
        await pilot.pause()
        top = int(table.scroll_offset.y)
        assert top <= table.cursor_row < top + table.size.height - 1


def test_sorted_header_arrow_never_clips_the_title():
    columns = dict((c.key, w) for c, w in layout(("name", "vcpus", "cpu"), 40))
    assert columns["vcpus"] >= len("VCPU") + 1  # room for "VCPU▲" at the least


async def test_cursor_row_keeps_the_status_colour(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.query_one(ResourceTable)
        key = table.cursor_key
        assert app.session.store.get(key).status.value == "error"  # errors sort first
        strip = table.render_line(1)
        error_colour = table.get_component_rich_style("resource-table--error").color
        status_segment = next(s for s in strip if "error" in s.text)
        assert status_segment.style.color == error_colour
        assert status_segment.style.bgcolor is not None  # and the bar is still there


async def test_count_of_shown_rows_and_filter_messages(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.query_one(ResourceTable)
        status = app.screen.query_one("#status-line")
        total = table.row_count
        assert f"{total} of {total}" in str(status.render())
        await pilot.press("slash", *"status:paused")
        assert f"{table.row_count} of {total}" in str(status.render())
        await pilot.press("escape", "slash", *"zzzz-nothing")
        assert table.row_count == 0
        assert "no matches for 'zzzz-nothing'" in _line_text(table, 1)
        await pilot.press("escape", "slash", *"foo:bar")
        assert "unknown filter field foo" in _line_text(table, 1)
        assert "status:" in _line_text(table, 1)
        await pilot.press("escape", "slash", *"web", "enter")
        filter_bar = app.screen.query_one("#filter")
        assert filter_bar.display
        await pilot.press("1")  # the totals view has no table to filter
        assert not filter_bar.display
        await pilot.press("slash")
        assert not filter_bar.display


async def test_columns_hide_show_and_scroll(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = app.query_one(ResourceTable)
        await pilot.press("5")
        shown = [c.key for c, _ in table._layout]
        assert "id" not in shown and "id" in table.hidden_columns
        assert _line_text(table, 0).rstrip().endswith("▸")
        for _ in range(8):
            await pilot.press("right")
        scrolled = [c.key for c, _ in table._layout]
        assert "id" in scrolled and "◂" in _line_text(table, 0)
        for _ in range(8):
            await pilot.press("left")
        assert table.column_offset == 0
        await pilot.press("c")
        await pilot.pause()
        picker = app.screen
        assert picker.__class__.__name__ == "ColumnsScreen"
        await pilot.press("space")  # untick the first column (account)
        await pilot.press("enter")
        await pilot.pause()
        assert "account" not in table.view_columns["vms"]
        assert "account" not in [c.key for c, _ in table._layout]


async def test_config_columns_and_all_view_at_80(demo_config):
    config = demo_config.model_copy(update={"columns": {"vms": ["name", "status", "ip"]}})
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = app.query_one(ResourceTable)
        await pilot.press("2")
        shown = [c.key for c, _ in table._layout]
        assert "ip" in shown and "provider" not in shown, shown
        await pilot.press("5")
        assert [c.key for c, _ in table._layout] == ["name", "status", "ip"]


async def test_every_account_down_says_so(sim):
    data = sim.simulator.config(sim.base_url)
    for section in ("joy", "cockpit", "jamsocket", "instances"):
        for account in data[section]:
            account["base_url"] = "http://127.0.0.1:9"  # nothing listens there
    data["refresh_seconds"] = 3600
    app = make_app(Config.model_validate(data))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.query_one(ResourceTable)
        for _ in range(3):  # down after three failures in a row
            await pilot.press("r")
            await settle(app, pilot, target=app.session.poller.polls + 4)
        text = _line_text(table, 1)
        assert "every account is down" in text and "could not connect" in text


async def test_read_only_badge(demo_config):
    app = make_app(demo_config, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert "READ-ONLY" in str(app.screen.query_one("#status-line").render())


async def test_help_lists_binding_ids_and_the_demo_simulator(demo_config):
    app = make_app(demo_config, about="simulator at http://127.0.0.1:4242")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        text = app.screen.query_one("#help-body").query_one("Static").content
        rendered = "".join(
            seg.text for seg in app.console.render(text, app.console.options.update(width=100))
        )
        assert "simulator at http://127.0.0.1:4242" in rendered
        for binding_id in ("refresh", "sort_reverse", "view_vms", "columns"):
            assert binding_id in rendered


async def test_palette_offers_our_themes_and_screenshots_land_in_the_data_dir(
    demo_config, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    app = make_app(demo_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert set(app.available_themes) == set(app.theme_files)
        assert "dracula" not in app.available_themes
        app.deliver_screenshot()
        shots = tmp_path / "joytui" / "screenshots"
        for _ in range(100):  # the file is written by Textual's delivery worker
            await pilot.pause(0.02)
            if shots.exists() and any(shots.iterdir()):
                break
        saved = list(shots.iterdir())
        assert len(saved) == 1 and saved[0].suffix == ".svg"
        assert "<svg" in saved[0].read_text()


async def test_totals_figures_have_units(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("1")
        await pilot.pause()
        view = app.screen.query_one("#totals")
        view._render_totals(118)
        figures = app.screen.query_one("#figures").content
        text = "".join(
            seg.text for seg in app.console.render(figures, app.console.options.update(width=200))
        )
        assert "RAM 336 GB" in text and "vCPU 132 cores" in text
        assert "wallet 1,741.21 (account currency)" in text


async def test_joy_machines_are_named_by_their_vm_and_found_by_number(demo_config):
    app = make_app(demo_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.query_one(ResourceTable)
        await pilot.press("3")
        machine = app.session.store.get(table.ordered_keys()[0])
        number = str(machine.detail["machine"])
        assert (machine.name != number and number in machine.name) or machine.name != number
        await pilot.press("slash", *number)
        shown = [app.session.store.get(k) for k in table.ordered_keys()]
        assert machine in shown
