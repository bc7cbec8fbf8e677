"""The manager reports in a real browser: filters through htmx and without JavaScript,
a CSV download, the axe check, and screenshots with a realistic history.

Sessions are played through the services with the `clock` fixture, which the live
server shares, so the figures on screen are the hand-computed ones of
reports/tests/test_metrics.py.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import assert_accessible, screenshot
from reports.tests.builders import build_dataset, build_history, play, utc
from resolutionflow.tests.factories import UserFactory
from sessions.tests.factories import build_version

pytestmark = pytest.mark.browser

FEB = "from=2026-02-01&to=2026-02-10"


def kpi_value(page, label: str):
    return page.locator(".report-kpi", has=page.get_by_text(label, exact=True)).locator(
        ".kpi-value"
    )


@pytest.fixture
def data(clock, alice, bob):
    return build_dataset(clock, alice, bob)


def test_it_updates_figures_and_address_when_filters_change(manager_page, live, data):
    page = manager_page
    page.goto(f"/reports/?{FEB}")
    expect(kpi_value(page, "Sessions started")).to_have_text("11")
    expect(kpi_value(page, "Resolution rate")).to_have_text("57.1%")
    # A marker that a full page load would wipe: the updates below must be htmx swaps.
    page.evaluate("window.reportMarker = 1")

    page.get_by_label("From", exact=True).fill("2026-02-05")
    page.get_by_role("button", name="Update report").click()
    expect(page).to_have_url(re.compile(r"from=2026-02-05&to=2026-02-10"))
    # V4, V5, P2, P3, V6, V7, M1
    expect(kpi_value(page, "Sessions started")).to_have_text("7")
    expect(page.get_by_role("status").filter(has_text="Report updated")).to_have_text(
        "Report updated for 5–10 Feb 2026: 7 sessions."
    )

    page.get_by_label("Tree", exact=True).select_option(label="Printer will not print")
    page.get_by_role("button", name="Update report").click()
    expect(page).to_have_url(re.compile(r"tree=printer"))
    expect(kpi_value(page, "Sessions started")).to_have_text("2")  # P2, P3
    expect(kpi_value(page, "Resolution rate")).to_have_text("0.0%")  # P3 failed, P2 neutral
    trees = page.get_by_test_id("trees-table")
    expect(trees.get_by_role("row")).to_have_count(2)
    assert page.evaluate("window.reportMarker") == 1

    page.get_by_role("link", name="Last 7 days").click()
    expect(page).to_have_url(re.compile(r"from=2026-02-04&to=2026-02-10&tree=printer"))
    expect(page.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "true")

    # Sorting keeps the filters; the back button restores the previous figures.
    page.get_by_role("link", name="Tree", exact=True).click()
    expect(page).to_have_url(re.compile(r"sort=name"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"from=2026-02-04&to=2026-02-10&tree=printer$"))
    expect(kpi_value(page, "Sessions started")).to_have_text("2")


def test_it_filters_without_javascript(new_page, charlie, data):
    page = new_page(charlie, javascript=False)
    page.goto(f"/reports/?{FEB}")
    page.get_by_label("Engineer", exact=True).select_option("bob")
    page.get_by_role("button", name="Update report").click()
    expect(page).to_have_url(re.compile(r"engineer=bob"))
    expect(kpi_value(page, "Sessions started")).to_have_text("5")


def test_it_downloads_a_csv(manager_page, data):
    page = manager_page
    page.goto(f"/reports/?{FEB}")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV of the trees table").click()
    download = download_info.value
    assert download.suggested_filename == "resolutionflow-trees-2026-02-01-to-2026-02-10.csv"
    rows = list(csv.reader(Path(download.path()).read_text().splitlines()))
    assert rows[0][:4] == ["tree", "tree_name", "sessions", "completed"]
    assert rows[1][:4] == ["vpn", "VPN won't connect", "7", "6"]


def test_it_drills_down_from_the_trees_table(manager_page, data):
    page = manager_page
    page.goto(f"/reports/?{FEB}")
    page.get_by_test_id("trees-table").get_by_role("link", name="VPN won't connect").click()
    expect(page).to_have_url(re.compile(rf"/reports/trees/vpn/\?{FEB}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("VPN won't connect")
    steps = page.get_by_test_id("steps-table")
    slowest = steps.get_by_role("row").filter(has_text="Slowest")
    expect(slowest).to_have_count(1)
    expect(slowest).to_contain_text("Reset the VPN credentials")
    expect(steps.get_by_role("row").filter(has_text="Most abandoned")).to_have_count(2)
    assert_accessible(page)

    page.get_by_label("Version", exact=True).select_option("1")
    page.get_by_label("Engineer", exact=True).select_option("bob")
    page.get_by_role("button", name="Update report").click()
    expect(page).to_have_url(re.compile(r"version=1"))
    expect(steps.get_by_role("row").filter(has_text="Most abandoned")).to_have_count(0)


def test_it_tells_engineers_the_reports_are_for_managers(engineer_page, data):
    engineer_page.goto("/reports/")
    expect(engineer_page.get_by_role("heading", level=1)).to_have_text("Reports are for managers")


@pytest.fixture
def history(clock, alice, bob):
    people = [
        alice,
        bob,
        UserFactory(username="dana", first_name="Dana", last_name="Okafor", groups=["Engineers"]),
        UserFactory(username="eli", first_name="Eli", last_name="Novak", groups=["Engineers"]),
        UserFactory(username="fern", first_name="Fern", last_name="Iqbal", groups=["Engineers"]),
    ]
    return build_history(clock, people, count=150, days=60)


def test_it_is_accessible_and_readable_with_a_realistic_history(new_page, charlie, history):
    page = new_page(charlie)
    page.goto("/reports/")
    expect(page.get_by_test_id("trees-table").get_by_role("row")).to_have_count(4)
    assert_accessible(page)
    screenshot(page, "reports-overview")

    page.get_by_test_id("trees-table").get_by_role("link", name="VPN won't connect").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("VPN won't connect")
    assert_accessible(page)
    screenshot(page, "reports-drilldown")

    phone = new_page(charlie, viewport={"width": 390, "height": 844})
    phone.goto("/reports/")
    screenshot(phone, "reports-phone")
    # Nothing but the tables (which scroll in their own box) is wider than the phone.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(phone)
    phone.goto("/reports/trees/vpn/")
    screenshot(phone, "reports-drilldown-phone")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390


SHARES_TREE = {
    "slug": "shares",
    "name": "Answer shares",
    "start": "first",
    "nodes": [
        {
            "key": "first",
            "kind": "question",
            "title": "First question",
            "choices": [
                {"label": "Y", "next": "second"},
                {"label": "No, something else entirely is wrong with it", "next": "other"},
            ],
        },
        {
            "key": "second",
            "kind": "question",
            "title": "Second question",
            "choices": [
                {"label": "Restarted the router and the modem, then waited", "next": "fixed"},
                {"label": "N", "next": "fixed"},
            ],
        },
        {"key": "other", "kind": "solution", "title": "Something else"},
        {"key": "fixed", "kind": "solution", "title": "Fixed"},
    ],
}


def test_it_draws_every_answer_share_on_one_scale(manager_page, clock, alice):
    version = build_version(SHARES_TREE)
    # first: Y 4 of 8 (50 %), the long label 4; second: the long label 1 of 4 (25 %), N 3.
    answers = [["Y", "N"]] * 3 + [["Y", SHARES_TREE["nodes"][1]["choices"][0]["label"]]]
    answers += [[SHARES_TREE["nodes"][0]["choices"][1]["label"]]] * 4
    for day, moves in enumerate(answers, start=1):
        play(
            version,
            alice,
            clock,
            at=utc(2, day, 9),
            moves=[(10, move) for move in moves],
            outcome_code="resolved",
            close_after=5,
        )
    page = manager_page
    page.goto("/reports/trees/shares/?from=2026-02-01&to=2026-02-10")

    def share(label: str) -> dict:
        item = page.locator(".report-shares li", has=page.get_by_text(label, exact=True))
        expect(item).to_have_count(1)
        return {
            part: item.locator(f".report-share-{part}").bounding_box()["width"]
            for part in ("bar", "fill")
        }

    half, quarter = share("Y"), share("Restarted the router and the modem, then waited")
    expect(page.get_by_text("50.0%")).to_have_count(2)
    assert half["bar"] == pytest.approx(quarter["bar"], abs=0.5)
    assert half["fill"] == pytest.approx(2 * quarter["fill"], rel=0.05)
    assert share("N")["fill"] == pytest.approx(3 * quarter["fill"], rel=0.05)
    for viewport in ({"width": 1366, "height": 860}, {"width": 390, "height": 844}):
        page.set_viewport_size(viewport)
        bars = page.locator(".report-share-bar")
        widths = {round(bars.nth(n).bounding_box()["width"]) for n in range(bars.count())}
        assert len(widths) == 1, widths
