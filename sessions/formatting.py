"""Human-readable durations, shared by the pages and the exports."""

from __future__ import annotations

import math
from datetime import timedelta


def format_duration(seconds: int | float | timedelta | None) -> str:
    """A duration the way an engineer reads it at a glance.

    Under a minute: ``45s``; under an hour: ``2m 30s``; from an hour: ``1h 04m``
    (seconds are noise at that scale). ``None`` (an open step, a session not
    started) gives an empty string so templates can choose their own placeholder.
    """
    if seconds is None:
        return ""
    hours, rest = divmod(whole_seconds(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def format_elapsed(seconds: int | float | timedelta | None, *, so_far: bool) -> str:
    """`format_duration`, marked ``2m 30s so far`` while the clock still runs
    (an active session, its open step)."""
    text = format_duration(seconds)
    return f"{text} so far" if so_far else text


def whole_seconds(seconds: int | float | timedelta) -> int:
    """A duration in whole seconds the way the services store step durations:
    half a second rounds up, and never below zero (clocks on two machines)."""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    return max(0, math.floor(float(seconds) + 0.5))
