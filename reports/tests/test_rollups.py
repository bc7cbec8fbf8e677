"""The rollups (`reports.rollups`): kept by the services equal a rebuild from the rows, and
the figures read from them equal the figures read from the rows (on whichever database
the suite runs: SQLite by default, PostgreSQL in CI; test_databases compares the two)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command

from reports import metrics, rollups
from reports.metrics import TREE_SORTS, ReportFilter
from reports.models import AnswerTally, SessionTally, Span, StepTally
from reports.tests.builders import build_history, build_lifecycle_dataset, utc
from sessions import services
from sessions.models import Outcome, Session
from trees.models import Tree

pytestmark = pytest.mark.django_db


def _snapshot() -> dict:
    """Every rollup row with a non-zero figure (a count moved away leaves a row of zeros)."""
    rows = {}
    for model, keys, sums in (
        (SessionTally, ("outcome_key",), ("started", "completed", "dropoffs")),
        (StepTally, ("engineer_id",), ("step_seconds", "handoffs")),
        (AnswerTally, ("node_key", "answer_label", "choice_key"), ("answers",)),
    ):
        tree = "tree_id" if model is AnswerTally else "tree_key"
        for row in model.objects.values("span", "day", tree, *keys, *sums):
            figures = tuple(row[name] for name in sums)
            if any(figures):
                key = (model.__name__, row["span"], str(row["day"]), row[tree])
                rows[key + tuple(row[name] for name in keys)] = figures
    return rows


def _random_operations(clock, alice, bob, seed: int) -> None:
    """Sessions through the services (answers, Back, Done, pauses, hand-offs, closes,
    some left open), then random outcome corrections."""
    rng = random.Random(seed)
    versions = build_history(clock, [alice, bob], count=40, days=70, end=utc(3, 5), seed=seed)
    build_lifecycle_dataset(clock, alice, bob, mail=versions["mail"])
    outcomes = list(Outcome.objects.filter(is_active=True))
    completed = list(Session.objects.filter(completed_at__isnull=False).order_by("pk"))
    for session in rng.sample(completed, k=min(12, len(completed))):
        services.session_change_outcome(session=session, outcome=rng.choice(outcomes), by=bob)


@pytest.mark.parametrize("seed", [1, 2, 3], ids=["seed1", "seed2", "seed3"])
def test_it_keeps_rollups_equal_to_a_rebuild_after_random_operations(clock, alice, bob, seed):
    _random_operations(clock, alice, bob, seed)
    kept = _snapshot()
    assert any(key[1] == Span.MONTH for key in kept)
    assert any(key[0] == "StepTally" and figures[1] for key, figures in kept.items())  # hand-offs
    assert any(key[0] == "AnswerTally" for key in kept)

    rollups.rebuild()

    assert _snapshot() == kept


def test_it_rebuilds_a_range_of_months_only(clock, alice, bob):
    _random_operations(clock, alice, bob, seed=4)
    kept = _snapshot()
    SessionTally.objects.all().update(started=999)

    call_command("rebuild_rollups", "--from", "2026-02-10", "--to", "2026-02-11")

    rebuilt = _snapshot()
    february = {key: value for key, value in kept.items() if key[2].startswith("2026-02")}
    assert february and all(rebuilt[key] == value for key, value in february.items())
    others = [
        key for key in rebuilt if key[0] == "SessionTally" and not key[2].startswith("2026-02")
    ]
    assert others and all(rebuilt[key][0] == 999 for key in others)  # untouched


def test_it_refuses_half_a_range(db):
    with pytest.raises(CommandError, match="both"):
        call_command("rebuild_rollups", "--from", "2026-02-10")
    with pytest.raises(CommandError, match="Not a date"):
        call_command("rebuild_rollups", "--from", "soon", "--to", "2026-02-10")


@pytest.mark.parametrize(
    ("date_from", "date_to", "months", "days"),
    [
        (date(2026, 2, 3), date(2026, 2, 20), 0, 18),  # inside a month: days only
        (date(2026, 2, 1), date(2026, 2, 28), 1, 0),  # exactly a month
        (date(2025, 12, 3), date(2026, 12, 2), 11, 31),  # a year: 11 months, 29 + 2 days
        (date(2026, 1, 31), date(2026, 3, 1), 1, 2),
    ],
    ids=["inside", "month", "year", "edges"],
)
def test_it_reads_whole_months_from_month_rows(db, date_from, date_to, months, days):
    tree = Tree.objects.create(slug="t", name="T")
    day = date(2025, 1, 1)
    while day <= date(2027, 1, 31):
        SessionTally.objects.create(
            span=Span.DAY, day=day, tree_key=tree.pk, outcome_key=0, started=1
        )
        if day.day == 1:
            SessionTally.objects.create(
                span=Span.MONTH, day=day, tree_key=tree.pk, outcome_key=0, started=1000
            )
        day += timedelta(days=1)
    picked = SessionTally.objects.filter(rollups.period_q(date_from, date_to))
    assert picked.filter(span=Span.MONTH).count() == months
    assert picked.filter(span=Span.DAY).count() == days


def _tables(report_filter: ReportFilter) -> dict:
    tables = {
        "daily": metrics.daily_series(report_filter),
        "outcomes": metrics.outcomes(report_filter),
        "engineers": metrics.engineers(report_filter),
        "summary": metrics.summary(report_filter),
    }
    for sort in TREE_SORTS:
        tables[f"trees {sort}"] = metrics.trees(report_filter, sort=sort)
    if report_filter.tree is not None:
        tables["nodes"] = metrics.nodes(report_filter)
    return tables


@pytest.mark.parametrize("seed", [5, 6], ids=["seed5", "seed6"])
def test_it_reads_the_same_figures_from_rollups_as_from_rows(clock, alice, bob, seed, monkeypatch):
    _random_operations(clock, alice, bob, seed)
    rng = random.Random(seed)
    filters = [ReportFilter(date(2025, 12, 1), date(2026, 3, 31))]
    for _ in range(6):
        start = date(2025, 12, 1) + timedelta(days=rng.randrange(100))
        filters.append(ReportFilter(start, start + timedelta(days=rng.randrange(1, 60))))
    filters += [replace(filters[0], tree=tree) for tree in Tree.objects.all()]
    assert all(f.rolls_up for f in filters)

    from_rollups = [_tables(f) for f in filters]
    monkeypatch.setattr(ReportFilter, "rolls_up", property(lambda self: False))
    from_rows = [_tables(f) for f in filters]

    assert from_rollups == from_rows
    assert any(table["outcomes"] for table in from_rows)
