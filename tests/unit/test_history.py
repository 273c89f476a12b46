"""History ring buffers and rates from cumulative counters: resets, gaps, restarts, first."""

from __future__ import annotations

from joytui.core.history import History, rates, values
from joytui.model import MetricSample
from joytui.ui.widgets.chart import nice_ceiling

KEY = ("joy", "a", "machine", "m1")


def s(t, net_in=None, uptime=None, cpu=None):
    return MetricSample(
        provider="joy",
        account="a",
        resource_id="m1",
        time=t,
        net_in=net_in,
        uptime_seconds=uptime,
        cpu_percent=cpu,
    )


def test_rates_first_sample_has_none():
    assert rates([s(0, 100)], "net_in", 10) == []


def test_rates_steady():
    assert rates([s(0, 100), s(2, 300), s(4, 700)], "net_in", 10) == [(2, 100.0), (4, 200.0)]


def test_a_counter_reset_is_a_gap_not_a_spike():
    out = rates([s(0, 5000), s(2, 10), s(4, 30)], "net_in", 10)
    assert out == [(2, None), (4, 10.0)]


def test_a_gap_between_samples_is_a_gap():
    out = rates([s(0, 100), s(60, 200), s(62, 400)], "net_in", 10)
    assert out == [(60, None), (62, 100.0)]


def test_a_restart_is_a_gap_even_if_the_counter_grew():
    out = rates([s(0, 100, uptime=500), s(2, 150, uptime=1), s(4, 250, uptime=3)], "net_in", 10)
    assert out == [(2, None), (4, 50.0)]


def test_missing_counter_and_out_of_order():
    assert rates([s(0, None), s(2, 100)], "net_in", 10) == [(2, None)]
    assert rates([s(2, 100), s(2, 200)], "net_in", 10) == [(2, None)]


def test_history_is_bounded_per_resource_and_in_resources():
    history = History(points=3, resources=2)
    for t in range(10):
        history.add(KEY, s(t, cpu=t))
    assert [x.time for x in history.samples(KEY)] == [7, 8, 9]
    history.add(KEY, s(5, cpu=1))  # older than the newest: ignored
    assert history.latest(KEY).time == 9
    other1, other2 = (*KEY[:3], "m2"), (*KEY[:3], "m3")
    history.add(other1, s(1))
    history.add(other2, s(1))
    assert len(history) == 2 and history.samples(KEY) == []  # least recent dropped
    assert values(history.samples(other1), "cpu_percent") == [(1, None)]
    assert [x.time for x in history.samples(other2, since=1)] == [1]


def test_nice_ceiling():
    assert [nice_ceiling(v) for v in (0, 0.7, 1, 3, 7, 12, 180, 2.4e6)] == [
        1.0,
        1.0,
        1.0,
        5.0,
        10.0,
        20.0,
        200.0,
        2.5e6,
    ]
