"""The history page in a real browser: the close popover, htmx swaps, filters and the URL.

Sessions are built with the services before the page loads. The `clock` fixture
(shared with the live server) places them in the recent past so the relative
times and live durations read naturally.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import Page, expect

from conftest import assert_accessible, screenshot
from sessions import services
from sessions.models import Outcome, Session, SessionChange
from sessions.tests.factories import build_version, outcome

pytestmark = pytest.mark.browser

HISTORY = "/sessions/"

PRINTER = {
    "slug": "printer-offline",
    "name": "Printer offline",
    "start": "powered",
    "nodes": [
        {
            "key": "powered",
            "kind": "question",
            "title": "Is the printer powered on and online?",
            "choices": [{"label": "Yes", "next": "queue"}, {"label": "No", "next": "power"}],
        },
        {"key": "queue", "kind": "action", "title": "Clear the print queue", "next": "fixed"},
        {"key": "fixed", "kind": "solution", "title": "Queue cleared"},
        {"key": "power", "kind": "solution", "title": "Power it on"},
    ],
}


@pytest.fixture
def trees(db):
    return build_version().tree, build_version(PRINTER).tree


def at(clock, minutes_ago: float) -> None:
    clock.set(timezone.now() - timedelta(minutes=minutes_ago))


def start(clock, engineer, tree, minutes_ago: float, **fields) -> Session:
    at(clock, minutes_ago)
    session = services.session_create(tree=tree, engineer=engineer, **fields)
    step = session.decisions.get()
    if step.node_kind == "question" and fields.get("client") != "Globex":
        at(clock, minutes_ago - 2)
        services.decision_answer(
            session=session, decision_id=step.pk, choice_id=step.node.choices.first().pk
        )
    return session


def finish(clock, session: Session, code: str, minutes_ago: float, by=None) -> Session:
    at(clock, minutes_ago)
    return services.session_complete(
        session=session, outcome=outcome(code), by=by or session.engineer
    )


@pytest.fixture
def history(alice, bob, charlie, trees, clock):
    """A realistic mix: active, completed with several outcomes, one prepared."""
    vpn, printer = trees
    made = {}
    made["done"] = start(clock, alice, vpn, 60 * 26, ticket_ref="T-1031", client="Acme Ltd")
    finish(clock, made["done"], "resolved", 60 * 26 - 23)
    made["escalated"] = start(clock, bob, printer, 60 * 5, ticket_ref="T-1036", client="Northwind")
    finish(clock, made["escalated"], "escalated", 60 * 5 - 41)
    made["stale"] = start(clock, alice, printer, 95, ticket_ref="T-1040", client="Globex")
    made["active"] = start(
        clock, alice, vpn, 14, ticket_ref="T-1042", client="Acme Ltd", summary="VPN drops"
    )
    made["bobs"] = start(clock, bob, vpn, 9, ticket_ref="T-1044", client="Initech")
    at(clock, 3)
    made["prepared"] = services.session_prepare(
        tree=printer, engineer=alice, by=charlie, ticket_ref="T-1045", client="Umbrella"
    )
    clock.set(timezone.now())
    return made


def card(page: Page, ticket: str):
    return page.get_by_role("article", name=re.compile(re.escape(ticket)))


def close_button(page: Page, ticket: str):
    return card(page, ticket).get_by_role("button", name="Close", exact=True)


def centre(page: Page, ticket: str) -> None:
    """Scroll the card to the middle of the viewport, as a person looking at it has.

    The close popover is anchored to its card and takes the side with room: a card
    at the foot of the viewport opens it upwards. Playwright scrolls a button into
    view just before clicking it, and a scroll that moves the card also moves its
    popover, so the click can land beside it (a light dismiss, which closes it)."""
    card(page, ticket).evaluate("element => element.scrollIntoView({block: 'center'})")


def expanded(page: Page, button) -> bool:
    """Whether the browser tells assistive technology that `button`'s popover is open.

    A popovertarget button gets its expanded state from the browser, not from an
    aria-expanded attribute, so this asks Chromium's accessibility tree.
    """
    selector = (
        f'[popovertarget="{button.get_attribute("popovertarget")}"]:not([popovertargetaction])'
    )
    cdp = page.context.new_cdp_session(page)
    root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    ax = cdp.send("Accessibility.getPartialAXTree", {"nodeId": node, "fetchRelatives": False})
    properties = {p["name"]: p["value"].get("value") for p in ax["nodes"][0].get("properties", [])}
    cdp.detach()
    return bool(properties.get("expanded"))


def expect_expanded(page: Page, button, state: bool) -> None:
    deadline = time.monotonic() + 5
    while expanded(page, button) != state:
        assert time.monotonic() < deadline, f"expanded never became {state}"
        time.sleep(0.05)


def mark_page(page: Page) -> None:
    """A marker that a full page load would wipe out."""
    page.evaluate("() => { window.__historyMarker = 'still here'; }")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("() => window.__historyMarker") == "still here"


def tab_to(page: Page, name: str, *, limit: int = 80) -> None:
    """Press Tab until the focused element's accessible text is `name`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        text = page.evaluate(
            "() => (document.activeElement.innerText || document.activeElement.value || '').trim()"
        )
        if text == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")


# --- the page -------------------------------------------------------------------


def test_it_shows_an_engineer_their_own_history(engineer_page, history):
    page = engineer_page
    page.goto(HISTORY)

    expect(page.get_by_role("heading", level=1)).to_have_text("Session history")
    expect(page.get_by_role("article")).to_have_count(4)
    expect(card(page, "T-1044")).to_have_count(0)  # bob's
    expect(page.get_by_label("Engineer")).to_have_count(0)
    active = card(page, "T-1042")
    expect(active.get_by_role("link", name="View details")).to_be_visible()
    expect(active.get_by_role("button", name="Close", exact=True)).to_be_visible()
    expect(active.get_by_role("link", name="Resume")).to_be_visible()
    expect(active.locator("time[data-relative]")).to_have_text("14 min ago")
    expect(active.locator("[data-elapsed-since]")).to_have_text(re.compile(r"^14m \d\ds$"))
    done = card(page, "T-1031")
    expect(done.locator(".badge-outcome")).to_have_text("Resolved")
    expect(done.get_by_role("link", name="Export")).to_have_attribute(
        "href", f"/sessions/{history['done'].pk}/#export"
    )
    expect(done).to_contain_text("23m 00s")
    expect(card(page, "T-1045").get_by_role("button", name="Start")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "history-engineer")


def test_it_shows_a_manager_everyones_history(manager_page, history):
    page = manager_page
    page.goto(HISTORY)

    expect(page.get_by_role("article")).to_have_count(6)
    expect(page.get_by_label("Engineer")).to_be_visible()
    expect(card(page, "T-1044")).to_contain_text("bob")
    expect(card(page, "T-1036").locator(".badge-outcome")).to_have_text("Escalated")
    assert_accessible(page)
    screenshot(page, "history-manager")


def test_it_shows_the_current_step_of_active_sessions(engineer_page, history):
    page = engineer_page
    page.goto(HISTORY)

    expect(card(page, "T-1042")).to_contain_text("Reset the VPN credentials")
    expect(card(page, "T-1040")).to_contain_text("Is the printer powered on and online?")


def test_it_colours_an_admin_outcome_legibly_without_javascript(new_page, alice, history, clock):
    Outcome.objects.create(code="on_hold", label="On hold", kind="neutral", colour="#fde047")
    finish(clock, history["active"], "on_hold", 1)
    page = new_page(alice, javascript=False)
    page.goto(HISTORY)

    badge = card(page, "T-1042").locator(".badge-outcome")
    expect(badge).to_have_text("On hold")
    colour = badge.evaluate("el => getComputedStyle(el).getPropertyValue('--badge-colour')")
    assert colour.strip() == "#fde047"
    # A pale admin colour still gets text with at least 4.5:1 contrast.
    ratio = badge.evaluate(
        """el => {
          // Chrome reports color-mix() results as color(srgb r g b) with 0–1 channels.
          const parse = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number)
            .map(v => (c.startsWith("color(") ? v * 255 : v));
          const lum = rgb => {
            const l = rgb.map(v => { v /= 255;
              return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
            return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
          };
          const s = getComputedStyle(el);
          const a = lum(parse(s.color)), b = lum(parse(s.backgroundColor));
          return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        }"""
    )
    assert ratio >= 4.5


# --- the close popover ----------------------------------------------------------


def test_it_closes_a_session_in_place_from_the_popover(engineer_page, alice, history):
    page = engineer_page
    page.goto(HISTORY)
    mark_page(page)
    close = close_button(page, "T-1042")
    expect_expanded(page, close, False)

    close.click()

    popover = card(page, "T-1042").get_by_role("dialog")
    expect(popover).to_be_visible()
    expect_expanded(page, close, True)
    expect(popover.get_by_label("Outcome")).to_be_focused()
    confirm = popover.get_by_role("button", name="Confirm")
    expect(confirm).to_be_disabled()
    # Anchored to the Close button: below it, or above it when the window has
    # no room below (this card is low in it; test_phone covers the placement).
    close_box, popover_box = close.bounding_box(), popover.bounding_box()
    assert (
        popover_box["y"] >= close_box["y"] + close_box["height"]
        or popover_box["y"] + popover_box["height"] <= close_box["y"]
    )
    assert_accessible(page)
    popover.get_by_label("Outcome").select_option("cancelled")
    expect(confirm).to_be_enabled()
    popover.get_by_label("Notes").fill("Ticket withdrawn by the client.")
    screenshot(page, "history-popover-open")

    confirm.click()

    done = card(page, "T-1042")
    expect(done.locator(".badge-outcome")).to_have_text("Cancelled")
    expect(done.locator(".status-badge")).to_have_text("Completed")
    expect(done.get_by_role("button", name="Close", exact=True)).to_have_count(0)
    expect(done.get_by_role("link", name="Export")).to_be_visible()
    toast = page.get_by_role("status")
    expect(toast).to_contain_text("Session closed as Cancelled")
    expect(done).to_be_focused()
    assert_not_reloaded(page)
    assert_accessible(page)
    page.evaluate("() => window.scrollTo(0, 0)")
    screenshot(page, "history-closed-toast")
    session = Session.objects.get(pk=history["active"].pk)
    assert session.outcome.code == "cancelled"
    assert session.outcome_notes == "Ticket withdrawn by the client."
    assert session.closed_by == alice
    assert SessionChange.objects.get(session=session, field="outcome").source == "history"


@pytest.mark.parametrize("how", ["cancel", "escape", "outside"])
def test_it_closes_the_popover_without_changes(engineer_page, history, how):
    page = engineer_page
    page.goto(HISTORY)
    close = close_button(page, "T-1042")
    close.click()
    popover = card(page, "T-1042").get_by_role("dialog")
    popover.get_by_label("Outcome").select_option("resolved")

    if how == "cancel":
        popover.get_by_role("button", name="Cancel").click()
    elif how == "escape":
        page.keyboard.press("Escape")
    else:
        page.get_by_role("heading", level=1).click()

    expect(popover).to_be_hidden()
    expect_expanded(page, close, False)
    expect(close).to_be_focused()
    # Opened again, it starts afresh.
    close.click()
    expect(popover.get_by_label("Outcome")).to_have_value("")
    expect(popover.get_by_role("button", name="Confirm")).to_be_disabled()
    session = Session.objects.get(pk=history["active"].pk)
    assert session.completed_at is None


def test_it_keeps_one_popover_open_at_a_time(engineer_page, history):
    page = engineer_page
    page.goto(HISTORY)

    close_button(page, "T-1042").click()
    # Its form has loaded once focus is in it (htmx would otherwise move focus
    # back into it after the keyboard has left).
    expect(card(page, "T-1042").get_by_label("Outcome")).to_be_focused()
    # The open popover covers the next card: reach its Close with the keyboard.
    close_button(page, "T-1040").focus()
    page.keyboard.press("Enter")

    expect(card(page, "T-1042").get_by_role("dialog")).to_be_hidden()
    expect(card(page, "T-1040").get_by_role("dialog")).to_be_visible()
    expect_expanded(page, close_button(page, "T-1042"), False)
    expect(page.locator("[data-close-popover]:visible")).to_have_count(1)


def test_it_closes_a_session_with_the_keyboard_only(engineer_page, history):
    page = engineer_page
    page.goto(HISTORY)
    mark_page(page)
    # The T-1040 card comes after T-1042: tab through to its Close button.
    tab_to(page, "Close")
    expect(close_button(page, "T-1042")).to_be_focused()

    page.keyboard.press("Enter")
    popover = card(page, "T-1042").get_by_role("dialog")
    expect(popover.get_by_label("Outcome")).to_be_focused()
    page.keyboard.press("ArrowDown")  # Resolved
    page.keyboard.press("ArrowDown")  # Escalated
    expect(popover.get_by_label("Outcome")).to_have_value("escalated")
    page.keyboard.press("Tab")
    expect(popover.get_by_label("Notes")).to_be_focused()
    page.keyboard.type("Handed to networking.")
    page.keyboard.press("Tab")
    expect(popover.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(popover.get_by_role("button", name="Confirm")).to_be_focused()
    page.keyboard.press("Enter")

    expect(card(page, "T-1042").locator(".badge-outcome")).to_have_text("Escalated")
    expect(page.get_by_role("status")).to_contain_text("Session closed as Escalated")
    expect(card(page, "T-1042")).to_be_focused()
    assert_not_reloaded(page)
    assert Session.objects.get(pk=history["active"].pk).outcome_notes == "Handed to networking."


def test_it_opens_and_closes_with_space_and_escape(engineer_page, history):
    page = engineer_page
    page.goto(HISTORY)
    close = close_button(page, "T-1042")
    close.focus()

    page.keyboard.press(" ")
    expect(card(page, "T-1042").get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(card(page, "T-1042").get_by_role("dialog")).to_be_hidden()
    expect(close).to_be_focused()
    assert page.url.endswith(HISTORY)


def test_it_explains_a_session_closed_in_another_tab(engineer_page, history):
    first = engineer_page
    second = first.context.new_page()
    first.goto(HISTORY)
    second.goto(HISTORY)
    mark_page(first)

    close_button(second, "T-1042").click()
    card(second, "T-1042").get_by_label("Outcome").select_option("resolved")
    card(second, "T-1042").get_by_role("button", name="Confirm").click()
    expect(card(second, "T-1042").locator(".badge-outcome")).to_have_text("Resolved")

    close_button(first, "T-1042").click()
    card(first, "T-1042").get_by_label("Outcome").select_option("cancelled")
    card(first, "T-1042").get_by_role("button", name="Confirm").click()

    expect(first.get_by_role("status")).to_contain_text("Already closed by you as Resolved.")
    expect(card(first, "T-1042").locator(".badge-outcome")).to_have_text("Resolved")
    expect(card(first, "T-1042").get_by_role("button", name="Close", exact=True)).to_have_count(0)
    assert_not_reloaded(first)
    assert Session.objects.get(pk=history["active"].pk).outcome.code == "resolved"


def test_it_explains_a_session_a_manager_closed(engineer_page, charlie, history):
    page = engineer_page
    page.goto(HISTORY)
    services.session_complete(
        session=history["active"], outcome=outcome("resolved_externally"), by=charlie
    )

    close_button(page, "T-1042").click()
    card(page, "T-1042").get_by_label("Outcome").select_option("cancelled")
    card(page, "T-1042").get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("status")).to_contain_text(
        "Already closed by charlie as Resolved externally."
    )
    expect(card(page, "T-1042").locator(".badge-outcome")).to_have_text("Resolved externally")


def test_it_shows_a_refused_outcome_in_the_popover(engineer_page, history):
    page = engineer_page
    page.goto(HISTORY)
    mark_page(page)
    close_button(page, "T-1042").click()
    card(page, "T-1042").get_by_label("Outcome").select_option("workaround")
    retired = outcome("workaround")
    retired.is_active = False
    retired.save()

    card(page, "T-1042").get_by_role("button", name="Confirm").click()

    popover = card(page, "T-1042").get_by_role("dialog")
    expect(popover).to_be_visible()
    expect(popover.get_by_role("alert")).to_contain_text("no longer in use")
    expect(popover.get_by_label("Outcome")).to_be_focused()
    assert_not_reloaded(page)
    assert_accessible(page)
    # The refused popover still cancels in place.
    popover.get_by_role("button", name="Cancel").click()
    expect(popover).to_be_hidden()
    expect(close_button(page, "T-1042")).to_be_focused()
    assert_not_reloaded(page)
    assert Session.objects.get(pk=history["active"].pk).completed_at is None


def test_it_closes_a_session_without_javascript(new_page, alice, history):
    page = new_page(alice, javascript=False)
    page.goto(f"{HISTORY}?status=active")

    close = card(page, "T-1042").get_by_role("link", name="Close", exact=True)
    close.click()

    expect(page).to_have_url(re.compile(r"status=active&close="))
    popover = card(page, "T-1042").get_by_role("dialog")
    expect(popover).to_be_visible()
    expect(popover.get_by_label("Outcome")).to_be_focused()
    expect(popover.get_by_role("button", name="Confirm")).to_be_enabled()
    popover.get_by_label("Outcome").select_option("resolved_externally")
    popover.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(re.compile(r"/sessions/\?status=active$"))
    expect(page.get_by_role("status")).to_contain_text("Session closed as Resolved externally.")
    expect(card(page, "T-1042")).to_have_count(0)  # no longer active
    assert Session.objects.get(pk=history["active"].pk).closed_from == "history"


def test_it_cancels_the_popover_without_javascript(new_page, alice, history):
    page = new_page(alice, javascript=False)
    page.goto(f"{HISTORY}?q=acme")
    card(page, "T-1042").get_by_role("link", name="Close", exact=True).click()

    card(page, "T-1042").get_by_role("link", name="Cancel").click()

    expect(page).to_have_url(re.compile(r"/sessions/\?q=acme#session-"))
    expect(card(page, "T-1042").get_by_role("dialog")).to_be_hidden()


# --- filters and pagination ------------------------------------------------------


def test_it_filters_through_the_url_and_back(manager_page, history):
    page = manager_page
    page.goto(HISTORY)
    mark_page(page)

    page.get_by_label("Status").select_option("completed")
    expect(page).to_have_url(re.compile(r"/sessions/\?status=completed$"))
    expect(page.get_by_role("article")).to_have_count(2)
    page.get_by_label("Engineer").select_option("bob")
    expect(page).to_have_url(re.compile(r"/sessions/\?status=completed&engineer=bob$"))
    expect(page.get_by_role("article")).to_have_count(1)
    expect(card(page, "T-1036")).to_be_visible()
    page.get_by_label("Search").fill("initech")
    page.get_by_label("Search").press("Tab")
    expect(page).to_have_url(re.compile(r"q=initech"))
    expect(page.get_by_role("heading", name=re.compile("No sessions match"))).to_be_visible()
    assert_not_reloaded(page)

    page.go_back()
    expect(page).to_have_url(re.compile(r"/sessions/\?status=completed&engineer=bob$"))
    expect(page.get_by_role("article")).to_have_count(1)
    expect(page.get_by_label("Engineer")).to_have_value("bob")
    expect(page.get_by_label("Search")).to_have_value("")
    page.go_back()
    expect(page).to_have_url(re.compile(r"/sessions/\?status=completed$"))
    expect(page.get_by_label("Engineer")).to_have_value("")
    expect(page.get_by_label("Status")).to_have_value("completed")
    expect(page.get_by_role("article")).to_have_count(2)

    # A bookmarked filtered URL renders the same view from scratch.
    page.goto(f"{HISTORY}?status=completed&engineer=bob")
    expect(page.get_by_label("Status")).to_have_value("completed")
    expect(page.get_by_role("article")).to_have_count(1)


def test_it_closes_from_results_filtered_in_place(manager_page, charlie, history):
    # The first page has nothing to close; the results swapped in by the
    # filter bring their own popovers.
    page = manager_page
    page.goto(f"{HISTORY}?status=completed")
    expect(page.locator("[data-close-popover]")).to_have_count(0)
    mark_page(page)

    page.get_by_label("Status").select_option("active")
    expect(page.get_by_role("article")).to_have_count(3)
    centre(page, "T-1044")
    close_button(page, "T-1044").click()
    popover = card(page, "T-1044").get_by_role("dialog")
    expect(popover).to_be_visible()
    popover.get_by_label("Outcome").select_option("escalated")
    popover.get_by_role("button", name="Confirm").click()

    expect(card(page, "T-1044").locator(".badge-outcome")).to_have_text("Escalated")
    assert_not_reloaded(page)
    session = Session.objects.get(pk=history["bobs"].pk)
    assert session.outcome.code == "escalated"
    assert session.closed_by == charlie
    # Each card loads its own form: another Close opens a popover for its session.
    close_button(page, "T-1042").click()
    other = card(page, "T-1042").get_by_role("dialog")
    expect(other.locator("form")).to_have_attribute(
        "action", f"/sessions/{history['active'].pk}/close"
    )


def test_it_filters_by_dates(manager_page, history):
    page = manager_page
    page.goto(HISTORY)
    today = timezone.localdate()

    page.get_by_label("Started from").fill(today.isoformat())

    expect(page).to_have_url(re.compile(rf"from={today.isoformat()}"))
    expect(card(page, "T-1031")).to_have_count(0)  # yesterday's
    expect(card(page, "T-1042")).to_be_visible()
    expect(card(page, "T-1045")).to_have_count(0)  # prepared: never started


def test_it_pages_through_the_url_and_back(engineer_page, alice, trees, clock):
    vpn, _ = trees
    for n in range(30):
        start(clock, alice, vpn, 200 - n, ticket_ref=f"T-{2000 + n}", client="Acme Ltd")
    clock.set(timezone.now())
    page = engineer_page
    page.goto(f"{HISTORY}?q=acme")
    mark_page(page)
    expect(page.get_by_role("article")).to_have_count(25)

    page.get_by_role("link", name="Next").click()

    expect(page).to_have_url(re.compile(r"/sessions/\?q=acme&page=2$"))
    expect(page.get_by_role("article")).to_have_count(5)
    expect(card(page, "T-2000")).to_be_visible()
    expect(page.locator("#history-results-title")).to_be_focused()
    expect(page.get_by_label("Search")).to_have_value("acme")
    assert_not_reloaded(page)

    page.go_back()
    expect(page).to_have_url(re.compile(r"/sessions/\?q=acme$"))
    expect(page.get_by_role("article")).to_have_count(25)
    expect(card(page, "T-2029")).to_be_visible()
    page.go_forward()
    expect(page.get_by_role("article")).to_have_count(5)


def test_it_shows_what_to_do_when_empty(engineer_page, trees):
    page = engineer_page
    page.goto(HISTORY)

    expect(page.get_by_role("heading", name="No sessions yet")).to_be_visible()
    expect(page.get_by_role("link", name="Browse the tree library")).to_have_attribute(
        "href", "/trees/"
    )
    assert_accessible(page)
    screenshot(page, "history-empty")


def test_it_shows_ignored_filters(engineer_page, history):
    page = engineer_page
    page.goto(f"{HISTORY}?status=sleeping&from=2026-02-31")

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Status “sleeping” was ignored")
    expect(alert).to_contain_text("Started from “2026-02-31” was ignored")
    expect(page.get_by_role("article")).to_have_count(4)
    assert_accessible(page)


def test_a_stored_page_counts_closes_and_starts_like_a_fresh_one(
    engineer_page, alice, history, settings
):
    # With a shared cache the second load is the stored page (sessions.pages): its
    # running times and this browser's CSRF token were filled in at the load.
    settings.SHARED_CACHE = True
    page = engineer_page
    page.goto(HISTORY)
    page.reload()
    assert [key for key in cache._cache if ":page:" in key]
    running = card(page, "T-1042").locator("[data-elapsed-since]")
    shown = running.text_content()
    expect(running).not_to_have_text(shown, timeout=3_000)  # app.js counts on from it

    close_button(page, "T-1042").click()
    popover = card(page, "T-1042").get_by_role("dialog")
    popover.get_by_label("Outcome").select_option("workaround")
    popover.get_by_role("button", name="Confirm").click()  # htmx: the page's X-CSRFToken
    expect(card(page, "T-1042").locator(".badge-outcome")).to_have_text("Workaround")

    page.reload()  # the close made a new version of the page
    card(page, "T-1045").get_by_role("button", name="Start").click()  # the form's own token
    expect(page).to_have_url(re.compile(rf"/sessions/{history['prepared'].pk}/"))
    assert Session.objects.get(pk=history["prepared"].pk).started_at is not None
