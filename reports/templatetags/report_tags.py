"""Formatting for the report pages: `{% load report_tags %}`."""

from __future__ import annotations

from django import template

from reports.presentation import HomeKpis, fmt_count, fmt_duration, fmt_number, fmt_rate
from reports.presentation import home_kpis as team_home_kpis

register = template.Library()


@register.filter
def rate(value: float | None) -> str:
    """`{{ row.resolution_rate|rate }}` → "57.1%", "—" when undefined."""
    return fmt_rate(value)


@register.filter
def seconds(value: float | None) -> str:
    """`{{ row.median_duration_seconds|seconds }}` → "10m 30s", "—" when undefined."""
    return fmt_duration(value)


@register.filter
def count(value: int | None) -> str:
    return fmt_count(value)


@register.filter
def number(value: float | None) -> str:
    """A median of counts: "3.5", "4", "—"."""
    return fmt_number(value)


@register.filter
def percent_width(value: float | None) -> str:
    """A share 0–1 as an SVG width out of 100 (for the answer bars)."""
    return f"{max(0.0, min(1.0, value or 0.0)) * 100:.2f}"


@register.simple_tag(takes_context=True)
def home_kpis(context: template.Context) -> HomeKpis | None:
    """`{% home_kpis as report_kpis %}`: last week's team figures for managers, else None.

    The home page belongs to sessions, which may not import reports; a
    template `{% load %}` is not an import, so the figures come in here.
    """
    request = context.get("request")
    if request is None or not request.user.has_perm("flow_sessions.view_reports"):
        return None
    return team_home_kpis()
