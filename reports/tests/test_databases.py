"""The same figures from both databases: one dataset built on PostgreSQL, copied row
for row into a SQLite database, every table computed on each and compared exactly.

The figure tests (test_metrics.py) run on either database against hand-computed
values; this proves the two agree on a larger, irregular dataset too, bit for bit
(medians and rates are doubles compared with ==).
"""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from reports import metrics
from reports.metrics import TREE_SORTS, ReportFilter
from reports.models import AnswerTally, SessionTally, StepTally
from reports.tests.builders import build_dataset, build_history, build_lifecycle_dataset, utc
from sessions.models import Decision, Handoff, Outcome, Pause, Session
from trees.models import Choice, Node, Tree, TreeVersion

SQLITE = "sqlite_copy"

if connection.vendor == "postgresql":
    # A second database, SQLite (in memory while testing), for the copy. It is
    # configured when this module is collected so that pytest-django creates and
    # migrates its test database with the others, outside any transaction (SQLite
    # cannot change its schema inside one).
    connections.settings.setdefault(
        SQLITE,
        connections.configure_settings(
            {
                DEFAULT_DB_ALIAS: connections.settings[DEFAULT_DB_ALIAS],
                SQLITE: {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
            }
        )[SQLITE],
    )

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="compares PostgreSQL with SQLite"),
    pytest.mark.django_db(databases=[DEFAULT_DB_ALIAS, SQLITE]),
]


def _copy_rows(alias: str) -> None:
    """Every row the reports read, with the same primary keys, into `alias`."""
    models = [
        get_user_model(),
        Outcome,
        Tree,
        TreeVersion,
        Node,
        Choice,
        Session,
        Decision,
        Pause,
        Handoff,
        # As the services kept them on PostgreSQL.
        SessionTally,
        StepTally,
        AnswerTally,
    ]
    with transaction.atomic(using=alias):  # foreign keys are checked at commit
        for model in reversed(models):
            model.objects.using(alias).all().delete()  # the outcomes the migrations add
        for model in models:
            model.objects.using(alias).bulk_create(model.objects.order_by("pk"))


def _every_table(using: str) -> dict[str, object]:
    """Every report table over several filters."""
    months = ReportFilter(date(2025, 12, 20), date(2026, 3, 31))
    feb = ReportFilter(date(2026, 2, 1), date(2026, 2, 10))
    engineer = get_user_model().objects.get(username="alice")
    tables: dict[str, object] = {}
    for name, report_filter in {"months": months, "feb": feb}.items():
        filters = [
            report_filter,
            ReportFilter(report_filter.date_from, report_filter.date_to, engineer=engineer),
        ]
        tables[f"{name} summaries"] = metrics.summaries(
            [report_filter, report_filter.previous()], using=using
        )
        for index, each in enumerate(filters):
            tables[f"{name} {index} summary"] = metrics.summary(each, using=using)
            tables[f"{name} {index} engineers"] = metrics.engineers(each, using=using)
            tables[f"{name} {index} daily"] = metrics.daily_series(each, using=using)
            tables[f"{name} {index} outcomes"] = metrics.outcomes(each, using=using)
            for sort in TREE_SORTS:
                for direction in ("", "-"):
                    tables[f"{name} {index} trees {direction}{sort}"] = metrics.trees(
                        each, sort=direction + sort, using=using
                    )
        for tree in Tree.objects.order_by("slug"):
            by_tree = ReportFilter(report_filter.date_from, report_filter.date_to, tree=tree)
            tables[f"{name} {tree.slug} nodes"] = metrics.nodes(by_tree, using=using)
            tables[f"{name} {tree.slug} summary"] = metrics.summary(by_tree, using=using)
            versioned = ReportFilter(
                report_filter.date_from, report_filter.date_to, tree=tree, version=1
            )
            tables[f"{name} {tree.slug} v1 nodes"] = metrics.nodes(versioned, using=using)
    return tables


def test_it_gives_identical_figures_on_postgresql_and_sqlite(clock, alice, bob):
    dataset = build_dataset(clock, alice, bob)
    build_history(clock, [alice, bob], count=60, days=60, end=utc(2, 11))
    build_lifecycle_dataset(clock, alice, bob, mail=dataset.mail)  # pauses, hand-offs
    _copy_rows(SQLITE)
    assert Session.objects.using(SQLITE).count() == Session.objects.count()

    on_postgresql = _every_table(DEFAULT_DB_ALIAS)
    on_sqlite = _every_table(SQLITE)

    assert connections[SQLITE].vendor == "sqlite"
    assert any(on_postgresql.values())
    for name, rows in on_postgresql.items():
        assert on_sqlite[name] == rows, name
