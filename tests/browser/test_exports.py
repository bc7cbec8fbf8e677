"""The Export panel and "Copy notes so far" in a real browser: previews, copying, toasts.

Sessions are built with the services directly (and the `clock` fixture, which
the live server shares, so the expected texts are exact).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import expect

from conftest import assert_accessible, screenshot
from sessions import exports, services
from sessions.models import Session
from sessions.tests.factories import build_version, outcome

pytestmark = pytest.mark.browser

CLIPBOARD = ["clipboard-read", "clipboard-write"]


def answer(session: Session, clock, seconds: float, label: str, notes: str = "") -> None:
    step = session.decisions.get(exited_at__isnull=True)
    clock.advance(seconds)
    if step.node_kind == "action":
        services.decision_done(session=session, decision_id=step.pk, notes=notes)
    else:
        choice = step.node.choices.get(label=label)
        services.decision_answer(
            session=session, decision_id=step.pk, choice_id=choice.pk, notes=notes
        )


def reload(session: Session) -> Session:
    return Session.objects.select_related("tree", "version", "engineer", "outcome").get(
        pk=session.pk
    )


@pytest.fixture
def completed(alice, clock):
    version = build_version()
    session = services.session_create(
        tree=version.tree,
        engineer=alice,
        ticket_ref="T-1042",
        client="Acme <Dental>",
        summary="VPN drops every few minutes.",
    )
    answer(session, clock, 150, "Yes", "Client 5.2 installed; <script>alert(1)</script>")
    answer(session, clock, 95, "Done", "# Reset done")
    answer(session, clock, 40, "No", "Still failing")
    step = session.decisions.get(exited_at__isnull=True)
    clock.advance(12)
    services.decision_back(session=session, decision_id=step.pk)
    answer(session, clock, 30, "Yes", "Connected")
    clock.advance(20)
    services.session_complete(
        session=session,
        outcome=outcome("resolved"),
        by=alice,
        outcome_notes="Credentials reset.",
        next_steps="Monitor for a day.",
    )
    return reload(session)


def panel_screenshot(page, name: str) -> None:
    """The panel alone, beside the full-page shot, when SCREENSHOTS=1."""
    if os.environ.get("SCREENSHOTS"):
        out = Path(settings.BASE_DIR) / "var" / "screenshots"
        out.mkdir(parents=True, exist_ok=True)
        page.locator("#export").screenshot(path=str(out / f"{name}.png"))


def clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def wait_for_clipboard(page, needle: str, timeout: float = 5.0) -> str:
    """The clipboard's text once it contains `needle` (or whatever it holds at the timeout)."""
    deadline = time.monotonic() + timeout
    text = clipboard(page)
    while needle not in text and time.monotonic() < deadline:
        page.wait_for_timeout(100)
        text = clipboard(page)
    return text


def toast(page, text: str):
    return page.get_by_role("status").filter(has_text=text)


def test_it_copies_the_psa_note_for_the_ticket_with_a_toast(new_page, alice, completed):
    page = new_page(alice, permissions=CLIPBOARD)
    page.goto(reverse("sessions:detail", args=[completed.pk]))
    panel = page.locator("#export")
    expect(panel.get_by_role("heading", name="Export")).to_be_visible()
    expect(panel.get_by_role("link", name="PSA note")).to_have_attribute("aria-current", "true")
    panel_screenshot(page, "export-panel-psa")

    panel.get_by_role("button", name="Copy for ticket").click()

    expect(toast(page, "PSA note copied to the clipboard")).to_be_visible()
    assert clipboard(page) == exports.render(exports.export_data(completed), "psa")


def test_it_previews_each_format_in_place_and_copies_the_markdown(
    new_page, alice, completed, accessible
):
    page = new_page(alice, permissions=CLIPBOARD)
    detail_url = reverse("sessions:detail", args=[completed.pk])
    page.goto(detail_url)
    panel = page.locator("#export")
    preview = panel.locator("#export-preview")
    expect(preview).to_contain_text("Tree: VPN won't connect (v1) | Ticket: T-1042")
    assert_accessible(page)

    panel.get_by_role("link", name="Markdown").click()
    expect(panel.get_by_role("link", name="Markdown")).to_have_attribute("aria-current", "true")
    expect(preview).to_contain_text("# T-1042: VPN won't connect")
    expect(preview).to_contain_text(r"\# Reset done")
    # htmx swapped the panel: the page did not navigate, and focus stayed on the picker.
    assert page.url.endswith(detail_url)
    expect(panel.get_by_role("link", name="Markdown")).to_be_focused()

    panel.get_by_role("link", name="Full").click()
    expect(panel.get_by_role("link", name="Full")).to_have_attribute("aria-current", "true")
    expect(preview).to_contain_text("[undone]")
    expect(preview).to_contain_text("Entered 2026-02-10 09:15:00 UTC")
    screenshot(page, "export-panel-markdown-full")
    panel_screenshot(page, "export-panel-close-up")

    panel.get_by_role("button", name="Copy for ticket").click()
    expect(toast(page, "Markdown copied to the clipboard")).to_be_visible()
    expected = exports.render(exports.export_data(completed, detail="full"), "markdown")
    assert clipboard(page) == expected

    # HTML shows its escaped source; user text stays text.
    panel.get_by_role("link", name="HTML").click()
    expect(preview).to_contain_text("<!DOCTYPE html>")
    expect(preview).to_contain_text("&lt;script&gt;alert(1)&lt;/script&gt;")
    assert page.evaluate("document.querySelectorAll('#export script').length") == 0
    download = panel.get_by_role("link", name="Download")
    expect(download).to_have_attribute("href", re.compile(r"/export/html\?detail=full&download=1$"))
    accessible(page, context="#export")


def test_it_downloads_the_picked_format(new_page, alice, completed):
    page = new_page(alice)
    page.goto(reverse("sessions:detail", args=[completed.pk]))
    page.locator("#export").get_by_role("link", name="JSON").click()
    expect(page.locator("#export-preview")).to_contain_text('"format": "resolutionflow/session@1"')

    with page.expect_download() as info:
        page.locator("#export").get_by_role("link", name="Download").click()

    download = info.value
    assert download.suggested_filename == "T-1042-vpn.json"
    with open(download.path(), encoding="utf-8") as handle:
        assert handle.read() == exports.render(exports.export_data(completed), "json")


def test_it_links_straight_to_the_exports_without_javascript(new_page, alice, completed):
    page = new_page(alice, javascript=False)
    page.goto(reverse("sessions:detail", args=[completed.pk]))
    # The first render already shows the PSA preview, no JavaScript needed.
    expect(page.locator("#export-preview")).to_contain_text("Outcome: Resolved")

    page.locator("#export").get_by_role("link", name="Text").click()

    expect(page).to_have_url(re.compile(r"/export/text\?detail=standard$"))
    assert page.locator("body").inner_text().startswith("T-1042: VPN won't connect")


def test_it_copies_the_notes_so_far_as_the_session_moves_on(new_page, alice, clock, accessible):
    version = build_version()
    session = services.session_create(
        tree=version.tree, engineer=alice, ticket_ref="T-77", client="Initech"
    )
    answer(session, clock, 61, "Yes", "Client present")
    page = new_page(alice, permissions=CLIPBOARD)
    page.goto(reverse("sessions:run", args=[session.pk]))
    copy = page.get_by_role("button", name="Copy notes so far")

    copy.click()
    expect(toast(page, "Notes so far copied to the clipboard")).to_be_visible()
    text = clipboard(page)
    assert text == exports.render(exports.export_data(reload(session)), "psa")
    assert text.startswith("In progress — exported at 2026-02-10 09:16 UTC")
    assert "2. Reset the VPN credentials — In progress (0s so far)" in text

    # Mark the action done in the page (an htmx swap), then copy again.
    page.get_by_role("button", name="Done", exact=True).click()
    expect(page.get_by_role("heading", name="Does it connect now?")).to_be_visible()
    page.get_by_role("button", name="Copy notes so far").click()
    text = wait_for_clipboard(page, "3. Does it connect now? — In progress")
    assert text == exports.render(exports.export_data(reload(session)), "psa")
    assert "2. Reset the VPN credentials — Done (0s)" in text
    accessible(page)
    screenshot(page, "export-copy-notes-run-page")
