"""Outcome badge colours, computed on the server (the CSP forbids inline styles).

Replaces the colour maths app.js did on every page load (and every htmx swap):
the outcomes' stylesheet (`sessions.views.styles.outcome_styles`) is written
from these, so a badge is coloured before any script runs.
"""

from __future__ import annotations

import math
import re

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# The badge's background: its colour at 12% over white (app.css, .badge-outcome).
TINT_WEIGHT = 0.12
MIN_CONTRAST = 4.5

Rgb = tuple[int, int, int]


def _rgb(colour: str) -> Rgb:
    value = int(colour[1:], 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def _mix(a: Rgb, b: Rgb, weight_of_a: float) -> Rgb:
    # Halves round up (JavaScript's Math.round), not to even.
    r, g, b_ = (
        math.floor(x * weight_of_a + y * (1 - weight_of_a) + 0.5) for x, y in zip(a, b, strict=True)
    )
    return r, g, b_


def _luminance(rgb: Rgb) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Rgb, b: Rgb) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = _luminance(a), _luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def badge_ink(colour: str) -> str:
    """The text colour of a badge of `colour`: darkened until it reads at 4.5:1 on its tint.

    Any colour an admin picks stays legible; the label carries the meaning.
    """
    rgb = _rgb(colour)
    tint = _mix(rgb, (255, 255, 255), TINT_WEIGHT)
    ink = rgb
    black = 0.1
    # Tenths, as app.js did: the same admin colour gives the same ink as before.
    while contrast(ink, tint) < MIN_CONTRAST and black <= 1:
        ink = _mix((0, 0, 0), rgb, black)
        black += 0.1
    return "#{:02x}{:02x}{:02x}".format(*ink)
