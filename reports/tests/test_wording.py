"""Counts written in the reports in singular and plural (0, 1, 2)."""

from __future__ import annotations

from datetime import date

import pytest

from reports.charts import daily_chart
from reports.metrics import DayRow
from reports.tests.builders import play, utc
from sessions.tests.factories import build_version

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
DAY = "from=2026-02-10&to=2026-02-10"


@pytest.mark.parametrize(
    ("sessions", "title"),
    [(0, "10 Feb: 0 sessions"), (1, "10 Feb: 1 session (1 success)"), (2, "10 Feb: 2 sessions")],
    ids=["none", "one", "two"],
)
def test_it_counts_a_days_sessions_in_the_chart(sessions, title):
    success = 1 if sessions == 1 else 0
    active = sessions - success
    [bar] = daily_chart([DayRow(date(2026, 2, 10), sessions, success, 0, 0, 0, active)]).bars
    assert bar.title.startswith(title)


@pytest.fixture
def started(clock, alice):
    version = build_version()

    def make(count: int) -> None:
        for hour in range(count):
            play(
                version,
                alice,
                clock,
                at=utc(2, 10, hour + 1),
                moves=[(10, "No")],
                outcome_code="resolved",
                close_after=5,
            )
        clock.set(utc(2, 10, 9))

    return make


@pytest.mark.parametrize(
    ("count", "status", "desc"),
    [
        (0, "Report updated for 10 Feb 2026: 0 sessions.", ""),  # no chart: nothing started
        (1, "Report updated for 10 Feb 2026: 1 session.", "1 session in all"),
        (2, "Report updated for 10 Feb 2026: 2 sessions.", "2 sessions in all"),
    ],
    ids=["none", "one", "two"],
)
def test_it_counts_the_sessions_of_an_updated_report(charlie_client, started, count, status, desc):
    started(count)
    response = charlie_client.get(f"/reports/?{DAY}", **HTMX)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert status in response.text
    assert desc in response.text
    assert "1 sessions" not in response.text


@pytest.mark.parametrize(
    ("count", "sentence"),
    [
        (5, "is where 5 completed sessions ended without reaching a solution"),
        (6, "is where 6 completed sessions ended without reaching a solution"),
    ],
    ids=["five", "six"],
)
def test_it_counts_the_drop_offs_of_the_most_abandoned_step(
    charlie_client, clock, alice, count, sentence
):
    version = build_version()
    for hour in range(count):
        play(version, alice, clock, at=utc(2, 10, hour), outcome_code="cancelled", close_after=5)
    response = charlie_client.get(f"/reports/trees/vpn/?{DAY}")
    assert sentence in response.text


def test_it_says_the_previous_day_for_a_one_day_report(charlie_client, started):
    started(1)
    body = charlie_client.get(f"/reports/?{DAY}").text
    assert "Each figure but Active now is compared with the day before (9 Feb 2026)." in body
    assert "on the previous day" in body
    assert "previous 1 day" not in body
