"""Turning report rows into what the pages show: formatted KPI tiles and comparisons.

Nothing here computes a figure from rows: the numbers come from `reports.metrics`;
this module only compares two of them (this period and the previous one) and
formats them for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.urls import reverse
from django.utils.http import urlencode

from reports import metrics
from reports.metrics import ReportFilter, SummaryRow
from sessions.formatting import format_duration

MISSING = "—"


def _missing(value) -> bool:
    """No figure: undefined (None), or absent altogether (a template's "" for a
    missing row, e.g. a tree with no sessions in the range)."""
    return value is None or isinstance(value, str)


def fmt_count(value: int | None) -> str:
    return MISSING if _missing(value) else f"{value:,}"


def fmt_rate(value: float | None) -> str:
    """A fraction as a percentage with one decimal: 0.5714… → "57.1%"."""
    return MISSING if _missing(value) else f"{value * 100:.1f}%"


def fmt_duration(value: float | None) -> str:
    return MISSING if _missing(value) else format_duration(value)


def fmt_number(value: float | None) -> str:
    """A median of counts (steps): "3.5", "4"."""
    if _missing(value):
        return MISSING
    return f"{value:.1f}".removesuffix(".0")


def fmt_period(date_from: date, date_to: date) -> str:
    """ "1–10 Feb 2026", "28 Jan – 3 Feb 2026", "30 Dec 2025 – 5 Jan 2026", "5 Feb 2026"."""
    if date_from == date_to:
        return f"{date_to.day} {date_to:%b %Y}"
    if date_from.year != date_to.year:
        return f"{date_from.day} {date_from:%b %Y} – {date_to.day} {date_to:%b %Y}"
    if date_from.month != date_to.month:
        return f"{date_from.day} {date_from:%b} – {date_to.day} {date_to:%b %Y}"
    return f"{date_from.day}–{date_to.day} {date_to:%b %Y}"


@dataclass(frozen=True)
class Figure:
    """How one summary figure is shown and compared."""

    key: str
    label: str
    kind: str  # count | rate | duration
    better: str  # higher | lower | "" (neither: more sessions is not good or bad)
    help: str
    # A figure of this moment (active now) has no previous period to compare with.
    compared: bool = True


FIGURES = (
    Figure("sessions_started", "Sessions started", "count", "", "Sessions started in the period."),
    Figure("sessions_completed", "Completed", "count", "", "Started in the period and closed."),
    Figure(
        "sessions_active",
        "Active now",
        "count",
        "",
        "Sessions open at this moment, whatever the dates chosen; the tree and engineer "
        "filters apply.",
        compared=False,
    ),
    Figure(
        "resolution_rate",
        "Resolution rate",
        "rate",
        "higher",
        "Resolved ÷ resolved, workaround and failed; cancelled and resolved elsewhere left out.",
    ),
    Figure(
        "escalation_rate",
        "Escalation rate",
        "rate",
        "lower",
        "Escalated ÷ completed sessions, cancelled and resolved elsewhere left out.",
    ),
    Figure(
        "median_duration_seconds",
        "Median duration",
        "duration",
        "lower",
        "Half of the completed sessions took less than this.",
    ),
    Figure(
        "p90_duration_seconds",
        "90th percentile duration",
        "duration",
        "lower",
        "Nine in ten completed sessions took less than this.",
    ),
    Figure(
        "time_saved_seconds",
        "Time saved",
        "duration",
        "higher",
        "Baseline minus duration, over completed sessions on trees with a baseline.",
    ),
)

_FORMATS = {"count": fmt_count, "rate": fmt_rate, "duration": fmt_duration}


@dataclass
class Kpi:
    key: str
    label: str
    help: str
    value: str
    previous: str
    direction: str  # up | down | same | none (no previous figure) | now (not compared)
    change: str  # the size of the change, formatted ("3", "4.2 pts", "2m 10s")
    tone: str  # positive | negative | "" (neutral)


def _change(kind: str, difference: float) -> str:
    size = abs(difference)
    if kind == "rate":
        return f"{size * 100:.1f} pts"
    if kind == "duration":
        return format_duration(size)
    return f"{size:,}"


def kpi_tiles(current: SummaryRow, previous: SummaryRow) -> list[Kpi]:
    """One tile per summary figure, compared with the previous period (a figure of this
    moment, "Active now", is not)."""
    tiles = []
    for figure in FIGURES:
        now, before = getattr(current, figure.key), getattr(previous, figure.key)
        fmt = _FORMATS[figure.kind]
        if not figure.compared:
            direction, change, tone, before = "now", "", "", None
        elif now is None or before is None:
            direction, change, tone = "none", "", ""
        elif now == before:
            direction, change, tone = "same", "", ""
        else:
            direction = "up" if now > before else "down"
            change = _change(figure.kind, now - before)
            improved = (direction == "up") == (figure.better == "higher")
            tone = "" if not figure.better else "positive" if improved else "negative"
        tiles.append(
            Kpi(
                key=figure.key,
                label=figure.label,
                help=figure.help,
                value=fmt(now),
                previous=fmt(before),
                direction=direction,
                change=change,
                tone=tone,
            )
        )
    return tiles


@dataclass
class HomeKpis:
    """The manager's home panel: the overview KPIs for the last 7 days."""

    filter: ReportFilter
    period: str
    tiles: list[Kpi]
    url: str


def home_kpis(days: int = 7) -> HomeKpis:
    """KPI tiles for the last `days` days against the `days` before (one query)."""
    report_filter = ReportFilter.last_days(days)
    current, previous = metrics.summaries([report_filter, report_filter.previous()])
    query = urlencode(
        {"from": report_filter.date_from.isoformat(), "to": report_filter.date_to.isoformat()}
    )
    return HomeKpis(
        filter=report_filter,
        period=fmt_period(report_filter.date_from, report_filter.date_to),
        tiles=kpi_tiles(current, previous),
        url=f"{reverse('reports:overview')}?{query}",
    )
