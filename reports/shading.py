"""The drill-down's diagram shaded by a per-node figure (SPEC §8, "Reports drill-down").

The figures come from `metrics.nodes` (one row per node key); this only sorts
them into five levels (none, then four equal bands up to the highest value)
and writes the legend in words and numbers. The steps table stays the
accessible alternative: the diagram repeats it as a picture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from reports.metrics import NodeRow
from reports.presentation import fmt_count, fmt_duration
from trees.diagram import Shade

FIGURES = {
    "visits": ("Visits", "visits", fmt_count),
    "median_dwell": ("Median dwell", "median_dwell_seconds", fmt_duration),
    "dropoffs": ("Drop-offs", "dropoffs", fmt_count),
    "backtracks": ("Backtracks", "backtracks", fmt_count),
}
DEFAULT_FIGURE = "visits"


@dataclass(frozen=True)
class LegendEntry:
    level: int
    text: str


def figure_of(value: str | None) -> str:
    return value if value in FIGURES else DEFAULT_FIGURE


def node_shades(rows: Sequence[NodeRow], figure: str) -> tuple[dict[str, Shade], list[LegendEntry]]:
    """Each node key's level and figure, and the legend of the levels."""
    label, attribute, fmt = FIGURES[figure]
    values = {row.node_key: getattr(row, attribute) for row in rows}
    top = max((v for v in values.values() if v), default=0)
    shades: dict[str, Shade] = {}
    for key, value in values.items():
        level = 0 if not value or not top else min(4, max(1, math.ceil(4 * value / top)))
        shades[key] = Shade(level=level, text=f"{label}: {fmt(value) if value else 'none'}")
    legend = [LegendEntry(0, f"{label}: none")]
    if top:
        bands = [top * n / 4 for n in range(5)]
        for level in range(1, 5):
            legend.append(
                LegendEntry(
                    level,
                    f"{label}: more than {fmt(_round(bands[level - 1], figure))} "
                    f"up to {fmt(_round(bands[level], figure))}"
                    if level > 1
                    else f"{label}: up to {fmt(_round(bands[1], figure))}",
                )
            )
    return shades, legend


def _round(value: float, figure: str) -> float | int:
    return value if figure == "median_dwell" else math.floor(value) if value >= 1 else value
