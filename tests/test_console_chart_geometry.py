"""The console's bar charts: the geometry that the SVG macro draws."""

from __future__ import annotations

import pytest

from web.console.charts import bar_chart, nice_step


@pytest.mark.parametrize(("top", "step"), [(0, 1), (3, 1), (4, 1), (5, 2), (9, 5), (40, 10), (41, 20), (1999, 500)])
def test_the_step_is_round_and_reaches_the_top(top: int, step: int) -> None:
    assert nice_step(top) == step


def test_stacked_bars_sit_on_one_another_and_the_tallest_reaches_its_value() -> None:
    chart = bar_chart("h", "Hours", ["00", "01"], [("Sent", "sent", [3, 0]), ("Failed", "failed", [1, 8])])
    first = [b for b in chart.bars if b.label == "00"]
    assert [b.series for b in first] == ["Sent", "Failed"]
    sent, failed = first
    assert failed.y + failed.height == pytest.approx(sent.y)  # failed stacked on top of sent
    assert not [b for b in chart.bars if b.value == 0]  # an empty value draws nothing
    top_tick = chart.ticks[-1]
    assert top_tick.value == 8
    eight = next(b for b in chart.bars if b.value == 8)
    assert eight.y == pytest.approx(top_tick.y)
    assert chart.rows() == [("00", (3, 1)), ("01", (0, 8))]


def test_grouped_bars_stand_side_by_side_from_the_axis() -> None:
    chart = bar_chart("g", "Variants", ["A"], [("Sent", "sent", [4]), ("Delivered", "delivered", [2])], stacked=False)
    sent, delivered = chart.bars
    assert delivered.x == pytest.approx(sent.x + sent.width)
    assert sent.y + sent.height == pytest.approx(delivered.y + delivered.height) == pytest.approx(chart.plot_bottom)


def test_labels_thin_out_so_thirty_days_stay_readable_on_a_narrow_chart() -> None:
    labels = [str(day) for day in range(1, 31)]
    chart = bar_chart("d", "Days", labels, [("Sent", "sent", [1] * 30)], width=360)
    assert 1 < len(chart.axis_labels) < 30
    assert chart.axis_labels[0].text == "1"


def test_a_series_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="2 values for 3 labels"):
        bar_chart("x", "X", ["a", "b", "c"], [("Sent", "sent", [1, 2])])


def test_nothing_sent_is_an_empty_chart() -> None:
    assert bar_chart("e", "E", ["a"], [("Sent", "sent", [0])]).empty
