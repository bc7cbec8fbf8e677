"""Formatting for the report pages: `{% load report_tags %}`."""

from __future__ import annotations

from django import template

from reports.presentation import fmt_count, fmt_duration, fmt_number, fmt_rate

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
