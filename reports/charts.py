"""Geometry for the server-rendered SVG charts (the templates draw them).

The charts use a fixed viewBox and scale to their container, so they work on a
phone without any script; colours come from CSS classes per outcome kind.
The figures themselves come from `reports.metrics`; this module only lays
them out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import ngettext

from reports.metrics import DayRow, OutcomeRow
from reports.presentation import fmt_rate

# Bottom to top in the stacked bars, and the legend order.
SERIES = (
    ("success", "Success"),
    ("partial", "Partial"),
    ("failure", "Failure"),
    ("neutral", "Neutral"),
    ("active", "In progress"),
)
SERIES_LABELS = dict(SERIES)


def _nice_axis(largest: int, *, ticks: int = 4) -> list[int]:
    """Round tick values from 0 covering `largest`: 1-2-5 steps, at most `ticks` + 1 lines."""
    largest = max(largest, 1)
    magnitude = 10 ** max(0, math.floor(math.log10(largest)) - 1)
    for factor in (1, 2, 2.5, 5, 10, 20, 25, 50, 100):
        step = max(1, int(factor * magnitude))
        if math.ceil(largest / step) <= ticks:
            break
    top = math.ceil(largest / step) * step
    return list(range(0, top + 1, step))


@dataclass
class Bar:
    label: str
    day_iso: str
    x: float
    width: float
    centre: float
    total: int
    title: str
    # Markup made here rather than in the template: a year has 365 bars of up to
    # five rectangles and a table row each, some 13,000 template variables that
    # took longer to render than the figures took to compute.
    rects: SafeString = SafeString("")
    day_label: str = ""  # the text alternative's day, "1 Dec 2026"
    cells: SafeString = SafeString("")  # that row's <td>s: sessions, then each series


@dataclass
class Tick:
    value: int
    y: float


@dataclass
class XLabel:
    text: str
    x: float
    minor: bool
    anchor: str = "middle"


@dataclass
class DailyChart:
    width: int
    height: int
    left: int
    right: int
    baseline: float
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[XLabel]
    tick_x: int  # right edge of the y-axis labels
    label_y: int  # baseline of the day labels
    # Every bar's <g> (its <title> and rectangles), and every row of the text
    # alternative's table: made here, as the bars' parts are, instead of two
    # template loops over 365 bars.
    bars_markup: SafeString = SafeString("")
    rows_markup: SafeString = SafeString("")


def daily_chart(days: list[DayRow], *, width: int = 600, height: int = 260) -> DailyChart:
    """Sessions per day stacked by outcome kind; `days` has one row per day of the period."""
    left, right, top, bottom = 44, 16, 12, 30
    plot_width, plot_height = width - left - right, height - top - bottom
    baseline = top + plot_height
    axis = _nice_axis(max((day.sessions for day in days), default=0))
    scale = plot_height / axis[-1]
    band = plot_width / max(len(days), 1)
    bar_width = max(1.0, band * 0.72)
    # Label every `step`-th day; on a phone only every other one of those shows.
    step = max(1, math.ceil(len(days) / 8))
    bars, labels = [], []
    # A five-year chart has 1,827 bars: what repeats from bar to bar (a month's
    # name, the wording of a count) is worked out once, not per bar.
    months: dict[tuple[int, int], tuple[str, str]] = {}
    counted: dict[int, str] = {}
    kinds = [(kind, SERIES_LABELS[kind].lower()) for kind, _ in SERIES]
    width_text = round(bar_width, 2)
    for index, day in enumerate(days):
        x = left + index * band + (band - bar_width) / 2
        when = day.day
        if (when.year, when.month) not in months:
            months[(when.year, when.month)] = (f"{when:%b}", f"{when:%b %Y}")
        month, month_year = months[(when.year, when.month)]
        text = f"{when.day} {month}"
        total = day.sessions
        if total not in counted:
            counted[total] = ngettext("%(n)d session", "%(n)d sessions", total) % {"n": total}
        counts = [(kind, label, getattr(day, kind)) for kind, label in kinds]
        described = ", ".join(f"{count} {label}" for _, label, count in counts if count)
        x_text = round(x, 2)
        bar = Bar(
            label=text,
            day_iso=when.isoformat(),
            x=x_text,
            width=width_text,
            centre=round(x + bar_width / 2, 2),
            total=total,
            title=f"{text}: {counted[total]}" + (f" ({described})" if described else ""),
        )
        # Numbers and the SERIES kinds only: nothing to escape (and format_html
        # on each of 2,000 values costs as much as the template did).
        rects = []
        y = baseline
        for kind, _, count in counts:
            if not count:
                continue
            segment_height = count * scale
            y -= segment_height
            rects.append(
                f'<rect class="kind-{kind}" x="{x_text}" y="{round(y, 2)}" '
                f'width="{width_text}" height="{round(segment_height, 2)}"></rect>'
            )
        bar.rects = mark_safe("".join(rects))  # noqa: S308 - numbers and kinds only
        bar.day_label = f"{when.day} {month_year}"
        bar.cells = mark_safe(  # noqa: S308 - numbers only
            f"<td>{total:d}</td>" + "".join(f"<td>{count:d}</td>" for _, _, count in counts)
        )
        bars.append(bar)
        if index == 0:
            # Starts at the first bar, clear of the axis numbers.
            labels.append(XLabel(text, bar.x, minor=False, anchor="start"))
        elif index % step == 0:
            labels.append(XLabel(text, bar.centre, minor=(index // step) % 2 == 1))
    ticks = [Tick(value, round(baseline - value * scale, 2)) for value in axis]
    # Titles and day labels are text: escaped (their words come from translations).
    bars_markup = mark_safe(  # noqa: S308 - the titles are escaped, the rects are numbers
        "\n".join(
            f'<g class="chart-bar"><title>{escape(bar.title)}</title>{bar.rects}</g>'
            for bar in bars
        )
    )
    rows_markup = mark_safe(  # noqa: S308 - the labels are escaped, the cells are numbers
        "\n".join(
            f'<tr><th scope="row">{escape(bar.day_label)}</th>{bar.cells}</tr>' for bar in bars
        )
    )
    return DailyChart(
        width=width,
        height=height,
        left=left,
        right=width - right,
        baseline=baseline,
        bars=bars,
        ticks=ticks,
        labels=labels,
        tick_x=left - 8,
        label_y=height - 8,
        bars_markup=bars_markup,
        rows_markup=rows_markup,
    )


@dataclass
class OutcomeBar:
    label: str
    kind: str
    sessions: int
    share: str
    text_y: float  # baseline of the label and value, above the bar
    y: float
    width: float


@dataclass
class OutcomeChart:
    width: int
    height: int
    bar_height: int
    bars: list[OutcomeBar]


def outcome_chart(rows: list[OutcomeRow], *, width: int = 480) -> OutcomeChart:
    """Completed sessions per outcome: a labelled bar per outcome, the largest spanning
    the width (labels sit above the bars, so long outcome names never collide)."""
    row_height, bar_height = 46, 14
    largest = max((row.sessions for row in rows), default=0) or 1
    bars = [
        OutcomeBar(
            label=row.outcome_label,
            kind=row.outcome_kind,
            sessions=row.sessions,
            share=fmt_rate(row.share),
            text_y=index * row_height + 16,
            y=index * row_height + 24,
            width=round(max(2.0, row.sessions / largest * width), 2),
        )
        for index, row in enumerate(rows)
    ]
    return OutcomeChart(
        width=width,
        height=max(1, len(rows)) * row_height,
        bar_height=bar_height,
        bars=bars,
    )
