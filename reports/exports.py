"""The report tables as CSV (SPEC §6): `GET /reports/<table>.csv` with the page's filters.

Columns are the snake_case names of the definitions; rates are fractions 0–1
with 4 decimals, empty when undefined; seconds and steps are plain numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reports import metrics
from reports.metrics import ReportFilter
from sessions.exports import csv_text


def rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def number(value: float | None) -> str:
    """Seconds or steps: at most two decimals, no trailing zeros ("42.5", "400")."""
    if value is None:
        return ""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def integer(value: int) -> str:
    return str(value)


@dataclass(frozen=True)
class Table:
    columns: tuple[tuple[str, Callable], ...]
    rows: Callable[[ReportFilter, dict], Iterable]
    needs_tree: bool = False


def _choice_shares(choices: list[metrics.ChoiceShare]) -> str:
    return "; ".join(f"{csv_text(choice.label)}={rate(choice.share)}" for choice in choices)


TABLES: dict[str, Table] = {
    "summary": Table(
        columns=(
            ("sessions_started", integer),
            ("sessions_completed", integer),
            ("sessions_active", integer),
            ("resolution_rate", rate),
            ("escalation_rate", rate),
            ("median_duration_seconds", number),
            ("p90_duration_seconds", number),
            ("time_saved_seconds", integer),
        ),
        rows=lambda report_filter, options: [metrics.summary(report_filter)],
    ),
    "trees": Table(
        columns=(
            ("tree", csv_text),
            ("tree_name", csv_text),
            ("sessions", integer),
            ("completed", integer),
            ("resolution_rate", rate),
            ("escalation_rate", rate),
            ("median_duration_seconds", number),
            ("median_steps", number),
            ("dropoff_rate", rate),
        ),
        rows=lambda report_filter, options: metrics.trees(
            report_filter, sort=options.get("sort") or "-sessions"
        ),
    ),
    "nodes": Table(
        columns=(
            ("node_key", csv_text),
            ("node_title", csv_text),
            ("node_kind", csv_text),
            ("visits", integer),
            ("median_dwell_seconds", number),
            ("p90_dwell_seconds", number),
            ("dropoffs", integer),
            ("backtracks", integer),
            ("choice_shares", _choice_shares),
        ),
        rows=lambda report_filter, options: metrics.nodes(report_filter),
        needs_tree=True,
    ),
    "engineers": Table(
        columns=(
            ("engineer", csv_text),
            ("engineer_name", csv_text),
            ("sessions", integer),
            ("resolution_rate", rate),
            ("median_duration_seconds", number),
            ("escalations", integer),
            ("handoffs", integer),
            ("step_seconds", integer),
        ),
        rows=lambda report_filter, options: metrics.engineers(report_filter),
    ),
    "daily": Table(
        columns=(
            ("day", lambda day: day.isoformat()),
            ("sessions", integer),
            ("success", integer),
            ("partial", integer),
            ("failure", integer),
            ("neutral", integer),
            ("active", integer),
        ),
        rows=lambda report_filter, options: metrics.daily_series(report_filter),
    ),
    "outcomes": Table(
        columns=(
            ("outcome", csv_text),
            ("outcome_label", csv_text),
            ("outcome_kind", csv_text),
            ("sessions", integer),
            ("share", rate),
        ),
        rows=lambda report_filter, options: metrics.outcomes(report_filter),
    ),
}


def render_csv(table: Table, report_filter: ReportFilter, options: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([name for name, _ in table.columns])
    for row in table.rows(report_filter, options):
        writer.writerow([fmt(getattr(row, name)) for name, fmt in table.columns])
    return out.getvalue()
