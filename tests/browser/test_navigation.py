"""A guided session in a real browser: start, step, go back, notes, complete, detail.

Run once with JavaScript (htmx swaps, autosave, the completion dialog) and once
without (every action a plain form post), on the demo "VPN won't connect" tree.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from conftest import assert_accessible, screenshot

pytestmark = pytest.mark.browser

RUN_URL = re.compile(r"/sessions/[0-9a-f-]{36}/run/(\?.*)?$")
DETAIL_URL = re.compile(r"/sessions/[0-9a-f-]{36}/$")

# The walk through the demo tree, as (kind of step, button to press).
FIRST_QUESTION = "Does the user have working internet without the VPN?"
GATEWAY_ACTION = "Test the VPN gateway port"
GATEWAY_RESULT = "What is the result?"
CLIENT_HEALTH = "Is the VPN client up to date, with its service running?"
UPDATE_CLIENT = "Update or reinstall the VPN client"
VPN_WORKS = "Does the VPN connect, and can the user reach internal resources?"
SOLUTION = "VPN working"


@pytest.fixture
def vpn_tree(db):
    from trees.services import tree_import

    path = Path(settings.BASE_DIR) / "trees" / "demo" / "vpn-wont-connect.json"
    return tree_import(data=path.read_text(), filename=path.name, publish=True).tree


def heading(page, text: str):
    return page.get_by_role("heading", name=text, exact=True)


def start_session(page, tree) -> None:
    page.goto(f"/trees/{tree.slug}/")
    page.get_by_label("Ticket").fill("T-4711")
    page.get_by_label("Client").fill("Acme Dental")
    page.get_by_label("Summary").fill("VPN fails since this morning")
    page.get_by_role("button", name="Start session").click()
    expect(page).to_have_url(RUN_URL)
    expect(heading(page, FIRST_QUESTION)).to_be_visible()


def press(page, name: str, next_title: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    expect(heading(page, next_title)).to_be_visible()


def check_detail_page(page, alice, *, javascript: bool = True) -> None:
    from sessions.models import Session

    session = Session.objects.get(engineer=alice)
    assert session.is_completed
    assert session.outcome.code == "resolved"
    steps = list(session.decisions.order_by("seq"))
    # 7 steps on the path, plus the answer undone by Back and the step left with Back.
    assert len(steps) == 9
    assert [d.undone for d in steps].count(True) == 1
    assert steps[0].notes == "Websites load fine"
    if javascript:
        assert steps[1].notes == "Port 443 open"
    assert session.scratchpad == "Gateway vpn.example.com"

    expect(page).to_have_url(DETAIL_URL)
    expect(page.get_by_role("heading", name="Steps", exact=True)).to_be_visible()
    items = page.locator(".timeline-item")
    expect(items).to_have_count(len(steps))
    for index, step in enumerate(steps):
        item = items.nth(index)
        expect(item).to_contain_text(step.node_title)
        expect(item.locator(".timeline-duration")).to_have_text(re.compile(r"^\d+s$"))
    expect(page.locator(".timeline-item[data-exit='backtracked']")).to_contain_text("went back")
    expect(page.locator(".timeline-item.is-undone")).to_contain_text("undone")
    expect(page.locator("main")).to_contain_text("Websites load fine")
    expect(page.locator("main")).to_contain_text("Gateway vpn.example.com")
    expect(page.locator("main")).to_contain_text("Client 5.1 was two years old")
    expect(page.locator(".outcome-card .badge-outcome")).to_have_text("Resolved")


def test_it_runs_a_guided_session_with_htmx(new_page, alice, vpn_tree):
    page = new_page(alice)
    start_session(page, vpn_tree)
    assert_accessible(page)
    screenshot(page, "navigation-question")

    # From here on every step swaps in place: the page is never reloaded.
    page.evaluate("window.__marker = 1")
    page.get_by_label("Step notes").fill("Websites load fine")
    press(page, "Yes, websites load", GATEWAY_ACTION)
    expect(page.locator("#step-title")).to_be_focused()
    expect(page.locator(".path")).to_contain_text(f"{FIRST_QUESTION} → Yes, websites load")
    screenshot(page, "navigation-action")

    # Step notes autosave too, about a second after typing stops.
    page.get_by_label("Step notes").fill("Port 443 open")
    expect(page.locator("#notes-state")).to_contain_text("Notes saved")
    press(page, "Done", GATEWAY_RESULT)
    press(page, "TcpTestSucceeded: True", CLIENT_HEALTH)
    press(page, "Back", GATEWAY_RESULT)
    expect(page.locator(".path")).not_to_contain_text("TcpTestSucceeded")
    press(page, "TcpTestSucceeded: True", CLIENT_HEALTH)
    press(page, "Outdated, or the service is stopped", UPDATE_CLIENT)

    page.get_by_label("Scratchpad").fill("Gateway vpn.example.com")
    expect(page.locator("#scratchpad-state")).to_contain_text("Saved")
    press(page, "Done", VPN_WORKS)
    press(page, "Yes", SOLUTION)
    assert page.evaluate("window.__marker") == 1
    screenshot(page, "navigation-solution")

    page.get_by_role("button", name="Complete session").click()
    dialog = page.get_by_role("dialog", name="Complete the session")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Outcome", exact=True)).to_have_value("resolved")
    expect(dialog.get_by_label("Outcome", exact=True)).to_be_focused()
    assert_accessible(page)
    dialog.get_by_label("Outcome notes").fill("Client 5.1 was two years old; updated to 6.0.")
    dialog.get_by_label("Next steps").fill("Roll out 6.0 to the rest of the office.")
    screenshot(page, "navigation-complete-dialog")
    dialog.get_by_role("button", name="Complete", exact=True).click()

    check_detail_page(page, alice)
    assert_accessible(page)
    screenshot(page, "session-detail")


def test_it_cancels_the_completion_dialog(new_page, alice, vpn_tree):
    page = new_page(alice)
    start_session(page, vpn_tree)

    opener = page.get_by_role("button", name="Complete session")
    opener.click()
    dialog = page.get_by_role("dialog", name="Complete the session")
    expect(dialog.get_by_label("Outcome", exact=True)).to_have_value("")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()

    # The same form inline, as served without JavaScript, is accessible too.
    page.goto(page.url + "?complete=1")
    expect(page.get_by_role("heading", name="Complete the session")).to_be_visible()
    assert_accessible(page)


def test_it_shows_the_current_step_when_a_stale_page_answers(new_page, alice, vpn_tree):
    page = new_page(alice)
    start_session(page, vpn_tree)
    other_tab = page.context.new_page()
    other_tab.goto(page.url)
    press(other_tab, "Yes, websites load", GATEWAY_ACTION)

    page.get_by_role("button", name="No internet at all").click()

    expect(page.get_by_role("alert")).to_contain_text("already answered")
    expect(heading(page, GATEWAY_ACTION)).to_be_visible()


def test_it_runs_a_guided_session_without_javascript(new_page, alice, vpn_tree):
    page = new_page(alice, javascript=False)
    start_session(page, vpn_tree)

    page.get_by_label("Step notes").fill("Websites load fine")
    press(page, "Yes, websites load", GATEWAY_ACTION)
    press(page, "Done", GATEWAY_RESULT)
    press(page, "TcpTestSucceeded: True", CLIENT_HEALTH)
    press(page, "Back", GATEWAY_RESULT)
    press(page, "TcpTestSucceeded: True", CLIENT_HEALTH)
    press(page, "Outdated, or the service is stopped", UPDATE_CLIENT)

    page.get_by_label("Scratchpad").fill("Gateway vpn.example.com")
    page.get_by_role("button", name="Save scratchpad").click()
    expect(page.get_by_label("Scratchpad")).to_have_value("Gateway vpn.example.com")
    press(page, "Done", VPN_WORKS)
    press(page, "Yes", SOLUTION)

    # Without JavaScript the button loads the same form inline (?complete=1).
    page.get_by_role("button", name="Complete session").click()
    expect(page).to_have_url(re.compile(r"\?complete=1$"))
    expect(page.get_by_label("Outcome", exact=True)).to_have_value("resolved")
    page.get_by_label("Outcome notes").fill("Client 5.1 was two years old; updated to 6.0.")
    page.get_by_label("Next steps").fill("Roll out 6.0 to the rest of the office.")
    page.get_by_role("button", name="Complete", exact=True).click()

    check_detail_page(page, alice, javascript=False)


def test_it_shows_a_demo_history_session_in_detail(new_page, db):
    from resolutionflow.tests.factories import UserFactory
    from sessions.demo import seed_history
    from sessions.models import Session
    from trees.demo import seed_trees

    for name in ("engineer", "engineer2"):
        UserFactory(username=name, first_name=name.title(), groups=["Engineers"])
    manager = UserFactory(username="manager", groups=["Managers"])
    seed_trees()
    seed_history(sessions=25)
    session = (
        Session.objects.completed().filter(decisions__undone=True).order_by("-step_count").first()
    ) or Session.objects.completed().order_by("-step_count").first()

    page = new_page(manager)
    page.goto(f"/sessions/{session.pk}/")

    expect(page.locator(".timeline-item")).to_have_count(session.decisions.count())
    expect(page.locator(".outcome-card .badge-outcome")).to_have_text(session.outcome.label)
    assert_accessible(page)
    screenshot(page, "session-detail-demo")


def test_it_sizes_the_timeline_bars_on_the_server(new_page, alice, vpn_tree, clock):
    from sessions import services
    from sessions.models import Session
    from sessions.tests.factories import outcome

    session = services.session_create(tree=vpn_tree, engineer=alice)
    clock.advance(seconds=30)
    step = session.decisions.get()
    services.decision_answer(
        session=session, decision_id=step.pk, choice_id=step.node.choices.first().pk
    )
    clock.advance(seconds=90)
    services.session_complete(
        session=Session.objects.get(pk=session.pk), outcome=outcome("resolved"), by=alice
    )

    page = new_page(alice, javascript=False)
    page.goto(f"/sessions/{session.pk}/")

    bars = page.locator(".timeline-bar")
    expect(bars).to_have_count(2)
    # Each bar is its step's share of the session, drawn by the browser.
    shares = bars.evaluate_all("bars => bars.map(bar => bar.position)")
    assert shares == pytest.approx([30 / 120, 90 / 120], abs=1e-3)


def test_it_lets_a_manager_prepare_a_session_that_the_engineer_starts(
    new_page, alice, charlie, vpn_tree
):
    manager = new_page(charlie)
    manager.goto("/sessions/prepare/")
    manager.get_by_label("Engineer").select_option(label="alice")
    manager.get_by_label("Tree").select_option(label=vpn_tree.name)
    manager.get_by_label("Ticket").fill("T-5150")
    manager.get_by_label("Client").fill("Northwind Logistics")
    assert_accessible(manager)
    screenshot(manager, "prepare")
    manager.get_by_role("button", name="Prepare session").click()
    expect(manager).to_have_url(re.compile(r"/sessions/$"))

    from sessions.models import Session

    prepared = Session.objects.get(ticket_ref="T-5150")
    assert prepared.is_prepared
    page = new_page(alice)
    page.goto(f"/sessions/{prepared.pk}/run/")
    expect(heading(page, "Ready when you are")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Start", exact=True).click()
    expect(heading(page, FIRST_QUESTION)).to_be_visible()
    prepared.refresh_from_db()
    assert prepared.is_active
