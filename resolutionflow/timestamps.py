"""Moments written into markup for machines: `<time datetime>` and `data-elapsed-since`.

`html_datetime(value)` is the one format (the `html_datetime` filter in templates):
ISO 8601 to the millisecond with the time zone's offset, `2026-02-10T09:15:00.123+00:00`.
HTML's valid date strings allow at most three digits of a second's fraction, so
`|date:"c"` and `isoformat()` (microseconds) are not valid there. Exports in JSON
and CSV keep their microseconds (`sessions.exports.iso_utc`): they are data, not HTML.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from django.utils import timezone


def html_datetime(value: datetime | None, tz: tzinfo | None = None) -> str:
    """`value` for an HTML attribute, in `tz` (else the current time zone); "" for None."""
    if value is None:
        return ""
    return timezone.localtime(value, tz).isoformat(timespec="milliseconds")
