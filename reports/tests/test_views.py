from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext

from reports.presentation import home_kpis
from reports.tests.builders import build_dataset, build_history, build_sparse_dataset, play, utc
from resolutionflow.tests.factories import UserFactory
from sessions.tests.factories import VPN_TREE, build_version

pytestmark = pytest.mark.django_db

FEB = "from=2026-02-01&to=2026-02-10"


@pytest.fixture
def data(clock, alice, bob):
    return build_dataset(clock, alice, bob)


def kpi(response, key: str):
    return next(tile for tile in response.context["kpis"] if tile.key == key)


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


# --- access ------------------------------------------------------------------------


def test_it_sends_anonymous_visitors_to_log_in(client):
    response = client.get("/reports/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", ["/reports/", "/reports/trees/vpn/", "/reports/trees.csv"])
def test_it_tells_engineers_reports_are_for_managers(alice_client, data, url):
    response = alice_client.get(url)
    assert response.status_code == 403
    assert "Reports are for managers" in response.content.decode()
    assert "ask your ResolutionFlow administrator" in response.content.decode()


def test_it_refuses_other_methods(charlie_client):
    assert charlie_client.post("/reports/").status_code == 405
    assert charlie_client.post("/reports/trees.csv").status_code == 405


def test_it_opens_for_superusers(admin_client_logged_in, clock):
    assert admin_client_logged_in.get("/reports/").status_code == 200


# --- overview ----------------------------------------------------------------------


def test_it_defaults_to_the_last_30_days(charlie_client, data):
    response = charlie_client.get("/reports/")
    assert response.status_code == 200
    report_filter = response.context["report_filter"]
    assert report_filter.date_from == date(2026, 1, 12)
    assert report_filter.date_to == date(2026, 2, 10)
    # V8 (25 Jan) is in these 30 days too, V9 (11 Feb) is not.
    assert kpi(response, "sessions_started").value == "12"
    body = response.content.decode()
    assert "<html" in body
    assert 'aria-current="true">Last 30 days' in body


def test_it_shows_the_period_with_comparisons(charlie_client, data):
    response = charlie_client.get(f"/reports/?{FEB}")
    tiles = {tile.key: tile for tile in response.context["kpis"]}
    assert tiles["sessions_started"].value == "11"
    assert (tiles["sessions_started"].direction, tiles["sessions_started"].change) == ("up", "10")
    assert tiles["resolution_rate"].value == "57.1%"
    assert (tiles["resolution_rate"].direction, tiles["resolution_rate"].change) == (
        "down",
        "42.9 pts",
    )
    assert tiles["resolution_rate"].tone == "negative"
    assert tiles["escalation_rate"].previous == "0.0%"
    assert tiles["median_duration_seconds"].value == "6m 40s"
    assert (tiles["median_duration_seconds"].direction, tiles["median_duration_seconds"].tone) == (
        "down",
        "positive",
    )
    assert tiles["time_saved_seconds"].value == "2h 15m"  # 8120 s
    body = response.content.decode()
    assert "Down 42.9 pts" in body
    assert "vs 100.0% in the previous 10 days" in body
    assert "1–10 Feb 2026" in body


@pytest.mark.parametrize(
    "query",
    [FEB, "from=2025-06-01&to=2025-06-30", "from=2026-02-11&to=2026-02-20", ""],
    ids=["february", "long-ago", "future", "default"],
)
def test_it_shows_the_sessions_active_now_without_a_comparison(charlie_client, data, query):
    response = charlie_client.get(f"/reports/?{query}")
    tile = kpi(response, "sessions_active")
    assert (tile.value, tile.direction, tile.change, tile.tone) == ("2", "now", "", "")  # V6, M1
    html = _tile_html(response, "sessions_active")
    assert "Open at this moment, whatever the dates" in html
    assert "vs " not in html
    assert "in the previous" not in html
    assert "Up" not in html


def test_it_counts_the_active_sessions_of_the_chosen_tree_and_engineer(charlie_client, data):
    response = charlie_client.get("/reports/?from=2025-06-01&to=2025-06-30&engineer=bob")
    assert kpi(response, "sessions_active").value == "1"  # V6
    response = charlie_client.get("/reports/?tree=mail")
    assert kpi(response, "sessions_active").value == "1"  # M1


def _tile_html(response, key: str) -> str:
    body = response.content.decode()
    start = body.index(f'data-kpi="{key}"')
    return body[start : body.index('data-kpi="', start + 1)]


@pytest.mark.parametrize("url", ["/reports/", "/reports/trees/vpn/"])
def test_it_says_a_range_in_the_future_has_nothing_yet(charlie_client, data, url):
    future = charlie_client.get(f"{url}?from=2026-02-11&to=2026-03-12")
    assert future.status_code == 200
    assert "This range is in the future: nothing has happened yet." in future.text
    for query in (FEB, "from=2026-02-10&to=2026-02-20"):  # includes today: not the future
        assert "This range is in the future" not in charlie_client.get(f"{url}?{query}").text


@pytest.mark.parametrize(
    ("query", "sentence"),
    [
        (FEB, "vs 1 in the previous 10 days"),
        ("from=2026-02-10&to=2026-02-10", "vs 1 on the previous day"),  # V6 on 9 Feb
    ],
    ids=["days", "one-day"],
)
def test_it_names_the_previous_period_in_words(charlie_client, data, query, sentence):
    assert sentence in _tile_html(charlie_client.get(f"/reports/?{query}"), "sessions_started")


def test_it_lists_trees_with_links_to_their_drill_down(charlie_client, data):
    response = charlie_client.get(f"/reports/?{FEB}")
    rows = response.context["tree_rows"]
    assert [item["row"].tree for item in rows] == ["vpn", "printer", "mail"]
    assert rows[0]["url"] == f"/reports/trees/vpn/?{FEB}"
    body = response.content.decode()
    assert f'href="/reports/trees/vpn/?{FEB.replace("&", "&amp;")}"' in body
    # Mail has no completed sessions: its rates are shown as undefined, not 0.
    assert response.context["tree_rows"][2]["row"].resolution_rate is None


def test_it_links_engineers_to_their_history(charlie_client, data):
    response = charlie_client.get(f"/reports/?{FEB}")
    urls = [item["url"] for item in response.context["engineer_rows"]]
    assert urls == [
        f"/sessions/?{FEB}&engineer=alice",
        f"/sessions/?{FEB}&engineer=bob",
    ]


def test_it_filters_by_tree_and_engineer(charlie_client, data):
    response = charlie_client.get(f"/reports/?{FEB}&tree=vpn&engineer=alice")
    assert kpi(response, "sessions_started").value == "4"
    assert [item["row"].tree for item in response.context["tree_rows"]] == ["vpn"]
    assert [item["row"].engineer for item in response.context["engineer_rows"]] == ["alice"]
    body = response.content.decode()
    assert '<option value="vpn" selected>' in body
    assert '<option value="alice" selected>' in body
    assert response.context["csv"]["trees"] == f"/reports/trees.csv?{FEB}&tree=vpn&engineer=alice"


def test_it_sorts_the_trees_table_with_links(charlie_client, data):
    response = charlie_client.get(f"/reports/?{FEB}&sort=name")
    assert [item["row"].tree for item in response.context["tree_rows"]] == [
        "mail",
        "printer",
        "vpn",
    ]
    columns = {column["key"]: column for column in response.context["tree_columns"]}
    assert columns["name"]["aria_sort"] == "ascending"
    assert columns["name"]["url"].endswith("sort=-name")  # a second click reverses
    assert columns["resolution_rate"]["url"].endswith("sort=-resolution_rate")
    assert 'aria-sort="ascending"' in response.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=yesterday", "From “yesterday” was ignored: it is not a date (use YYYY-MM-DD)."),
        ("to=2026-02-31", "To “2026-02-31” was ignored"),
        ("from=1066-10-14", "it is outside 2000–2999."),
        ("from=2026-02-10&to=2026-02-01", "To “2026-02-01” was ignored: it is before “From”."),
        ("from=2020-01-01&to=2026-02-01", "A report covers at most 1827 days."),
        ("tree=nope", "Tree “nope” was ignored: there is no such choice."),
        ("engineer=mallory", "Engineer “mallory” was ignored"),
        ("sort=price", "Sort “price” was ignored"),
    ],
)
def test_it_explains_bad_filters_and_uses_the_defaults(charlie_client, data, query, message):
    response = charlie_client.get(f"/reports/?{query}")
    assert response.status_code == 200
    assert any(message in text for text in response.context["resolved"].ignored)
    assert message in response.content.decode()
    report_filter = response.context["report_filter"]
    assert report_filter.tree is None and report_filter.engineer is None
    assert report_filter.days <= 1827


def test_it_keeps_the_start_when_the_end_is_before_it(charlie_client, data):
    """The history's rule: only the date that breaks it is dropped."""
    response = charlie_client.get("/reports/?from=2026-02-05&to=2026-02-01")
    report_filter = response.context["report_filter"]
    assert report_filter.date_from == date(2026, 2, 5)
    assert report_filter.date_to >= report_filter.date_from


def test_it_keeps_the_good_filters_when_one_is_bad(charlie_client, data):
    response = charlie_client.get(f"/reports/?{FEB}&tree=nope&engineer=bob")
    report_filter = response.context["report_filter"]
    assert (report_filter.date_from, report_filter.engineer.username) == (date(2026, 2, 1), "bob")
    assert report_filter.tree is None


def test_it_answers_htmx_with_the_report_region_only(charlie_client, data):
    response = charlie_client.get(f"/reports/?{FEB}&tree=printer", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert body.lstrip().startswith('<div id="report"')
    assert 'hx-swap-oob="innerHTML:#report-status"' in body
    assert "Report updated for 1–10 Feb 2026: 3 sessions." in body
    assert "HX-Request" in response["Vary"]


def test_it_renders_accessible_charts_without_inline_styles(charlie_client, data):
    body = charlie_client.get(f"/reports/?{FEB}").content.decode()
    assert body.count('role="img"') == 2
    assert '<title id="daily-title">' in body and '<desc id="daily-desc">' in body
    assert "<caption>Sessions started per day by outcome kind, 1–10 Feb 2026</caption>" in body
    assert 'class="kind-neutral"' in body
    assert "style=" not in body
    assert "<script>" not in body


def test_it_shows_an_empty_period_without_errors(charlie_client, data):
    response = charlie_client.get("/reports/?from=2025-06-01&to=2025-06-30")
    body = response.content.decode()
    assert response.status_code == 200
    assert "No sessions were started on any tree in this period." in body
    assert "No sessions were started in this period." in body
    assert kpi(response, "resolution_rate").value == "—"


# --- drill-down ------------------------------------------------------------------------


def test_it_drills_down_into_a_tree(charlie_client, data):
    response = charlie_client.get(f"/reports/trees/vpn/?{FEB}")
    assert response.status_code == 200
    rows = response.context["node_rows"]
    assert [row.node_key for row in rows] == [
        "client-installed",
        "reset-creds",
        "works-now",
        "install-client",
        "done",
    ]
    body = response.content.decode()
    assert "Slowest" in body and "Most abandoned" in body
    assert "85.7%" in body  # "Yes" at client-installed: 6 of 7
    assert response.context["csv_url"] == f"/reports/nodes.csv?{FEB}&tree=vpn"
    assert response.context["overview_url"] == f"/reports/?{FEB}"


def test_it_names_the_slowest_and_most_abandoned_among_steps_with_enough_visits(
    charlie_client, data
):
    body = charlie_client.get(f"/reports/trees/vpn/?{FEB}").text
    assert (
        "<strong>Reset the VPN credentials</strong> holds engineers longest among steps with "
        "at least 5 visits: half of the visits take 3m 20s or more"
    ) in body
    assert (
        "is where 1 completed session ended without reaching a solution, "
        "the most among steps with at least 5 visits."
    ) in body


def test_it_says_when_no_step_has_enough_visits_to_be_named(charlie_client, data):
    # bob's VPN steps: client-installed 3 visits, reset-creds 2 (median 600 s), works-now 1.
    response = charlie_client.get(f"/reports/trees/vpn/?{FEB}&engineer=bob")
    assert response.context["slowest"] == response.context["most_abandoned"] == []
    body = response.text
    assert (
        "No question or action has at least 5 visits in this period yet, "
        "so none is named the slowest."
    ) in body
    assert (
        "No step with at least 5 visits is where a completed session ended without reaching a "
        "solution."
    ) in body
    assert 'class="report-tag report-tag-slow">Slowest</span>' not in _steps_table(body)


def test_it_does_not_name_a_step_visited_once_the_slowest(charlie_client, clock, alice):
    build_sparse_dataset(clock, alice)
    response = charlie_client.get("/reports/trees/vpn/?from=2026-02-01&to=2026-02-10")
    assert [row.node_key for row in response.context["slowest"]] == ["client-installed"]
    assert response.context["most_abandoned"] == []
    body = response.text
    assert "<strong>Is the VPN client installed?</strong> holds engineers longest" in body
    assert "<strong>Reset the VPN credentials</strong>" not in body


def test_it_names_no_findings_for_a_period_without_sessions(charlie_client, data):
    body = charlie_client.get("/reports/trees/vpn/?from=2000-01-01&to=2000-01-31").text
    assert 'data-testid="findings"' not in body


def _steps_table(body: str) -> str:
    return body[body.index('data-testid="steps-table"') :]


def test_it_drills_down_into_one_version_and_one_engineer(charlie_client, data):
    response = charlie_client.get(f"/reports/trees/vpn/?{FEB}&version=1&engineer=bob")
    assert response.context["report_filter"].version == 1
    assert response.context["tree_row"].sessions == 3
    response = charlie_client.get(f"/reports/trees/vpn/?{FEB}&version=7")
    assert response.context["report_filter"].version is None
    assert "Version “7” was ignored" in response.content.decode()


def test_it_answers_an_unknown_tree_with_404(charlie_client, clock):
    assert charlie_client.get("/reports/trees/nope/").status_code == 404


def test_it_drills_down_into_a_tree_with_no_completed_sessions(charlie_client, data):
    response = charlie_client.get(f"/reports/trees/mail/?{FEB}")
    assert response.status_code == 200
    assert response.context["tree_row"].resolution_rate is None
    assert response.context["slowest"] == response.context["most_abandoned"] == []


def test_it_drills_down_into_a_tree_with_no_sessions_in_the_range(charlie_client, data):
    response = charlie_client.get("/reports/trees/mail/?from=2000-01-01&to=2000-01-31")

    assert response.status_code == 200
    assert response.context["tree_row"] is None
    assert "Resolution rate" in response.text


# --- CSV ------------------------------------------------------------------------------


def test_it_downloads_the_summary(charlie_client, data):
    response = charlie_client.get(f"/reports/summary.csv?{FEB}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="resolutionflow-summary-2026-02-01-to-2026-02-10.csv"'
    )
    assert read_csv(response) == [
        [
            "sessions_started",
            "sessions_completed",
            "sessions_active",
            "resolution_rate",
            "escalation_rate",
            "median_duration_seconds",
            "p90_duration_seconds",
            "time_saved_seconds",
        ],
        ["11", "9", "2", "0.5714", "0.1429", "400", "1040", "8120"],
    ]


def test_it_downloads_the_trees_with_empty_undefined_rates(charlie_client, data):
    rows = read_csv(charlie_client.get(f"/reports/trees.csv?{FEB}"))
    assert rows == [
        [
            "tree",
            "tree_name",
            "sessions",
            "completed",
            "resolution_rate",
            "escalation_rate",
            "median_duration_seconds",
            "median_steps",
            "dropoff_rate",
        ],
        ["vpn", "VPN won't connect", "7", "6", "0.6000", "0.2000", "630", "3.5", "0.3333"],
        ["printer", "Printer will not print", "3", "3", "0.5000", "0.0000", "200", "4", "0.0000"],
        ["mail", "Mailbox full", "1", "0", "", "", "", "", ""],
    ]


def test_it_downloads_the_nodes_of_a_tree(charlie_client, data):
    response = charlie_client.get(f"/reports/nodes.csv?{FEB}&tree=vpn")
    rows = read_csv(response)
    assert rows[0] == [
        "node_key",
        "node_title",
        "node_kind",
        "visits",
        "median_dwell_seconds",
        "p90_dwell_seconds",
        "dropoffs",
        "backtracks",
        "choice_shares",
    ]
    assert rows[1] == [
        "client-installed",
        "Is the VPN client installed?",
        "question",
        "8",
        "42.5",
        "160",
        "0",
        "1",
        "Yes=0.8571; No=0.1429",
    ]
    assert rows[2][:8] == [
        "reset-creds",
        "Reset the VPN credentials",
        "action",
        "6",
        "200",
        "1140",
        "1",
        "0",
    ]
    assert (
        "resolutionflow-nodes-vpn-2026-02-01-to-2026-02-10.csv" in (response["Content-Disposition"])
    )


def test_it_needs_a_tree_for_the_nodes_csv(charlie_client, data):
    response = charlie_client.get(f"/reports/nodes.csv?{FEB}")
    assert response.status_code == 400
    assert "The nodes table is per tree: add tree=<slug>" in response.content.decode()


def test_it_downloads_engineers_days_and_outcomes(charlie_client, data):
    assert read_csv(charlie_client.get(f"/reports/engineers.csv?{FEB}")) == [
        [
            "engineer",
            "engineer_name",
            "sessions",
            "resolution_rate",
            "median_duration_seconds",
            "escalations",
            "handoffs",
            "step_seconds",
        ],
        ["alice", "", "6", "0.6667", "300", "1", "0", "3540"],
        ["bob", "", "5", "0.5000", "500", "0", "0", "1945"],
    ]
    days = read_csv(charlie_client.get(f"/reports/daily.csv?{FEB}"))
    assert days[0] == ["day", "sessions", "success", "partial", "failure", "neutral", "active"]
    assert len(days) == 11
    assert days[7] == ["2026-02-07", "0", "0", "0", "0", "0", "0"]
    assert days[10] == ["2026-02-10", "2", "1", "0", "0", "0", "1"]
    outcomes = read_csv(charlie_client.get(f"/reports/outcomes.csv?{FEB}"))
    assert outcomes[1] == ["resolved", "Resolved", "success", "4", "0.4444"]


def test_it_refuses_a_csv_with_bad_filters(charlie_client, data):
    response = charlie_client.get("/reports/trees.csv?from=2026-02-10&to=2026-02-01")
    assert response.status_code == 400
    assert "To “2026-02-01” was ignored: it is before “From”." in response.content.decode()
    assert charlie_client.get("/reports/secrets.csv").status_code == 404


def test_it_defuses_spreadsheet_formulas_in_csv_text(charlie_client, clock, alice):
    version = build_version({**VPN_TREE, "slug": "formula", "name": "=HYPERLINK(1)"})
    play(version, alice, clock, at=utc(2, 3, 9), outcome_code="resolved", close_after=5)
    rows = read_csv(charlie_client.get(f"/reports/trees.csv?{FEB}"))
    assert rows[1][1] == "'=HYPERLINK(1)"


# --- query budget ----------------------------------------------------------------------


def _overview_queries(client, query: str = "") -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/reports/?{query}").status_code == 200
    return len(captured.captured_queries)


def test_it_runs_a_fixed_number_of_queries_whatever_the_data(
    charlie_client, clock, alice, bob, django_assert_max_num_queries
):
    engineers = [alice, bob, UserFactory(username="carol", groups=["Engineers"])]
    build_history(clock, engineers, count=6, days=20)
    small = _overview_queries(charlie_client)
    filtered_small = _overview_queries(charlie_client, "tree=vpn&engineer=alice&sort=name")

    build_history(
        clock,
        engineers + [UserFactory(username="dave", groups=["Engineers"])],
        count=60,
        days=30,
        seed=11,
    )
    with django_assert_max_num_queries(12):
        charlie_client.get("/reports/")
    assert _overview_queries(charlie_client) == small
    assert _overview_queries(charlie_client, "tree=vpn&engineer=alice&sort=name") == (
        filtered_small
    )
    assert small <= 12


# --- the manager's home panel ------------------------------------------------------------


def test_it_gives_the_home_page_the_last_7_days_in_one_query(data, django_assert_num_queries):
    with django_assert_num_queries(1):
        kpis = home_kpis()
    assert (kpis.filter.date_from, kpis.filter.date_to) == (date(2026, 2, 4), date(2026, 2, 10))
    tiles = {tile.key: tile for tile in kpis.tiles}
    # 4–10 Feb: V3 V4 V5 P2 P3 V6 V7 M1; before (28 Jan – 3 Feb): P1 V1 V2
    assert (tiles["sessions_started"].value, tiles["sessions_started"].previous) == ("8", "3")
    html = render_to_string("reports/_home_kpis.html", {"kpis": kpis})
    assert 'href="/reports/?from=2026-02-04&amp;to=2026-02-10"' in html
    assert "Team, last 7 days" in html
    assert html.count('class="kpi report-kpi"') == 8
    assert tiles["sessions_active"].direction == "now"  # V6, M1: not compared
