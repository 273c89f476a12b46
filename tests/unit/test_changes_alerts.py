"""Recent changes and alerts, fed real store updates, with injected time."""

import subprocess
import sys

import pytest

from joytui.config import AlertSettings, Config
from joytui.core.alerts import Alerts, sample_alert
from joytui.core.changes import RECENT_LIMIT, Change, RecentChanges, polled_at
from joytui.core.poller import PollResult
from joytui.core.store import Store
from joytui.model import Resource, Snapshot, Status, Totals


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def res(id_, status=Status.RUNNING, name=None, account="a", provider="cockpit"):
    return Resource(
        provider=provider, account=account, kind="vm", id=id_, name=name or id_, status=status
    )


class Fleet:
    """A store fed snapshots and errors the way the poller feeds it."""

    def __init__(self, clock: Clock, provider: str = "cockpit", account: str = "a") -> None:
        self.clock = clock
        self.store = Store(clock=clock)
        self.provider, self.account = provider, account

    def good(self, *resources: Resource) -> PollResult:
        rs = list(resources)
        changes = self.store.apply_snapshot(
            Snapshot(
                provider=self.provider,
                account=self.account,
                resources=rs,
                totals=Totals.from_resources(self.provider, self.account, rs),
                fetched_at=self.clock.t,
            )
        )
        return PollResult(self.store.accounts[(self.provider, self.account)], changes, 5.0)

    def bad(self) -> PollResult:
        state = self.store.apply_error(self.provider, self.account, RuntimeError("refused"))
        return PollResult(state, None, 5.0)


def feed(recent: RecentChanges, result: PollResult) -> list[Change]:
    return recent.observe(result, polled_at(result))


def test_status_transitions_new_and_gone_newest_first():
    clock = Clock()
    fleet, recent = Fleet(clock), RecentChanges()
    assert feed(recent, fleet.good(res("v1"), res("v2"), res("v3"))) == []  # the baseline
    clock.t += 5
    fresh = feed(recent, fleet.good(res("v1", Status.ERROR), res("v2", name="renamed"), res("v4")))
    assert [(c.id, c.event, c.old_status, c.new_status) for c in fresh] == [
        ("v4", "new", None, "running"),
        ("v1", "status", "running", "error"),
        ("v3", "gone", "running", "gone"),
    ]  # v2 was renamed only: no change
    assert all(c.time == 1005.0 and c.provider == "cockpit" and c.kind == "vm" for c in fresh)
    clock.t += 5
    (back,) = feed(recent, fleet.good(res("v1"), res("v2", name="renamed"), res("v4")))
    assert (back.old_status, back.new_status) == ("error", "running")
    assert [c.id for c in recent] == ["v1", "v3", "v1", "v4"]  # newest first
    assert len(recent) == 4 and recent.changes[0] is back


def test_only_the_last_200_are_kept():
    clock = Clock()
    fleet, recent = Fleet(clock), RecentChanges()
    feed(recent, fleet.good(res("v1")))
    for i in range(RECENT_LIMIT + 50):
        clock.t += 1
        feed(recent, fleet.good(res("v1", Status.ERROR if i % 2 == 0 else Status.RUNNING)))
    assert len(recent) == RECENT_LIMIT
    times = [c.time for c in recent]
    assert times == sorted(times, reverse=True)
    assert times[0] == clock.t and times[-1] == clock.t - RECENT_LIMIT + 1


def test_account_down_and_recovered():
    clock = Clock()
    fleet, recent = Fleet(clock), RecentChanges()
    feed(recent, fleet.good(res("v1")))
    assert feed(recent, fleet.bad()) == []  # one failure: degraded, not down
    assert feed(recent, fleet.bad()) == []
    clock.t += 10
    (down,) = feed(recent, fleet.bad())
    assert (down.kind, down.id, down.event, down.old_status, down.new_status) == (
        "account",
        "a",
        "down",
        "degraded",
        "down",
    )
    assert down.time == 1010.0
    assert feed(recent, fleet.bad()) == []  # still down: said once
    clock.t += 10
    (up,) = feed(recent, fleet.good(res("v1")))
    assert (up.event, up.old_status, up.new_status) == ("recovered", "down", "ok")
    assert [c.event for c in recent] == ["recovered", "down"]


def test_an_account_that_never_answered_is_down_at_once_then_recovers_quietly():
    clock = Clock()
    fleet, recent = Fleet(clock), RecentChanges()
    (down,) = feed(recent, fleet.bad())
    assert down.event == "down" and down.old_status is None
    (up,) = feed(recent, fleet.good(res("v1"), res("v2")))  # its first data is a baseline
    assert up.event == "recovered"


def changes_into(*pairs, account="a", start=0.0):
    return [
        Change(start + i, "cockpit", account, "vm", vid, f"web-{vid}", "running", status)
        for i, (vid, status) in enumerate(pairs)
    ]


def test_alerts_on_error_and_account_down_by_default():
    clock = Clock()
    alerts = Alerts(AlertSettings(), clock=clock)
    down = Change(0, "joy", "london", "account", "london", "london", "degraded", "down")
    gone = Change(0, "cockpit", "a", "vm", "v9", "web-v9", "running", "gone")
    stopped = Change(0, "cockpit", "a", "vm", "v8", "web-v8", "running", "stopped")
    raised = alerts.decide([*changes_into(("v1", "error")), down, gone, stopped])
    assert [a.trigger for a in raised] == ["error", "account_down"]
    error, account = raised
    assert error.title == "Resource in error"
    assert error.message == "vm 'web-v1' (id v1) of cockpit 'a' is in error (was running)"
    assert account.title == "Account down" and "joy 'london' is down" in account.message
    with_gone = Alerts(AlertSettings(on=["gone"]), clock=clock)
    (alert,) = with_gone.decide([gone, *changes_into(("v1", "error"))])
    assert alert.severity == "warning" and "has disappeared" in alert.message


def test_alerts_are_debounced_per_resource():
    clock = Clock()
    alerts = Alerts(AlertSettings(min_interval_seconds=300), clock=clock)
    assert len(alerts.decide(changes_into(("v1", "error"), ("v2", "error")))) == 2
    clock.t += 299
    assert alerts.decide(changes_into(("v1", "error"), ("v2", "error"))) == []  # flapping
    assert len(alerts.decide(changes_into(("v3", "error")))) == 1  # another resource
    clock.t += 1
    assert [a.change.id for a in alerts.decide(changes_into(("v1", "error")))] == ["v1"]
    assert alerts.decide(changes_into(("v1", "error"))) == []


def test_per_account_off_and_the_config():
    config = Config.model_validate(
        {
            "alerts": {"on": ["error", "gone"], "min_interval_seconds": 0, "bell": False},
            "cockpit": [
                {
                    "name": "quiet",
                    "base_url": "http://x",
                    "username": "u",
                    "password": "p",
                    "alerts": False,
                },
                {"name": "a", "base_url": "http://x", "username": "u", "password": "p"},
            ],
        }
    )
    assert config.cockpit[1].alerts is True
    alerts = Alerts.for_config(config)
    assert alerts.silenced == {("cockpit", "quiet")}
    raised = alerts.decide(
        [*changes_into(("v1", "error"), account="quiet"), *changes_into(("v2", "error"))]
    )
    assert [a.change.account for a in raised] == ["a"]
    assert config.alerts.bell is False and config.alerts.notify is True
    assert Config().alerts.on == ["error", "account_down"]
    assert Config().max_resource_series == 5000


def test_alert_settings_are_validated():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        AlertSettings.model_validate({"on": ["errors"]})
    with pytest.raises(ValidationError):
        AlertSettings.model_validate({"min_interval_seconds": -1})
    for name, field in AlertSettings.model_fields.items():
        assert field.description, name


def test_the_store_to_alerts_pipeline():
    clock = Clock()
    fleet, recent = Fleet(clock), RecentChanges()
    alerts = Alerts(AlertSettings(), clock=clock)
    assert alerts.decide(feed(recent, fleet.good(res("v1", Status.ERROR), res("v2")))) == []
    clock.t += 5
    (alert,) = alerts.decide(
        feed(recent, fleet.good(res("v1", Status.ERROR), res("v2", Status.ERROR)))
    )
    assert alert.change.id == "v2"


def test_hostile_names_are_printable_in_messages():
    name = "web\x1b[2J\u202eexe"
    change = Change(0, "cockpit", "a\x07", "vm", "v1", name, "running", "error")
    (alert,) = Alerts(AlertSettings()).decide([change])
    assert "\x1b" not in alert.message and "\u202e" not in alert.message
    assert "\x07" not in alert.message and "\\x1b" in alert.message


def test_sample_alert_and_the_alerts_test_command(tmp_path):
    assert sample_alert(Config()).title == "Resource in error (test)"
    path = tmp_path / "config.toml"
    path.write_text('[alerts]\non = ["error"]\nbell = false\n')
    path.chmod(0o600)
    done = subprocess.run(
        [sys.executable, "-m", "joytui", "alerts", "test", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Resource in error (test)" in done.stdout
    assert "bell: off" in done.stdout and "on: error" in done.stdout
    assert "\a" not in done.stdout
