"""Pause, hand-off, edit details and Back's notes in a real browser (SPEC §9).

One flow with JavaScript (the counter stops while paused, the hand-off dialog
used with the keyboard only, the colleague continues from their home page),
one without (every form a plain post).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from conftest import assert_accessible, screenshot
from sessions.models import Handoff, Session, SessionChange

pytestmark = pytest.mark.browser

RUN_URL = re.compile(r"/sessions/[0-9a-f-]{36}/run/(\?.*)?$")
DETAIL_URL = re.compile(r"/sessions/[0-9a-f-]{36}/$")
FIRST_QUESTION = "Does the user have working internet without the VPN?"
GATEWAY_ACTION = "Test the VPN gateway port"


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
    page.get_by_role("button", name="Start session").click()
    expect(page).to_have_url(RUN_URL)
    expect(heading(page, FIRST_QUESTION)).to_be_visible()


def test_it_pauses_hands_off_and_edits_with_javascript(new_page, alice, bob, vpn_tree):
    page = new_page(alice)
    start_session(page, vpn_tree)

    # Back fills in the undone step's notes.
    page.get_by_label("Step notes").fill("Internet works on the hotel wifi")
    page.get_by_role("button", name="Yes, websites load", exact=True).click()
    expect(heading(page, GATEWAY_ACTION)).to_be_visible()
    page.get_by_role("button", name="Back").click()
    expect(heading(page, FIRST_QUESTION)).to_be_visible()
    expect(page.get_by_label("Step notes")).to_have_value("Internet works on the hotel wifi")

    # Pause: the active-time counter stops and says so; Resume starts it again.
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(".badge-paused")).to_have_text("Paused")
    counter = page.locator(".run-elapsed")
    shown = counter.inner_text()
    page.wait_for_timeout(1_500)  # a live counter would have moved on by now
    assert counter.inner_text() == shown
    assert counter.get_attribute("data-elapsed-since") is None
    screenshot(page, "lifecycle-paused")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator(".run-elapsed[data-elapsed-since]")).to_be_visible()

    # Edit details: the change is audited and shown on the detail page.
    page.get_by_role("link", name="Edit details").click()
    page.get_by_label("Ticket").fill("T-4712")
    page.get_by_role("button", name="Save details").click()
    expect(page).to_have_url(RUN_URL)
    session = Session.objects.get()
    assert SessionChange.objects.get(session=session, field="ticket_ref").new_value == "T-4712"

    # Hand off with the keyboard only: open the dialog, choose, write, send.
    hand_off = page.get_by_role("button", name="Hand off", exact=True)
    hand_off.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Hand off the session")
    expect(dialog).to_be_visible()
    colleague = dialog.get_by_label("Colleague")
    colleague.focus()
    colleague.select_option(label="bob")
    page.keyboard.press("Tab")
    expect(dialog.get_by_label("Hand-off note")).to_be_focused()
    page.keyboard.type("Internet fine, gateway untested. Over to you.")
    assert_accessible(page, context="#handoff-dialog")
    screenshot(page, "lifecycle-handoff-dialog")
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Hand off session")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(DETAIL_URL)
    expect(page.get_by_text("Handed off", exact=True).first).to_be_visible()
    assert Handoff.objects.get().to_engineer == bob

    # The colleague sees it on their home page, with the note, and continues.
    colleague_page = new_page(bob)
    colleague_page.goto("/")
    handed = colleague_page.locator("section", has=heading(colleague_page, "Handed to you 1"))
    expect(handed.get_by_text("Internet fine, gateway untested. Over to you.")).to_be_visible()
    screenshot(colleague_page, "lifecycle-handed-to-you")
    handed.get_by_role("link", name=re.compile("^Continue")).click()
    expect(heading(colleague_page, FIRST_QUESTION)).to_be_visible()
    colleague_page.get_by_role("button", name="Yes, websites load", exact=True).click()
    expect(heading(colleague_page, GATEWAY_ACTION)).to_be_visible()
    steps = list(Session.objects.get().decisions.order_by("seq"))
    assert [d.engineer.username for d in steps][-2:] == ["bob", "bob"]


def test_it_pauses_hands_off_and_edits_without_javascript(new_page, alice, bob, vpn_tree):
    page = new_page(alice, javascript=False)
    start_session(page, vpn_tree)

    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()

    page.get_by_role("link", name="Edit details").click()
    page.get_by_label("Client").fill("Acme Dental")
    page.get_by_role("button", name="Save details").click()
    expect(page).to_have_url(RUN_URL)

    page.get_by_role("button", name="Hand off", exact=True).click()
    page.get_by_label("Colleague").select_option(label="bob")
    # The note is required: the browser itself keeps an empty form from going.
    note = page.get_by_label("Hand-off note")
    assert note.evaluate("el => el.required && !el.checkValidity()")
    note.fill("Over to you")
    page.get_by_role("button", name="Hand off session").click()
    expect(page).to_have_url(DETAIL_URL)
    session = Session.objects.get()
    assert (session.engineer, session.client) == (bob, "Acme Dental")
    assert session.pauses.get().ended_at is not None
