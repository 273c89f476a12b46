"""Actions in the dashboard, by keys (run_test) against a frozen simulator: the menu, the form,
the confirmation and the typed name, marks and bulk, read-only, errors and timeouts in words,
the pending row, the palette and the detail, and what the simulator saw sent."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox, Input, Select

from joytui.config import Config
from joytui.core.actions import account_target
from joytui.model import Status
from joytui.ui.screens.actions import ActionForm, ActionMenu, ConfirmAction, assign_keys
from joytui.ui.screens.dashboard import DashboardScreen
from joytui.ui.widgets.detail_pane import DetailPane
from joytui.ui.widgets.resource_table import MARK, ResourceTable
from tests.actions.conftest import advance, audit_lines, set_faults, writes, writes_to
from tests.ui.conftest import make_app, refresh, settle


def table_of(app) -> ResourceTable:
    return app.query_one(ResourceTable)


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


async def wait_for(pilot, predicate, what: str, limit: float = 10.0) -> None:
    for _ in range(int(limit / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never saw {what}")


async def put_cursor_on(app, pilot, resource) -> None:
    """Move the cursor to ``resource``'s row with the arrow keys' action."""
    table = table_of(app)
    keys = table.ordered_keys()
    if resource.key not in keys:
        await pilot.press("2")  # the All view holds every row
        keys = table.ordered_keys()
    table.action_cursor(keys.index(resource.key) - table.cursor_row)
    await pilot.pause()
    assert table.cursor_key == resource.key


async def open_menu(app, pilot) -> ActionMenu:
    await pilot.press("a")
    await wait_for(pilot, lambda: isinstance(app.screen, ActionMenu), "the menu")
    return app.screen


def key_of(menu: ActionMenu, action_id: str) -> str:
    return next(k for k, o in menu.keys.items() if o.action.id == action_id)


async def act(app, pilot, resource, action_id, *, fill=None, typed=None, sim=None) -> None:
    """a, the action's key, the form (``fill``: widget id -> value), the confirmation (y, or
    the name typed for a destructive one), then wait until the runner has answered."""
    if resource.kind != "account":
        await put_cursor_on(app, pilot, resource)
    menu = await open_menu(app, pilot)
    await pilot.press(key_of(menu, action_id))
    if fill is not None:
        await wait_for(pilot, lambda: isinstance(app.screen, ActionForm), "the form")
        for widget_id, value in fill.items():
            widget = app.screen.query_one(f"#param-{widget_id}")
            if isinstance(widget, Input):
                widget.focus()
                await pilot.press(*value)
            else:
                widget.value = value
        await pilot.click("#form-continue")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmAction), "the confirmation")
    if typed is None:
        await pilot.press("y")
    else:
        await pilot.press(*typed, "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
    runner = app.session.actions
    await wait_for(pilot, lambda: not runner._in_flight, "the answer")
    await pilot.pause()


def sim_name(sim, provider: str, resource) -> str:
    return resource.name


def test_keys_are_distinct_and_mnemonic():
    labels = ["Shut down", "Force shutdown", "Reboot", "Force reboot", "Pause", "Hibernate"]
    assert assign_keys(labels) == ["s", "f", "r", "o", "p", "h"]
    assert len(set(assign_keys(["Stop", "Start", "Spawn", "Stop", "S"]))) == 5


async def test_the_menu_shows_only_valid_actions_and_escape_sends_nothing(config, sim):
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        machine = next(
            r
            for r in app.session.store.resources()
            if r.provider == "joy" and r.raw_status == "stopped"
        )
        await put_cursor_on(app, pilot, machine)
        menu = await open_menu(app, pilot)
        assert [o.action.id for o in menu.offers] == ["start"]  # a stopped machine only starts
        assert menu.account_offers == []  # Joy accounts have no actions of their own
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)
        instance = next(
            r
            for r in app.session.store.resources()
            if r.kind == "instance" and r.status is Status.RUNNING
        )
        await put_cursor_on(app, pilot, instance)
        menu = await open_menu(app, pilot)
        assert [o.action.id for o in menu.offers] == ["pause", "restart", "delete"]
        assert [o.action.id for o in menu.account_offers] == ["create"]
        await pilot.press("escape")
    assert writes(sim) == {}


async def test_stop_then_start_a_joy_machine_pending_then_the_outcome(config, sim, audit_file):
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = table_of(app)
        truth = sim.simulator.providers["joy"].by_hash
        machine = next(r for r in app.session.store.resources() if r.raw_status == "running")
        await put_cursor_on(app, pilot, machine)
        menu = await open_menu(app, pilot)
        await pilot.press(key_of(menu, "shutdown"))
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmAction), "the confirmation")
        confirm = app.screen
        head = str(confirm.query_one("#confirm-what").render())
        assert f"Shut down machine '{machine.name}'" in head
        assert f"id {machine.id}" in head and "account 'sim-joy' (joy)" in head
        assert app.focused.id == "confirm-no"  # focus starts on cancel
        await pilot.press("enter")  # Enter confirms, even there
        await wait_for(pilot, lambda: not app.session.actions._in_flight, "the answer")
        await wait_for(pilot, lambda: machine.key in app.session.actions.pending, "pending")
        assert truth[machine.id].status == "stopping"
        await wait_for(
            pilot, lambda: table.notes.get(machine.key) == "◐ stopping…", "the pending row"
        )
        await refresh(app, pilot)  # the provider still says stopping: still pending
        assert table.notes.get(machine.key) == "◐ stopping…"
        await advance(sim, 60)
        await refresh(app, pilot)
        assert table.notes.get(machine.key) == "✔ stopped"
        assert app.session.store.get(machine.key).status is Status.STOPPED
        assert any("now stopped" in n for n in notes(app))
        stopped = app.session.store.get(machine.key)
        await act(app, pilot, stopped, "start")
        assert truth[machine.id].status == "starting"
        await advance(sim, 60)
        await refresh(app, pilot)
        assert table.notes.get(machine.key) == "✔ running"
    assert writes_to(sim, machine.id) == 2
    assert [(line["action"], line["outcome"]) for line in audit_lines(audit_file)] == [
        ("shutdown", "ok"),
        ("start", "ok"),
    ]


async def test_cancel_sends_nothing(config, sim, audit_file):
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        machine = next(r for r in app.session.store.resources() if r.raw_status == "running")
        await put_cursor_on(app, pilot, machine)
        for cancel in ("n", "escape"):
            menu = await open_menu(app, pilot)
            await pilot.press(key_of(menu, "reboot"))
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmAction), "the confirmation")
            await pilot.press(cancel)
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
        await pilot.pause(0.2)
        assert any("Cancelled: nothing was sent" in n for n in notes(app))
    assert writes(sim) == {} and audit_lines(audit_file) == []


async def test_a_double_press_or_confirmation_sends_one_request(config, sim):
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        machine = next(r for r in app.session.store.resources() if r.raw_status == "running")
        await put_cursor_on(app, pilot, machine)
        menu = await open_menu(app, pilot)
        await pilot.press(key_of(menu, "pause"))
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmAction), "the confirmation")
        await pilot.press("y", "y", "enter")  # a double (triple) confirmation
        await wait_for(pilot, lambda: not app.session.actions._in_flight, "the answer")
        await pilot.press("r")  # a refresh in between
        await pilot.pause(0.3)
        # The same action again, while the provider has not reported it: refused, not sent.
        menu = await open_menu(app, pilot)
        offer = (
            next(o for o in menu.offers if o.action.id == "pause")
            if any(o.action.id == "pause" for o in menu.offers)
            else None
        )
        if offer is not None:
            assert offer.disabled and "already sent" in offer.disabled
            await pilot.press(key_of(menu, "pause"))
            await pilot.pause(0.3)
        else:
            await pilot.press("escape")
    assert writes_to(sim, machine.id) == 1


async def test_a_destructive_action_needs_the_name_typed(config, sim):
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        truth = sim.simulator.providers["joy"].by_hash
        machine = next(r for r in app.session.store.resources() if r.raw_status == "running")
        await put_cursor_on(app, pilot, machine)
        menu = await open_menu(app, pilot)
        assert next(o for o in menu.offers if o.action.id == "force_shutdown").action.destructive
        await pilot.press(key_of(menu, "force_shutdown"))
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmAction), "the confirmation")
        confirm = app.screen
        assert "equivalent to pulling the power cord" in str(
            confirm.query_one("#confirm-doing").render()
        )
        assert app.focused is confirm.query_one("#confirm-typed")
        await pilot.press("y", "enter")  # y is typed, not a yes; the name does not match
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmAction)
        assert "does not match" in str(confirm.query_one("#confirm-problem").render())
        assert confirm.query_one("#confirm-yes").disabled
        assert writes(sim) == {}
        await pilot.press("escape")
        await act(app, pilot, machine, "force_shutdown", typed=machine.name)
        assert truth[machine.id].status == "stopping"
    assert writes_to(sim, machine.id) == 1


async def test_mark_three_rows_for_a_bulk_pause_at_80x24(config, sim):
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("3")
        table = table_of(app)
        truth = sim.simulator.providers["joy"].by_hash
        running = [
            k for k in table.ordered_keys() if app.session.store.get(k).raw_status == "running"
        ]
        first = table.ordered_keys().index(running[0])
        table.action_cursor(first - table.cursor_row)
        await pilot.press("space", "down", "space", "down", "space")
        marked = list(table.marked)
        assert marked == running[:3]
        lines = [table.render_line(y).text for y in range(1, table.size.height)]
        assert sum(MARK.strip() in line for line in lines) == 3  # marked, visibly, at 80x24
        assert "3 marked" in str(app.screen.query_one("#status-line").render())
        await pilot.press("up", "space")  # space again unmarks
        assert len(table.marked) == 2
        await pilot.press("space")
        menu = await open_menu(app, pilot)
        assert "3 marked resources" in str(menu.query_one("#actions-title").render())
        await pilot.press(key_of(menu, "pause"))
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmAction), "the confirmation")
        assert "3 resources" in str(app.screen.query_one("#confirm-what").render())
        await pilot.press("y")
        await wait_for(pilot, lambda: not table.marked, "the marks cleared after sending")
        await wait_for(
            pilot, lambda: all(truth[k[3]].status == "suspending" for k in marked), "pausing"
        )
        assert {table.notes.get(k) for k in marked} == {"◐ pausing…"}
        assert any("Pause: 3 of 3 accepted" in n for n in notes(app))
    assert all(writes_to(sim, k[3]) == 1 for k in marked)
    assert sum(writes(sim).values()) == 3


async def test_ctrl_a_marks_what_the_filter_shows_and_escape_clears(config, sim):
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = table_of(app)
        await pilot.press("slash", *"status:stopped", "enter")
        shown = table.ordered_keys()
        await pilot.press("ctrl+a")
        assert list(table.marked) == shown and len(shown) < table.total_in_view
        await pilot.press("escape")  # the marks go first...
        assert not table.marked and table.query_filter.text == "status:stopped"
        await pilot.press("escape")  # ...then the filter
        assert table.query_filter.text == ""
    assert writes(sim) == {}


async def test_read_only_shows_actions_disabled_and_sends_nothing(config, sim, audit_file):
    app = make_app(config, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "READ-ONLY" in str(app.screen.query_one("#status-line").render())
        machine = next(r for r in app.session.store.resources() if r.raw_status == "running")
        await put_cursor_on(app, pilot, machine)
        menu = await open_menu(app, pilot)
        assert all(o.disabled and "read-only" in o.disabled for o in menu.offers)
        assert "refused: read-only" in str(
            menu.query_one("#actions-list").get_option_at_index(0).prompt
        )
        await pilot.press(key_of(menu, "shutdown"))  # no confirmation: refused in core
        await wait_for(pilot, lambda: any("read-only" in n for n in notes(app)), "the refusal")
        assert isinstance(app.screen, DashboardScreen)
    assert writes(sim) == {}
    assert [line["outcome"] for line in audit_lines(audit_file)] == ["refused"]


async def test_an_account_read_only_in_the_config(sim, config_data):
    config_data["instances"][0]["read_only"] = True
    config_data["refresh_seconds"] = 3600
    app = make_app(Config.model_validate(config_data))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        instance = next(r for r in app.session.store.resources() if r.kind == "instance")
        await put_cursor_on(app, pilot, instance)
        menu = await open_menu(app, pilot)
        assert all("instances 'sim-instances' is read-only" in o.disabled for o in menu.offers)
        await pilot.press("escape")
        machine = next(r for r in app.session.store.resources() if r.raw_status == "running")
        await put_cursor_on(app, pilot, machine)
        menu = await open_menu(app, pilot)
        assert not any(o.disabled for o in menu.offers)
        await pilot.press("escape")
    assert writes(sim) == {}


async def test_a_provider_error_and_a_timeout_are_told_in_words(sim, config_data, audit_file):
    config_data["cockpit"][0]["timeout_seconds"] = 0.5
    config_data["refresh_seconds"] = 3600
    app = make_app(Config.model_validate(config_data))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = table_of(app)
        vms = [
            r
            for r in app.session.store.resources()
            if r.kind == "vm" and r.status is Status.RUNNING
        ]
        await set_faults(sim, {"cockpit": {"status_code": 500, "status_rate": 1.0}})
        await act(app, pilot, vms[0], "restart")
        await set_faults(sim, {"joy": {"quirk_rate": 0.0}})
        await wait_for(
            pilot, lambda: any("failed: server error 500" in n for n in notes(app)), "the error"
        )
        assert table.notes.get(vms[0].key) is None  # the provider's status again
        sim.simulator.hang_writes = True
        try:
            await act(app, pilot, vms[1], "pause")
        finally:
            sim.simulator.hang_writes = False
        await wait_for(
            pilot,
            lambda: any("outcome unknown: refresh to see" in n for n in notes(app)),
            "unknown",
        )
        assert table.notes.get(vms[1].key) == "? unknown"
        assert not any("failed" in n for n in notes(app) if "unknown" in n)
    assert [line["outcome"] for line in audit_lines(audit_file)] == ["error", "unknown"]
    assert writes_to(sim, vms[0].id) == 1 and writes_to(sim, vms[1].id) == 1


async def test_every_cockpit_action_through_the_menu(config, sim):
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        cockpit = sim.simulator.providers["cockpit"]
        vm = next(
            r
            for r in app.session.store.resources()
            if r.kind == "vm" and r.status is Status.RUNNING
        )
        for action, after, typed in [
            ("pause", "paused", None),
            ("resume", "running", None),
            ("restart", "running", None),
            ("force_restart", "running", vm.name),
            ("force_stop", "stopped", vm.name),
            ("start", "running", None),
            ("stop", "stopped", None),
        ]:
            await act(app, pilot, app.session.store.get(vm.key), action, typed=typed)
            await advance(sim, 10)
            await refresh(app, pilot)
            assert cockpit.vms[vm.id].status == after, action
        dest = next(
            h for h in cockpit.hosts.values() if h.id != vm.parent and h.status == "connected"
        )
        await act(
            app,
            pilot,
            app.session.store.get(vm.key),
            "migrate",
            fill={"destination_host_id": dest.id, "copy_storage": "inc", "persistent": False},
        )
        mig = cockpit.migrations[cockpit.vms[vm.id].migration]
        assert (mig.destination_host_id, mig.copy_storage, mig.live) == (dest.id, "inc", False)
        assert mig.options["persistent"] is False
        await refresh(app, pilot)
        assert table_of(app).notes.get(vm.key) == "◐ migrating…"
        await advance(sim, 30)
        await refresh(app, pilot)
        assert cockpit.vms[vm.id].host_id == dest.id
        assert any(f"moved to {dest.hostname}" in n for n in notes(app))
    assert writes_to(sim, vm.id) == 8


async def test_every_jamsocket_and_instances_action_through_the_menu(config, sim, audit_file):
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        js = sim.simulator.providers["jamsocket"]
        service = next(r for r in app.session.store.resources() if r.kind == "service")
        tag = js.services[service.id].images[-1].tag
        await act(
            app,
            pilot,
            service,
            "spawn",
            fill={
                "key": "ui-room",
                "tag": tag,
                "env": "SECRET_X=topsecret1 A=1",
                "max_idle_seconds": "90",
            },
        )
        backend = next(b for b in js.backends.values() if b.key == "ui-room")
        assert backend.env["SECRET_X"] == "topsecret1" and backend.max_idle == 90
        spawned = next(n for n in notes(app) if "spawned backend" in n)
        assert backend.secret_token not in spawned and "topsecret1" not in spawned
        await act(
            app, pilot, app.session.store.get(service.key), "update_image", fill={"image_tag": tag}
        )
        await refresh(app, pilot)
        fresh = next(r for r in app.session.store.resources() if r.id == backend.id)
        await act(app, pilot, fresh, "terminate")
        assert js.backends[backend.id].status == "terminating"
        await refresh(app, pilot)
        await act(app, pilot, app.session.store.get(fresh.key), "terminate_hard", typed=fresh.name)
        assert js.backends[backend.id].status == "hard-terminating"
        account = account_target("jamsocket", "sim-jamsocket")
        await put_cursor_on(app, pilot, app.session.store.get(service.key))
        await act(app, pilot, account, "create_service", fill={"name": "ui-made"})
        assert "ui-made" in js.services
        await act(app, pilot, app.session.store.get(service.key), "delete", typed=service.name)
        assert service.id not in js.services

        instances = sim.simulator.providers["instances"].instances
        instance = next(
            r
            for r in app.session.store.resources()
            if r.kind == "instance" and r.status is Status.RUNNING
        )
        await act(app, pilot, instance, "pause")
        assert instances[instance.id].status == "paused"
        await refresh(app, pilot)
        await act(app, pilot, app.session.store.get(instance.key), "restart")
        assert instances[instance.id].status == "restarting"
        await refresh(app, pilot)
        await act(app, pilot, app.session.store.get(instance.key), "delete", typed=instance.name)
        assert instance.id not in instances
        await put_cursor_on(
            app, pilot, next(r for r in app.session.store.resources() if r.kind == "instance")
        )
        await act(
            app,
            pilot,
            account_target("instances", "sim-instances"),
            "create",
            fill={"name": "ui-bot", "region": "eu-west-1"},
        )
        assert any(i.name == "ui-bot" and i.region == "eu-west-1" for i in instances.values())
    text = audit_file.read_text()
    assert "topsecret1" not in text and backend.secret_token not in text
    assert {line["outcome"] for line in audit_lines(audit_file)} == {"ok"}


async def test_every_joy_state_through_the_menu(config, sim):
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        truth = sim.simulator.providers["joy"].by_hash
        used: set[str] = set()
        for state, before, typed in [
            ("shutdown", "running", False),
            ("force_shutdown", "running", True),
            ("reboot", "running", False),
            ("force_reboot", "running", True),
            ("pause", "running", False),
            ("hibernate", "running", False),
            ("start", "stopped", False),
            ("resume", "suspended", False),
        ]:
            machine = next(
                r
                for r in app.session.store.resources()
                if r.provider == "joy" and r.raw_status == before and r.id not in used
            )
            used.add(machine.id)
            await act(app, pilot, machine, state, typed=machine.name if typed else None)
            assert writes_to(sim, machine.id) == 1, state
            assert truth[machine.id].target is not None or state == "start", state
        assert sum(writes(sim).values()) == 8


async def test_the_palette_and_the_detail_offer_the_same_actions(config, sim):
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        machine = next(r for r in app.session.store.resources() if r.raw_status == "running")
        await put_cursor_on(app, pilot, machine)
        await pilot.press("enter")  # the detail, as a pane at 120 columns
        pane = app.query_one(DetailPane)
        await wait_for(pilot, lambda: pane.offers, "the detail's actions")
        assert [o.action.id for o in pane.offers][:2] == ["shutdown", "force_shutdown"]
        await pilot.pause(0.4)
        assert "actions (a): Shut down, Force shutdown" in str(
            pane.query_one("#detail-live").render()
        )
        await pilot.press("a")  # a in the detail: the same menu
        await wait_for(pilot, lambda: isinstance(app.screen, ActionMenu), "the menu")
        assert [o.action.id for o in app.screen.offers] == [o.action.id for o in pane.offers]
        await pilot.press("escape")
        await pilot.press("escape")  # close the detail
        await pilot.press("ctrl+p")
        await pilot.press(*"Action: Pause")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmAction), "the confirmation")
        assert "Pause machine" in str(app.screen.query_one("#confirm-what").render())
        await pilot.press("y")
        await wait_for(pilot, lambda: writes_to(sim, machine.id) == 1, "the pause sent")


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_the_form_and_confirmation_fit(config, sim, size):
    app = make_app(config)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        vm = next(
            r
            for r in app.session.store.resources()
            if r.kind == "vm" and r.status is Status.RUNNING
        )
        await put_cursor_on(app, pilot, vm)
        menu = await open_menu(app, pilot)
        await pilot.press(key_of(menu, "migrate"))
        await wait_for(pilot, lambda: isinstance(app.screen, ActionForm), "the form")
        form = app.screen
        assert isinstance(form.query_one("#param-destination_host_id"), Select)
        assert form.query_one("#param-live", Checkbox).value is True  # it is running
        button = form.query_one("#form-continue")
        assert button.region.bottom <= size[1] and button.region.right <= size[0]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
    assert writes(sim) == {}
