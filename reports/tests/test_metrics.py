"""Every figure of SPEC §6 on a hand-built dataset, asserted exactly.

The dataset is described in `builders.build_dataset`. Expected values are worked
out by hand below. Continuous percentiles follow percentile_cont: for n values
pos = p × (n − 1) and the result is v[floor] + (pos − floor) × (v[ceil] − v[floor]);
where pos is not a whole number the expected value is written with that same
double arithmetic, so equality is exact on both databases.

These tests run on PostgreSQL and on SQLite (CI runs this module on both).
"""

from __future__ import annotations

import math
import random
import sqlite3
from dataclasses import replace
from datetime import date

import pytest
from django.db import connection

from reports import metrics, rollups
from reports.aggregates import PercentileCont, install_sqlite
from reports.metrics import (
    ChoiceShare,
    DayRow,
    EngineerRow,
    OutcomeRow,
    ReportFilter,
    SummaryRow,
    TreeRow,
)
from reports.tests.builders import (
    build_dataset,
    build_lifecycle_dataset,
    build_sparse_dataset,
    play,
    utc,
)
from sessions import services
from sessions.tests.factories import VPN_TREE, build_version
from trees.models import Node, TreeVersion

pytestmark = pytest.mark.django_db

FEB = ReportFilter(date(2026, 2, 1), date(2026, 2, 10))


@pytest.fixture
def data(clock, alice, bob):
    return build_dataset(clock, alice, bob)


# --- the filter ----------------------------------------------------------------------


def test_it_defaults_to_the_last_days_including_today(clock):
    report_filter = ReportFilter.last_days(30)
    assert (report_filter.date_from, report_filter.date_to) == (
        date(2026, 1, 12),
        date(2026, 2, 10),
    )
    assert report_filter.days == 30


def test_it_compares_with_the_period_of_equal_length_before():
    previous = FEB.previous()
    assert (previous.date_from, previous.date_to) == (date(2026, 1, 22), date(2026, 1, 31))


def test_it_refuses_a_range_that_ends_before_it_starts():
    with pytest.raises(ValueError):
        ReportFilter(date(2026, 2, 2), date(2026, 2, 1))


# --- summary ---------------------------------------------------------------------------


def test_it_sums_up_the_period(data):
    assert metrics.summary(FEB) == SummaryRow(
        sessions_started=11,  # 7 VPN + 3 printer + 1 mail; V8, V9 and the prepared one are out
        sessions_completed=9,
        sessions_active=2,  # V6, M1
        resolution_rate=4 / 7,  # resolved V1 V4 V7 P1 ÷ (4 + workaround V2 + V3, P3)
        escalation_rate=1 / 7,  # V3 ÷ the 7 non-neutral completed
        # durations 60 120 200 300 400 600 660 700 2400
        median_duration_seconds=400.0,
        p90_duration_seconds=700 + (0.9 * 8 - 7) * (2400 - 700),
        # VPN (2100 s): 1800 + 1500 + 1440 + 1400 + 1980 (V5, cancelled) + 0 (V7 took 2400)
        time_saved_seconds=8120,
    )


def test_it_sums_up_the_previous_period_in_the_same_query(data, django_assert_num_queries):
    with django_assert_num_queries(1):
        current, previous = metrics.summaries([FEB, FEB.previous()])
    assert current == metrics.summary(FEB)
    assert previous == SummaryRow(
        sessions_started=1,
        sessions_completed=1,
        sessions_active=2,  # V6, M1: active now, whichever period is asked for
        resolution_rate=1.0,
        escalation_rate=0.0,
        median_duration_seconds=1000.0,
        p90_duration_seconds=1000.0,
        time_saved_seconds=1100,
    )


def test_it_filters_by_tree_and_engineer(data, alice):
    vpn_alice = ReportFilter(FEB.date_from, FEB.date_to, tree=data.vpn.tree, engineer=alice)
    # V1 300 resolved, V3 660 escalated, V5 120 cancelled, V7 2400 resolved
    assert metrics.summary(vpn_alice) == SummaryRow(
        sessions_started=4,
        sessions_completed=4,
        sessions_active=0,
        resolution_rate=2 / 3,
        escalation_rate=1 / 3,
        median_duration_seconds=300 + 0.5 * (660 - 300),
        p90_duration_seconds=660 + (0.9 * 3 - 2) * (2400 - 660),
        time_saved_seconds=1800 + 1440 + 1980 + 0,
    )


@pytest.mark.parametrize(
    "days",
    [(date(2026, 2, 1), date(2026, 2, 10)), (date(2025, 6, 1), date(2025, 6, 30))],
    ids=["range-with-them", "range-without-them"],
)
def test_it_counts_the_sessions_active_now_whatever_the_dates(data, bob, days):
    start, end = days
    assert metrics.summary(ReportFilter(start, end)).sessions_active == 2  # V6, M1
    assert metrics.summary(ReportFilter(start, end, engineer=bob)).sessions_active == 1  # V6
    mail = ReportFilter(start, end, tree=data.mail.tree)
    assert metrics.summary(mail).sessions_active == 1  # M1
    assert metrics.summary(ReportFilter(start, end, tree=data.printer.tree)).sessions_active == 0


def test_it_counts_the_active_sessions_of_each_scope_in_the_same_query(
    data, bob, django_assert_num_queries
):
    everyone = FEB
    bobs = replace(FEB, engineer=bob)
    with django_assert_num_queries(1):
        rows = metrics.summaries([everyone, everyone.previous(), bobs, bobs.previous()])
    assert [row.sessions_active for row in rows] == [2, 2, 1, 1]
    assert [row.sessions_started for row in rows] == [11, 1, 5, 0]


def test_it_tells_a_range_in_the_future(clock):
    assert ReportFilter(date(2026, 2, 11), date(2026, 2, 20)).is_future()
    assert not ReportFilter(date(2026, 2, 10), date(2026, 2, 20)).is_future()


def test_it_counts_calendar_days_with_both_ends_included(data):
    first_day = metrics.summary(ReportFilter(date(2026, 2, 1), date(2026, 2, 1)))
    assert (first_day.sessions_started, first_day.median_duration_seconds) == (1, 200.0)  # P1
    day_after = metrics.summary(ReportFilter(date(2026, 2, 11), date(2026, 2, 11)))
    assert (day_after.sessions_started, day_after.median_duration_seconds) == (1, 20.0)  # V9


def test_it_uses_calendar_days_of_the_configured_time_zone(data, settings):
    # 1 February 00:00 UTC is still 31 January in New York, so P1 moves out of the range.
    settings.TIME_ZONE = "America/New_York"
    rollups.rebuild()  # the rollups count days in TIME_ZONE: a new zone needs a rebuild
    assert metrics.summary(FEB).sessions_started == 11 - 1 + 1  # loses P1, gains V9 (10 Feb 19:00)
    days = {row.day: row.sessions for row in metrics.daily(FEB)}
    assert days[date(2026, 2, 10)] == 3  # V7 (02:00 local), M1 (03:00) and V9 (19:00)
    assert date(2026, 2, 1) not in days


def test_it_answers_an_empty_range_with_zeros_and_no_rates(data):
    empty = ReportFilter(date(2025, 6, 1), date(2025, 6, 30))
    assert metrics.summary(empty) == SummaryRow(
        sessions_started=0,
        sessions_completed=0,
        sessions_active=2,  # V6, M1 are active now, whatever the range
        resolution_rate=None,
        escalation_rate=None,
        median_duration_seconds=None,
        p90_duration_seconds=None,
        time_saved_seconds=0,
    )
    assert metrics.trees(empty) == []
    assert metrics.engineers(empty) == []
    assert metrics.daily(empty) == []
    assert metrics.outcomes(empty) == []
    assert [
        row.visits
        for row in metrics.nodes(ReportFilter(empty.date_from, empty.date_to, tree=data.vpn.tree))
    ] == [0] * 5


def test_it_gives_a_single_session_as_every_percentile(clock, alice):
    version = build_version(VPN_TREE)
    play(
        version,
        alice,
        clock,
        at=utc(2, 3, 9),
        moves=[(70, "No")],
        outcome_code="resolved",
        close_after=53,
    )
    summary = metrics.summary(FEB)
    assert (summary.median_duration_seconds, summary.p90_duration_seconds) == (123.0, 123.0)
    nodes = {
        row.node_key: row
        for row in metrics.nodes(ReportFilter(FEB.date_from, FEB.date_to, tree=version.tree))
    }
    assert (
        nodes["client-installed"].median_dwell_seconds,
        nodes["client-installed"].p90_dwell_seconds,
    ) == (70.0, 70.0)


def test_it_leaves_neutral_outcomes_out_of_the_rates(clock, alice):
    version = build_version(VPN_TREE)
    play(version, alice, clock, at=utc(2, 3, 9), outcome_code="cancelled", close_after=30)
    play(version, alice, clock, at=utc(2, 4, 9), outcome_code="resolved_externally", close_after=90)
    summary = metrics.summary(FEB)
    assert (summary.sessions_completed, summary.resolution_rate, summary.escalation_rate) == (
        2,
        None,
        None,
    )
    assert summary.median_duration_seconds == 60.0
    [tree] = metrics.trees(FEB)
    assert (tree.resolution_rate, tree.escalation_rate, tree.dropoff_rate) == (None, None, 1.0)
    [engineer] = metrics.engineers(FEB)
    assert (engineer.resolution_rate, engineer.escalations) == (None, 0)


def test_it_never_counts_prepared_sessions(alice, charlie, clock):
    version = build_version(VPN_TREE)
    services.session_prepare(tree=version.tree, engineer=alice, by=charlie)
    wide = ReportFilter(date(2000, 1, 1), date(2100, 1, 1))
    assert metrics.summary(wide).sessions_started == 0
    assert metrics.trees(wide) == []
    assert metrics.daily(wide) == []


# --- trees -----------------------------------------------------------------------------


VPN_ROW = TreeRow(
    tree="vpn",
    tree_name="VPN won't connect",
    sessions=7,
    completed=6,
    resolution_rate=3 / 5,  # V1 V4 V7 ÷ V1 V2 V3 V4 V7 (V5 is neutral)
    escalation_rate=1 / 5,
    median_duration_seconds=600 + 0.5 * (660 - 600),  # 120 300 600 660 700 2400
    median_steps=3 + 0.5 * (4 - 3),  # 2 2 3 4 4 4
    dropoff_rate=2 / 6,  # V3 ended at works-now, V5 at reset-creds
)
PRINTER_ROW = TreeRow(
    tree="printer",
    tree_name="Printer will not print",
    sessions=3,
    completed=3,
    resolution_rate=1 / 2,  # P1 ÷ P1 P3
    escalation_rate=0.0,
    median_duration_seconds=200.0,  # 60 200 400
    median_steps=4.0,  # 2 4 4
    dropoff_rate=0.0,
)
MAIL_ROW = TreeRow(
    tree="mail",
    tree_name="Mailbox full",
    sessions=1,
    completed=0,
    resolution_rate=None,
    escalation_rate=None,
    median_duration_seconds=None,
    median_steps=None,
    dropoff_rate=None,
)


def test_it_reports_per_tree(data):
    assert metrics.trees(FEB) == [VPN_ROW, PRINTER_ROW, MAIL_ROW]


def test_it_sorts_the_trees_table(data):
    def order(sort):
        return [row.tree for row in metrics.trees(FEB, sort=sort)]

    assert order("name") == ["mail", "printer", "vpn"]
    assert order("-name") == ["vpn", "printer", "mail"]
    assert order("sessions") == ["mail", "printer", "vpn"]
    # Undefined figures sort last in both directions.
    assert order("resolution_rate") == ["printer", "vpn", "mail"]
    assert order("-resolution_rate") == ["vpn", "printer", "mail"]
    assert order("-median_duration_seconds") == ["vpn", "printer", "mail"]
    assert order("dropoff_rate") == ["printer", "vpn", "mail"]
    assert order("nonsense") == order("sessions")


# --- nodes -----------------------------------------------------------------------------


def test_it_reports_per_node_in_outline_order(data):
    rows = metrics.nodes(ReportFilter(FEB.date_from, FEB.date_to, tree=data.vpn.tree))
    got = [
        (
            r.node_key,
            r.node_kind,
            r.visits,
            r.median_dwell_seconds,
            r.p90_dwell_seconds,
            r.dropoffs,
            r.backtracks,
            r.is_slowest,
            r.is_most_abandoned,
        )
        for r in rows
    ]
    assert got == [
        # records 60 40 100 10(Back) 30 20 45 300: every one closed
        (
            "client-installed",
            "question",
            8,
            40 + 0.5 * (45 - 40),
            100 + (0.9 * 7 - 6) * (300 - 100),
            0,
            1,
            False,
            False,
        ),
        # 120 200 600 100(closed by cancelling) 1500, plus V6's open step
        ("reset-creds", "action", 6, 200.0, 600 + (0.9 * 4 - 3) * (1500 - 600), 1, 0, True, True),
        # 30 50(answered No, later undone) 300(closed by escalating) 20 200
        ("works-now", "question", 5, 50.0, 200 + (0.9 * 4 - 3) * (300 - 200), 1, 0, False, True),
        ("install-client", "solution", 1, 560.0, 560.0, 0, 0, False, False),
        # 90 50 400: the longest dwell, but a solution's dwell is the fix itself
        ("done", "solution", 3, 90.0, 90 + (0.9 * 2 - 1) * (400 - 90), 0, 0, False, False),
    ]
    assert [r.node_title for r in rows][:2] == [
        "Is the VPN client installed?",
        "Reset the VPN credentials",
    ]
    shares = {r.node_key: r.choices for r in rows}
    assert shares["client-installed"] == [ChoiceShare("Yes", 6, 6 / 7), ChoiceShare("No", 1, 1 / 7)]
    assert shares["works-now"] == [ChoiceShare("Yes", 3, 3 / 4), ChoiceShare("No", 1, 1 / 4)]
    assert shares["reset-creds"] == shares["done"] == []


def test_it_names_the_slowest_and_most_abandoned_only_among_steps_visited_enough(clock, alice):
    vpn = build_sparse_dataset(clock, alice)
    rows = metrics.nodes(ReportFilter(date(2026, 2, 1), date(2026, 2, 10), tree=vpn.tree))
    got = {r.node_key: (r.visits, r.median_dwell_seconds, r.dropoffs) for r in rows}
    # reset-creds is the slowest by far and works-now the only drop-off, each visited once.
    assert got["reset-creds"] == (1, 900.0, 0)
    assert got["works-now"] == (1, 5.0, 1)
    assert got["client-installed"] == (6, 10.0, 0)
    assert metrics.FINDING_MIN_VISITS == 5
    assert [r.node_key for r in rows if r.is_slowest] == ["client-installed"]
    assert [r.node_key for r in rows if r.is_most_abandoned] == []


def test_it_names_no_slowest_step_when_none_has_enough_visits(data, bob):
    # bob's VPN steps: client-installed 3 visits, reset-creds 2 (median 600 s), works-now 1.
    rows = metrics.nodes(ReportFilter(FEB.date_from, FEB.date_to, tree=data.vpn.tree, engineer=bob))
    assert max(r.visits for r in rows) < metrics.FINDING_MIN_VISITS
    assert not any(r.is_slowest or r.is_most_abandoned for r in rows)


def test_it_filters_nodes_by_engineer(data, bob):
    rows = metrics.nodes(ReportFilter(FEB.date_from, FEB.date_to, tree=data.vpn.tree, engineer=bob))
    # V2: No 40, install-client 560; V4: Yes 30, Done 600, Yes 20, done 50; V6: Yes 45, open
    assert [(r.node_key, r.visits, r.median_dwell_seconds) for r in rows] == [
        ("client-installed", 3, 40.0),
        ("reset-creds", 2, 600.0),
        ("works-now", 1, 20.0),
        ("install-client", 1, 560.0),
        ("done", 1, 50.0),
    ]
    assert not any(r.is_most_abandoned for r in rows)


def test_it_combines_versions_by_node_key_and_can_show_one(clock, alice):
    v1 = build_version(VPN_TREE)
    play(
        v1,
        alice,
        clock,
        at=utc(2, 2, 9),
        moves=[(10, "Yes"), (20, "Done"), (30, "Yes")],
        outcome_code="resolved",
        close_after=40,
    )
    # Version 2 drops reset-creds for a new flush-dns step placed first.
    spec = {
        **VPN_TREE,
        "start": "flush-dns",
        "nodes": [
            {
                "key": "flush-dns",
                "kind": "action",
                "title": "Flush DNS",
                "next": "client-installed",
            },
            {
                "key": "client-installed",
                "kind": "question",
                "title": "Is it installed?",
                "choices": [
                    {"label": "Yes", "next": "works-now"},
                    {"label": "No", "next": "install-client"},
                ],
            },
            {
                "key": "works-now",
                "kind": "question",
                "title": "Does it connect now?",
                "choices": [
                    {"label": "Yes", "next": "done"},
                    {"label": "No", "next": "client-installed"},
                ],
            },
            {"key": "install-client", "kind": "solution", "title": "Install the VPN client"},
            {"key": "done", "kind": "solution", "title": "Fixed"},
        ],
    }
    TreeVersion.objects.filter(pk=v1.pk).update(status=TreeVersion.Status.RETIRED)
    v2 = build_version(spec, tree=v1.tree, number=2)
    play(
        v2,
        alice,
        clock,
        at=utc(2, 3, 9),
        moves=[(5, "Done"), (15, "Yes"), (25, "Yes")],
        outcome_code="resolved",
        close_after=35,
    )
    report_filter = ReportFilter(FEB.date_from, FEB.date_to, tree=v1.tree)

    combined = metrics.nodes(report_filter)
    # The published version's outline first, then keys it no longer has.
    assert [(r.node_key, r.visits, r.median_dwell_seconds, r.in_outline) for r in combined] == [
        ("flush-dns", 1, 5.0, True),
        ("client-installed", 2, 10 + 0.5 * (15 - 10), True),
        ("works-now", 2, 25 + 0.5 * (30 - 25), True),
        ("install-client", 0, None, True),
        ("done", 2, 35 + 0.5 * (40 - 35), True),
        ("reset-creds", 1, 20.0, False),
    ]
    assert combined[-1].node_title == "Reset the VPN credentials"
    assert combined[-1].node_kind == Node.Kind.ACTION

    only_v1 = metrics.nodes(replace(report_filter, version=1))
    assert [(r.node_key, r.visits) for r in only_v1] == [
        ("client-installed", 1),
        ("reset-creds", 1),
        ("works-now", 1),
        ("install-client", 0),
        ("done", 1),
    ]


def test_it_needs_a_tree_for_the_nodes_table():
    with pytest.raises(ValueError):
        metrics.nodes(FEB)


# --- engineers, days, outcomes -----------------------------------------------------------


def test_it_reports_per_engineer(data, alice, bob):
    alice.first_name, alice.last_name = "Alice", "Archer"
    alice.save()
    assert metrics.engineers(FEB) == [
        # V1 V3 V5 V7 P2 M1; judged V1 V3 V7; durations 60 120 300 660 2400
        # step time: the completed ones' steps, 60 + 120 + 300 + 660 + 2400
        EngineerRow("alice", "Alice Archer", 6, 2 / 3, 300.0, 1, 0, 3540),
        # V2 V4 V6 P1 P3; judged V2 V4 P1 P3; durations 200 400 600 700
        # step time: 200 + 400 + 600 + 700, and the 45 s closed step of an active one
        EngineerRow("bob", "", 5, 2 / 4, 400 + 0.5 * (600 - 400), 0, 0, 1945),
    ]


def test_it_counts_sessions_per_day_by_outcome_kind(data):
    def day(n, sessions, success=0, partial=0, failure=0, neutral=0, active=0):
        return DayRow(date(2026, 2, n), sessions, success, partial, failure, neutral, active)

    expected = [
        day(1, 1, success=1),  # P1
        day(2, 1, success=1),  # V1
        day(3, 1, partial=1),  # V2
        day(4, 1, failure=1),  # V3
        day(5, 1, success=1),  # V4
        day(6, 2, neutral=2),  # V5, P2
        day(8, 1, failure=1),  # P3
        day(9, 1, active=1),  # V6
        day(10, 2, success=1, active=1),  # V7, M1
    ]
    assert metrics.daily(FEB) == expected
    series = metrics.daily_series(FEB)
    assert len(series) == 10
    assert series[6] == day(7, 0)
    assert [row for row in series if row.sessions] == expected


def test_it_counts_the_outcome_distribution(data):
    assert metrics.outcomes(FEB) == [
        OutcomeRow("resolved", "Resolved", "success", 4, 4 / 9),
        OutcomeRow("escalated", "Escalated", "failure", 1, 1 / 9),
        OutcomeRow("workaround", "Workaround", "partial", 1, 1 / 9),
        OutcomeRow("unresolved", "Unresolved", "failure", 1, 1 / 9),
        OutcomeRow("cancelled", "Cancelled", "neutral", 1, 1 / 9),
        OutcomeRow("resolved_externally", "Resolved externally", "neutral", 1, 1 / 9),
    ]


def test_it_reports_a_tree_with_no_completed_sessions_without_rates(data):
    mail = ReportFilter(FEB.date_from, FEB.date_to, tree=data.mail.tree)
    assert metrics.trees(mail) == [MAIL_ROW]
    summary = metrics.summary(mail)
    assert (
        summary.sessions_started,
        summary.sessions_active,
        summary.resolution_rate,
        summary.median_duration_seconds,
        summary.time_saved_seconds,
    ) == (1, 1, None, None, 0)
    [check, archived] = metrics.nodes(mail)
    assert (check.visits, check.median_dwell_seconds, check.dropoffs) == (1, None, 0)
    assert (archived.visits, archived.is_slowest, archived.is_most_abandoned) == (0, False, False)


# --- percentiles -----------------------------------------------------------------------


def _python_percentile_cont(values: list[int], fraction: float) -> float:
    """PostgreSQL's percentile_cont, step for step (float8_lerp)."""
    values = sorted(values)
    pos = fraction * (len(values) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    if lo == hi:
        return float(values[lo])
    return values[lo] + (pos - lo) * (values[hi] - values[lo])


def _samples() -> dict[int, list[int]]:
    rng = random.Random(2026)
    groups = {n: [rng.randrange(0, 4000) for _ in range(n)] for n in range(1, 41)}
    groups[41] = [7] * 5  # all equal
    groups[42] = [0, 1]
    groups[43] = [3, 3, 3, 900]  # ties at the floor
    return groups


FRACTIONS = {"p10": 0.1, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9, "p99": 0.99}


def _sqlite_percentiles(groups: dict[int, list[int | None]], fractions: list[float]) -> dict:
    """The SQLite aggregate behind PercentileCont, on a connection of its own."""
    db = sqlite3.connect(":memory:")
    install_sqlite(db)
    db.execute("CREATE TABLE data (g INTEGER, v INTEGER)")
    db.executemany(
        "INSERT INTO data VALUES (?, ?)", [(g, v) for g, vs in groups.items() for v in vs]
    )
    columns = ", ".join("percentile_cont(v, ?)" for _ in fractions)
    rows = db.execute(f"SELECT g, {columns} FROM data GROUP BY g", fractions).fetchall()
    db.close()
    return {row[0]: row[1:] for row in rows}


def test_the_sqlite_aggregate_computes_exactly_like_percentile_cont():
    groups = _samples()
    got = _sqlite_percentiles(groups, list(FRACTIONS.values()))
    for group, values in groups.items():
        expected = tuple(_python_percentile_cont(values, f) for f in FRACTIONS.values())
        assert got[group] == expected, (group, values)


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        pytest.param([42], 0.5, 42.0, id="one-value"),
        pytest.param([42], 0.9, 42.0, id="one-value-p90"),
        pytest.param([10, 20], 0.5, 15.0, id="two-values"),
        pytest.param([10, 20], 0.9, 10 + 0.9 * 10, id="two-values-p90"),
        pytest.param([30, 10, 20], 0.0, 10.0, id="p0-is-the-minimum"),
        pytest.param([30, 10, 20], 1.0, 30.0, id="p1-is-the-maximum"),
        pytest.param([1, 2, 3, 4], 0.5, 2.5, id="even-count"),
        # SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY v)
        #   FROM (VALUES (60), (120), (200), (300), (400), (600), (660), (700), (2400)) t (v)
        pytest.param(
            [60, 120, 200, 300, 400, 600, 660, 700, 2400],
            0.9,
            700 + (0.9 * 8 - 7) * 1700,
            id="p90-of-9",
        ),
        pytest.param([None, 5, None, 7], 0.5, 6.0, id="nulls-ignored"),
        pytest.param([None, None], 0.5, None, id="only-nulls"),
    ],
)
def test_the_sqlite_aggregate_gives_percentile_conts_values(values, fraction, expected):
    assert _sqlite_percentiles({1: values}, [fraction]) == {1: (expected,)}


def test_the_sqlite_aggregate_answers_no_rows_with_null():
    db = sqlite3.connect(":memory:")
    install_sqlite(db)
    db.execute("CREATE TABLE data (v INTEGER)")
    assert db.execute("SELECT percentile_cont(v, 0.5) FROM data").fetchone() == (None,)


def test_the_sqlite_aggregate_refuses_a_fraction_outside_0_to_1():
    with pytest.raises(sqlite3.OperationalError):
        _sqlite_percentiles({1: [1, 2]}, [1.5])
    with pytest.raises(ValueError):
        PercentileCont("duration_seconds", -0.1)


def test_every_connection_of_the_database_has_the_aggregate():
    vendor_sql = {
        "postgresql": "SELECT percentile_cont(0.25) WITHIN GROUP (ORDER BY v) "
        "FROM (VALUES (1), (2), (4), (NULL)) t (v)",
        "sqlite": "SELECT percentile_cont(v, 0.25) FROM (SELECT 1 AS v UNION ALL SELECT 2 "
        "UNION ALL SELECT 4 UNION ALL SELECT NULL)",
    }
    with connection.cursor() as cursor:
        cursor.execute(vendor_sql[connection.vendor])
        assert cursor.fetchone() == (1.5,)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="percentile_cont is PostgreSQL's")
def test_the_reference_matches_postgresql_percentile_cont_bit_for_bit():
    groups = _samples()
    values = ", ".join(f"({group}, {value})" for group, vs in groups.items() for value in vs)
    aggregates = ", ".join(
        f"percentile_cont({fraction}) WITHIN GROUP (ORDER BY v)" for fraction in FRACTIONS.values()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH data (g, v) AS (VALUES {values}) SELECT g, {aggregates} FROM data GROUP BY g"
        )
        native = {row[0]: row[1:] for row in cursor.fetchall()}
    assert native == {
        group: tuple(_python_percentile_cont(values, f) for f in FRACTIONS.values())
        for group, values in groups.items()
    }


# --- active time and hand-offs (SPEC §9) ------------------------------------------------


def test_it_counts_active_time_and_attributes_step_time_to_who_took_it(clock, alice, bob):
    mail = build_lifecycle_dataset(clock, alice, bob)
    march = ReportFilter(date(2026, 3, 1), date(2026, 3, 31))

    summary = metrics.summary(march)
    # Active times 130, 150, 1,820 (wall clock 730, 150, 7,230).
    assert (summary.median_duration_seconds, summary.p90_duration_seconds) == (
        150.0,
        150 + 0.8 * (1820 - 150),
    )
    # Baseline 1,200 s: (1,200 − 130) + (1,200 − 150) + 0.
    assert summary.time_saved_seconds == 1070 + 1050
    rows = {row.engineer: row for row in metrics.engineers(march)}
    # alice owns M1 (M2 went to bob); her steps: M1's 90 + 40, M2's first 100.
    assert (rows["alice"].sessions, rows["alice"].handoffs, rows["alice"].step_seconds) == (
        1,
        1,
        230,
    )
    # bob: M2's 50 and M3's 20 + 1,800.
    assert (rows["bob"].sessions, rows["bob"].handoffs, rows["bob"].step_seconds) == (2, 0, 1870)
    assert rows["bob"].median_duration_seconds == (150 + 1820) / 2
    nodes = {row.node_key: row for row in metrics.nodes(replace(march, tree=mail.tree))}
    # check-size: active dwell 90 (paused 600 left out), 100, 50, 20.
    assert (nodes["check-size"].visits, nodes["check-size"].median_dwell_seconds) == (4, 70.0)
    assert nodes["check-size"].p90_dwell_seconds == 90 + 0.7 * (100 - 90)
    assert nodes["check-size"].dropoffs == 1  # M2 ended on it
    assert (nodes["archived"].visits, nodes["archived"].median_dwell_seconds) == (2, 920.0)
