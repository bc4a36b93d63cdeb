"""Bar charts as plain geometry, so the console can draw them as server-rendered SVG.

No JavaScript draws the charts: a page must work without it, and the CSP allows no inline style, so the
bars are SVG attributes computed here. Pure: series in, rectangles and axis ticks out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

PLOT_TOP = 8  # room above the tallest bar for its tick label
AXIS_WIDTH = 44  # room on the left for the value ticks
LABEL_ROOM = 20  # room below the bars for the category labels
MIN_LABEL_SPACING = 36  # a category label needs about this many units to stay readable


@dataclass(frozen=True)
class Series:
    """One measured quantity: its translated name, the CSS class that colours it, a value per label."""

    name: str
    css_class: str
    values: tuple[int, ...]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css_class: str
    label: str
    series: str
    value: int


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class AxisLabel:
    x: float
    text: str


@dataclass(frozen=True)
class Chart:
    key: str  # unique on the page: ids of the caption and the table hang on it
    title: str
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    axis_labels: tuple[AxisLabel, ...]
    width: int
    height: int
    plot_bottom: float

    @property
    def empty(self) -> bool:
        return all(value == 0 for s in self.series for value in s.values)

    def rows(self) -> list[tuple[str, tuple[int, ...]]]:
        """The chart as a table, a row per label: the equivalent for screen readers and for exact figures."""
        return [(label, tuple(s.values[i] for s in self.series)) for i, label in enumerate(self.labels)]


def nice_step(top: int, ticks: int = 4) -> int:
    """A round step (1, 2 or 5 times a power of ten) so that `ticks` steps reach at least `top`."""
    if top <= 0:
        return 1
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    for multiple in (1, 2, 5, 10):
        step = multiple * power
        if step * ticks >= top:
            return max(1, int(step))
    return max(1, int(10 * power))


def bar_chart(
    key: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[int]]],
    *,
    stacked: bool = True,
    width: int = 640,
    height: int = 200,
    ticks: int = 4,
) -> Chart:
    """Bars per label, the series stacked on one another or grouped side by side."""
    labels = tuple(labels)
    all_series = tuple(Series(name, css_class, tuple(int(v) for v in values)) for name, css_class, values in series)
    for s in all_series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(labels)} labels")
    if stacked:
        top = max((sum(s.values[i] for s in all_series) for i in range(len(labels))), default=0)
    else:
        top = max((v for s in all_series for v in s.values), default=0)
    step = nice_step(top, ticks)
    scale_top = step * ticks
    plot_bottom = float(height - LABEL_ROOM)
    plot_height = plot_bottom - PLOT_TOP
    slot = (width - AXIS_WIDTH) / max(1, len(labels))
    bar_room = slot * 0.8

    def y_of(value: float) -> float:
        return plot_bottom - plot_height * value / scale_top

    bars: list[Bar] = []
    for i, label in enumerate(labels):
        left = AXIS_WIDTH + i * slot + (slot - bar_room) / 2
        base = 0
        for j, s in enumerate(all_series):
            value = s.values[i]
            if stacked:
                x, w, low, high = left, bar_room, base, base + value
                base = high
            else:
                w = bar_room / max(1, len(all_series))
                x, low, high = left + j * w, 0, value
            if value:
                bars.append(Bar(round(x, 2), round(y_of(high), 2), round(w, 2),
                                round(y_of(low) - y_of(high), 2), s.css_class, label, s.name, value))
    tick_marks = tuple(Tick(round(y_of(step * k), 2), step * k) for k in range(ticks + 1))
    every = max(1, math.ceil(MIN_LABEL_SPACING / slot)) if labels else 1
    axis_labels = tuple(AxisLabel(round(AXIS_WIDTH + i * slot + slot / 2, 2), label)
                        for i, label in enumerate(labels) if i % every == 0)
    return Chart(key, title, labels, all_series, tuple(bars), tick_marks, axis_labels, width, height, plot_bottom)
