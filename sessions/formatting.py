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
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    # Half a second rounds up, like the step durations the services store.
    total = max(0, math.floor(float(seconds) + 0.5))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
