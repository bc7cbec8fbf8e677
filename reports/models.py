"""Daily rollups of the report figures that are counts and sums (docs/PERFORMANCE.md, "Rollups").

Each row holds one day's (span DAY) or one calendar month's (span MONTH, `day` its
first day) figures of the sessions *started* then, days in settings.TIME_ZONE as
the reports count them. A report over any range reads its whole months from
month rows and the days at either end from day rows (`reports.rollups.period_q`):
a year is about a dozen month rows per key instead of 365 day rows.

Kept by `reports.rollups` from the sessions' signals, in the writer's
transaction; `manage.py rebuild_rollups` recomputes them from the rows.
Medians are not here: an exact continuous median needs every value, and a
histogram of active seconds per tree and month is as many rows as sessions.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from trees.models import Tree


class Span(models.TextChoices):
    DAY = "d", "day"
    MONTH = "m", "month"


ALL_TREES = 0  # the tree_key of the rows that add up every tree


class SessionTally(models.Model):
    """Sessions started in a span, per tree and outcome. `tree_key` is the tree's id,
    or ALL_TREES for the same figures over every tree (the overview's per-day and
    per-outcome tables read a dozen rows a month instead of one per tree);
    `outcome_key` the outcome's id, 0 for sessions not completed. Keys are never
    NULL, so an upsert finds its row on both databases."""

    span = models.CharField(max_length=1, choices=Span.choices)
    day = models.DateField()
    tree_key = models.IntegerField()
    outcome_key = models.IntegerField()
    started = models.IntegerField(db_default=0)
    completed = models.IntegerField(db_default=0)
    # Completed sessions whose closing step is not a solution (the drop-off rate).
    dropoffs = models.IntegerField(db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tree_key", "span", "day", "outcome_key"], name="sessiontally_key"
            )
        ]

    def __str__(self) -> str:
        span = self.get_span_display()
        return f"{span} {self.day}, tree {self.tree_key}, outcome {self.outcome_key}"


class StepTally(models.Model):
    """Per engineer who took them, the active seconds of the steps of the sessions
    started in a span, per tree (`tree_key`, ALL_TREES for every tree); and the
    hand-offs the engineer gave in them."""

    span = models.CharField(max_length=1, choices=Span.choices)
    day = models.DateField()
    tree_key = models.IntegerField()
    engineer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    step_seconds = models.BigIntegerField(db_default=0)
    handoffs = models.IntegerField(db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tree_key", "span", "day", "engineer"], name="steptally_key"
            )
        ]

    def __str__(self) -> str:
        span = self.get_span_display()
        return f"{span} {self.day}, tree {self.tree_key}, engineer {self.engineer_id}"


class AnswerTally(models.Model):
    """How often each answer was given at each question of a tree (the drill-down's
    answer shares), in the steps of the sessions started in a span. `choice_key` is
    the choice's id (kept when a later version drops the choice: the answer stays)."""

    span = models.CharField(max_length=1, choices=Span.choices)
    day = models.DateField()
    tree = models.ForeignKey(Tree, on_delete=models.CASCADE, related_name="+")
    node_key = models.CharField(max_length=100)
    answer_label = models.CharField(max_length=200)
    choice_key = models.IntegerField()
    answers = models.IntegerField(db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tree", "span", "day", "node_key", "answer_label", "choice_key"],
                name="answertally_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_span_display()} {self.day}, {self.node_key}: {self.answer_label}"
