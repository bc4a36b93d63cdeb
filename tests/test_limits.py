"""Rolling-window limits, counted in parts: pure arithmetic, checked by table and by property."""

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.outbound.limits import DAY, HOUR, MONTH, Limits, next_slot, prune, usage
from gateway.outbound.routing import ModemView, may_take

T0 = 1_800_000_000.0


def test_free_sim_sends_now():
    assert next_slot([], Limits(per_minute=6), T0) == T0


def test_per_minute_cap_waits_for_the_oldest_to_leave_the_window():
    times = [T0, T0 + 1, T0 + 2]
    limits = Limits(per_minute=3)
    assert next_slot(times, limits, T0 + 3) == T0 + 60
    assert next_slot(times, limits, T0 + 60) == T0 + 60
    assert next_slot(times, limits, T0 + 59.9) == T0 + 60


def test_no_double_burst_at_a_window_boundary():
    """A fixed hourly window would allow 10 at 10:59 and 10 more at 11:00; a rolling one does not."""
    limits = Limits(per_hour=10)
    times = [T0 + HOUR - 60 + i for i in range(10)]  # ten sends in the last minute of an hour
    assert next_slot(times, limits, T0 + HOUR + 1) == times[0] + HOUR


def test_every_window_and_gap_count():
    limits = Limits(per_minute=100, per_hour=100, per_day=2, per_month=1000, min_gap_s=5)
    assert next_slot([T0], limits, T0 + 1) == T0 + 5  # the gap
    assert next_slot([T0, T0 + 10], limits, T0 + 20) == T0 + DAY  # the day cap
    limits = Limits(per_month=3)
    times = [T0, T0 + DAY, T0 + 2 * DAY]
    assert next_slot(times, limits, T0 + 3 * DAY) == T0 + MONTH


def test_multi_part_needs_room_for_all_its_parts():
    limits = Limits(per_minute=4)
    assert next_slot([T0, T0 + 1], limits, T0 + 2, parts=3) == T0 + 60
    assert next_slot([T0, T0 + 1], limits, T0 + 2, parts=2) == T0 + 2
    # larger than the cap: may start once the window is empty rather than never
    assert next_slot([T0], limits, T0 + 1, parts=9) == T0 + 60


def test_usage_and_prune():
    limits = Limits(per_minute=6, per_hour=120)
    times = [T0 - 4000, T0 - 120, T0 - 30, T0 - 1]
    assert [(u.window, u.used, u.left) for u in usage(times, limits, T0)] == [("minute", 2, 4), ("hour", 3, 117)]
    prune(times, limits, T0)
    assert times == [T0 - 120, T0 - 30, T0 - 1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=3 * DAY), max_size=60), st.integers(1, 10),
       st.integers(0, 30), st.floats(0, 3 * DAY))
def test_next_slot_never_breaks_a_cap(offsets, per_minute, per_hour, at):
    limits = Limits(per_minute=per_minute, per_hour=per_hour)
    times = sorted(T0 + o for o in offsets)
    now = (times[-1] if times else T0) + at % HOUR  # the past only: sends happened before now
    slot = next_slot(times, limits, now)
    assert slot >= now
    for name, span, cap in limits.windows():
        in_window = sum(1 for t in times if slot - span < t <= slot)
        assert in_window + 1 <= cap or in_window == 0 or slot == now and in_window < cap, (name, in_window, cap)
    # and it is the earliest such moment: a little earlier would break a cap (unless it is `now`)
    if slot > now:
        earlier = slot - 1e-3
        assert any(sum(1 for t in times if earlier - span < t <= earlier) + 1 > cap
                   for _, span, cap in limits.windows())


def test_routing_sticky_but_failover_wins():
    views = {"sim1": ModemView("sim1", True, T0), "sim2": ModemView("sim2", True, T0)}
    assert may_take("sim2", "sim1", views, T0, sticky=True) is False  # sim1 is up: leave it to sim1
    assert may_take("sim1", "sim1", views, T0, sticky=True) is True
    assert may_take("sim2", "sim1", views, T0, sticky=False) is True
    views["sim1"] = ModemView("sim1", False, T0)
    assert may_take("sim2", "sim1", views, T0, sticky=True) is True  # sim1 down: failover
    views["sim1"] = ModemView("sim1", True, T0 + 3600)
    assert may_take("sim2", "sim1", views, T0, sticky=True) is True  # sim1 limited for an hour
    assert may_take("sim2", None, views, T0, sticky=True) is True
