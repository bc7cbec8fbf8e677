"""The app shell in a real browser: accessibility, login, navigation, toasts, app.js helpers."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.contrib import messages
from django.contrib.messages.storage.base import Message
from django.template import loader
from django.utils import timezone
from playwright.sync_api import expect

from conftest import assert_accessible, screenshot
from resolutionflow.tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _active_session(engineer, *, ticket: str, client: str, minutes_ago: int):
    from sessions.models import Session
    from trees.models import Node, Tree, TreeVersion

    tree, _ = Tree.objects.get_or_create(
        slug="vpn-wont-connect", defaults={"name": "VPN won't connect"}
    )
    version, _ = TreeVersion.objects.get_or_create(
        tree=tree, number=1, defaults={"status": TreeVersion.Status.PUBLISHED}
    )
    Node.objects.get_or_create(
        version=version,
        key="done",
        defaults={"kind": Node.Kind.SOLUTION, "title": "Fixed", "is_start": True},
    )
    return Session.objects.create(
        engineer=engineer,
        tree=tree,
        version=version,
        ticket_ref=ticket,
        client=client,
        started_at=timezone.now() - timedelta(minutes=minutes_ago, seconds=5),
    )


def _serve(page, path: str, *, status: int = 200, body: str = "", headers=None) -> None:
    """Answer `path` from the test itself, as if the server had responded."""
    page.route(
        f"**{path}",
        lambda route: route.fulfill(
            status=status, body=body, content_type="text/html", headers=headers or {}
        ),
    )


def _htmx_get(page, path: str, target: str = "#main") -> None:
    page.evaluate(
        "([path, target]) => htmx.ajax('GET', path, {target: target, swap: 'innerHTML'})",
        [path, target],
    )


# --- login ----------------------------------------------------------------------


def test_it_has_an_accessible_login_page(new_page):
    page = new_page()
    page.goto("/accounts/login/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "foundation-login")


def test_it_logs_in_through_the_form(new_page, alice):
    page = new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username")
    assert_accessible(page)
    screenshot(page, "foundation-login-error")

    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("alice")


def test_it_logs_out_from_the_user_menu(engineer_page):
    page = engineer_page
    page.goto("/")
    menu = page.locator(".user-menu")
    trigger = menu.get_by_role("button", name=re.compile("account menu"))
    expect(trigger).to_have_attribute("popovertarget", "user-menu-panel")
    trigger.click()
    expect(menu.get_by_role("link", name="Change password")).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu.get_by_role("link", name="Change password")).to_be_hidden()
    expect(trigger).to_be_focused()

    # A click outside closes it too (popover="auto": the browser's light dismiss).
    trigger.click()
    page.get_by_role("heading", level=1).click()
    expect(menu.get_by_role("link", name="Change password")).to_be_hidden()

    trigger.press("Enter")
    expect(menu.get_by_role("link", name="Change password")).to_be_visible()
    menu.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))


# --- home -----------------------------------------------------------------------------


def test_it_has_an_accessible_home_page_for_an_engineer(engineer_page):
    page = engineer_page
    page.goto("/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Trees")).to_be_visible()
    expect(nav.get_by_role("link", name="History")).to_be_visible()
    expect(nav.get_by_role("link", name="Reports")).to_have_count(0)
    expect(page.get_by_role("heading", name="No active sessions")).to_be_visible()
    expect(page.get_by_role("link", name="Start a session")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "foundation-home-engineer-empty")


def test_it_shows_active_sessions_live_on_home(engineer_page, alice):
    session = _active_session(alice, ticket="T-1042", client="Acme Ltd", minutes_ago=12)
    _active_session(alice, ticket="T-1077", client="Northwind Traders", minutes_ago=75)
    page = engineer_page
    page.goto("/")
    row = page.locator(".session-row").filter(has_text="T-1042")
    expect(row.locator("time[data-relative]")).to_have_text("12 min ago")
    expect(row.locator("[data-elapsed-since]")).to_have_text(re.compile(r"^12m 0\ds$"))
    first = row.locator("[data-elapsed-since]").inner_text()
    # It ticks: waits for the next second's text rather than a fixed second.
    expect(row.locator("[data-elapsed-since]")).not_to_have_text(first)
    resume = row.get_by_role("link", name=re.compile("^Resume"))
    expect(resume).to_have_attribute("href", f"/sessions/{session.pk}/run/")
    other = page.locator(".session-row").filter(has_text="T-1077")
    expect(other.locator("[data-elapsed-since]")).to_have_text(re.compile(r"^1h 15m$"))
    assert_accessible(page)
    screenshot(page, "foundation-home-engineer-active")


def test_it_has_an_accessible_home_page_for_a_manager(manager_page):
    page = manager_page
    page.goto("/")
    nav = page.get_by_role("navigation", name="Main")
    for label in ("Trees", "History", "Prepare", "Reports"):
        expect(nav.get_by_role("link", name=label)).to_be_visible()
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)
    assert_accessible(page)
    screenshot(page, "foundation-home-manager")


def test_it_collapses_the_navigation_on_a_phone(new_page, alice):
    _active_session(alice, ticket="T-1042", client="Acme Ltd", minutes_ago=3)
    page = new_page(alice, viewport=PHONE)
    page.goto("/")
    expect(page.locator(".nav-primary")).to_be_hidden()
    menu = page.get_by_text("Menu", exact=True)
    expect(menu).to_be_visible()
    assert_accessible(page)
    screenshot(page, "foundation-home-phone")

    menu.click()
    panel = page.locator(".nav-mobile-panel")
    expect(panel.get_by_role("link", name="Trees")).to_be_visible()
    expect(panel.get_by_role("link", name="History")).to_be_visible()
    expect(panel.get_by_role("button", name="Log out")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "foundation-home-phone-menu")


def test_it_works_without_javascript(new_page, alice):
    page = new_page(alice, javascript=False, viewport=PHONE)
    page.goto("/")
    page.get_by_text("Menu", exact=True).click()
    expect(page.locator(".nav-mobile-panel").get_by_role("link", name="History")).to_be_visible()
    page.locator(".nav-mobile-panel").get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))


def test_it_shows_a_visible_focus_ring_when_tabbing(engineer_page):
    page = engineer_page
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Tab")
    brand = page.get_by_role("link", name="ResolutionFlow")
    expect(brand).to_be_focused()
    outline = brand.evaluate(
        "el => { const s = getComputedStyle(el); return [s.outlineStyle, s.outlineWidth]; }"
    )
    assert outline == ["solid", "2px"]
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="History").first).to_be_focused()
    screenshot(page, "foundation-focus")

    page.goto("/")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()


# --- toasts and htmx ---------------------------------------------------------------


def test_it_shows_and_dismisses_toasts(engineer_page):
    page = engineer_page
    page.clock.install()
    page.goto("/")
    page.evaluate(
        """() => document.body.dispatchEvent(new CustomEvent('toast',
             {detail: {message: 'Session closed as Resolved.', level: 'success'}}))"""
    )
    region = page.get_by_role("status")
    toast = region.locator(".toast").filter(has_text="Session closed as Resolved.")
    expect(toast).to_be_visible()
    expect(toast).to_have_attribute("data-level", "success")
    screenshot(page, "foundation-toast")
    page.clock.run_for(6000)
    expect(toast).to_have_count(0)

    page.evaluate(
        """() => document.body.dispatchEvent(new CustomEvent('toast',
             {detail: {message: '<b>not html</b>', level: 'bogus'}}))"""
    )
    toast = region.locator(".toast")
    expect(toast).to_have_text("<b>not html</b>")
    expect(toast).to_have_attribute("data-level", "info")
    toast.get_by_role("button", name="Dismiss notification").click()
    expect(toast).to_have_count(0)


def test_it_raises_a_toast_from_an_htmx_hx_trigger_header(engineer_page):
    page = engineer_page
    page.goto("/")
    trigger = json.dumps({"toast": {"message": "Notes saved", "level": "success"}})
    _serve(page, "/__test__/saved", body="<p>Saved body</p>", headers={"HX-Trigger": trigger})
    _htmx_get(page, "/__test__/saved")
    expect(page.get_by_role("status")).to_contain_text("Notes saved")
    expect(page.locator("#main")).to_contain_text("Saved body")


@pytest.mark.parametrize("status", [409, 422])
def test_it_swaps_conflict_and_invalid_responses(engineer_page, status):
    page = engineer_page
    page.goto("/")
    _serve(page, "/__test__/stale", status=status, body=f"<p>Current state ({status})</p>")
    _htmx_get(page, "/__test__/stale")
    expect(page.locator("#main")).to_have_text(f"Current state ({status})")
    expect(page.locator(".toast")).to_have_count(0)


def test_it_does_not_swap_server_errors_and_says_so(engineer_page):
    page = engineer_page
    page.goto("/")
    _serve(page, "/__test__/boom", status=500, body="<p>Traceback</p>")
    _htmx_get(page, "/__test__/boom")
    expect(page.get_by_role("status")).to_contain_text("Something went wrong on our side")
    expect(page.locator("#main")).not_to_contain_text("Traceback")
    expect(page.get_by_role("heading", name="No active sessions")).to_be_visible()


def test_it_enhances_swapped_content(new_page, alice):
    page = new_page(alice, permissions=["clipboard-read", "clipboard-write"])
    page.goto("/")
    three_min_ago = (timezone.now() - timedelta(minutes=3)).isoformat()
    yesterday = (timezone.localtime() - timedelta(days=1)).replace(hour=12).isoformat()
    fragment = f"""
      <time id="t1" datetime="{three_min_ago}" data-relative>10 Feb 2026, 09:15</time>
      <time id="t2" datetime="{yesterday}" data-relative>9 Feb 2026, 12:00</time>
      <span id="elapsed" data-elapsed-since="{three_min_ago}">3 minutes</span>
      <div class="code-block"><pre><code id="cmd">Get-Service -Name RasMan</code></pre>
        <button type="button" class="btn btn-sm copy-btn" data-copy-target="#cmd">Copy</button>
      </div>
      <button type="button" class="btn" data-copy-text="T-1042">Copy ticket</button>
    """
    _serve(page, "/__test__/fragment", body=fragment)
    _htmx_get(page, "/__test__/fragment")

    expect(page.locator("#t1")).to_have_text("3 min ago")
    expect(page.locator("#t1")).to_have_attribute("title", "10 Feb 2026, 09:15")
    expect(page.locator("#t2")).to_have_text("yesterday")
    expect(page.locator("#elapsed")).to_have_text(re.compile(r"^3m 0\ds$"))
    # Badge colours and timeline bars come from the server: tests/browser/test_history.py
    # and test_navigation.py.

    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Copied to clipboard")
    assert page.evaluate("() => navigator.clipboard.readText()") == "Get-Service -Name RasMan"
    page.get_by_role("button", name="Copy ticket").click()
    expect(page.locator(".toast")).to_have_count(2)
    assert page.evaluate("() => navigator.clipboard.readText()") == "T-1042"


def test_the_copy_button_never_covers_a_long_command(engineer_page):
    page = engineer_page
    page.goto("/")
    command = "Get-Process | Sort-Object CPU -Descending | " * 6
    fragment = f"""
      <div class="code-block"><pre tabindex="0"><code id="long">{command}</code></pre>
        <button type="button" class="btn btn-sm copy-btn" data-copy-target="#long">Copy</button>
      </div>
    """
    _serve(page, "/__test__/fragment", body=fragment)
    _htmx_get(page, "/__test__/fragment")
    expect(page.locator("#long")).to_be_visible()

    pre = page.locator(".code-block pre").bounding_box()
    button = page.locator(".code-block .copy-btn").bounding_box()
    assert page.locator(".code-block pre").evaluate("el => el.scrollWidth > el.clientWidth")
    # The line scrolls inside the <pre>; the button sits beside it, not over it.
    assert button["x"] >= pre["x"] + pre["width"]


def test_it_appends_out_of_band_messages_from_htmx_responses(engineer_page):
    page = engineer_page
    page.goto("/")
    toasts = loader.render_to_string(
        "_messages.html",
        {"oob": True, "messages": [Message(messages.WARNING, "That session was already closed.")]},
    )
    _serve(page, "/__test__/closed", body="<p>Refreshed card</p>" + toasts)
    _htmx_get(page, "/__test__/closed")
    expect(page.locator("#main")).to_have_text("Refreshed card")
    toast = page.get_by_role("status").locator(".toast")
    expect(toast).to_have_text("That session was already closed.")
    expect(toast).to_have_attribute("data-level", "warning")
    expect(toast.get_by_role("button", name="Dismiss notification")).to_be_visible()
    expect(toast).to_have_count(0, timeout=8000)


def test_it_opens_and_closes_dialogs(engineer_page):
    page = engineer_page
    page.goto("/")
    _serve(
        page,
        "/__test__/dialog",
        body="""<button type="button" class="btn" command="show-modal" commandfor="done"
                  aria-haspopup="dialog">Complete session</button>
          <dialog id="done" class="dialog" aria-labelledby="done-title" closedby="any">
            <div class="dialog-header"><h2 id="done-title">Complete the session</h2></div>
            <div class="dialog-footer">
              <button type="button" class="btn btn-ghost" command="close"
                      commandfor="done">Cancel</button>
            </div>
          </dialog>""",
    )
    _htmx_get(page, "/__test__/dialog")
    opener = page.get_by_role("button", name="Complete session")
    dialog = page.get_by_role("dialog", name="Complete the session")
    # Swapped in by htmx, the native invoker, Cancel, Escape and the backdrop all work
    # without app.js, and the browser gives the focus back to the opener each time.
    opener.click()
    expect(dialog).to_be_visible()
    assert_accessible(page)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()

    opener.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()

    opener.click()
    expect(dialog).to_be_visible()
    page.mouse.click(5, 5)  # the backdrop, outside the dialog box
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()


def test_it_has_an_accessible_password_change_page(engineer_page):
    page = engineer_page
    page.goto("/accounts/password/")
    page.get_by_label("Old password").fill("not my password")
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password confirmation").fill("different")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_label("Old password")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Your old password was entered incorrectly")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "foundation-password-change-errors")


def test_it_shows_an_accessible_404_page(engineer_page):
    page = engineer_page
    response = page.goto("/no-such-page/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "foundation-404")
