"""Phones (390 × 844) and small windows: nothing runs off the screen.

The close popover of the history stays inside the viewport at every width
(opening upwards when there is no room below), the Start form of a tree page
comes before its outline on a phone, and no main page of any role scrolls
sideways at 390 px.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from conftest import assert_accessible, screenshot
from sessions import services
from sessions.models import Session
from sessions.tests.factories import outcome
from trees.demo import seed_trees
from trees.models import Tree

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 860}
# A small window: Close at the left of its card, too little room below it.
TABLET = {"width": 700, "height": 600}

OVERFLOW = """() => {
    const width = window.innerWidth;
    const wide = [...document.querySelectorAll('body *')]
        .filter(el => el.getBoundingClientRect().right > width + 0.5)
        .slice(0, 5)
        .map(el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''));
    return {scrollWidth: document.documentElement.scrollWidth, width, wide};
}"""


def assert_no_horizontal_scroll(page: Page) -> None:
    found = page.evaluate(OVERFLOW)
    assert found["scrollWidth"] <= found["width"], (
        f"{page.url} scrolls sideways: {found['scrollWidth']} > {found['width']} ({found['wide']})"
    )


def settle(page: Page) -> None:
    """Let the popover's pop-in animation end: its box moves while it runs."""
    page.wait_for_function(
        """() => document.getAnimations().every(a =>
            a.playState !== 'running' || a.effect.getComputedTiming().iterations === Infinity)"""
    )


def window_screenshot(page: Page, name: str) -> None:
    """conftest's screenshot, of the window only: what fits on the screen is the point here.

    (A full-page capture with a popover open crashes Chromium 156's renderer when
    the popover sits at its last position-try fallback.)
    """
    if os.environ.get("SCREENSHOTS"):
        out = Path(settings.BASE_DIR) / "var" / "screenshots"
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / f"{name}.png"))


def rect(locator) -> dict:
    return locator.evaluate(
        """el => { const r = el.getBoundingClientRect();
            return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; }"""
    )


def assert_in_viewport(page: Page, locator, what: str) -> None:
    box = rect(locator)
    width, height = page.evaluate("() => [window.innerWidth, window.innerHeight]")
    assert box["left"] >= 0 and box["right"] <= width, f"{what} leaves the sides: {box}"
    assert box["top"] >= 0 and box["bottom"] <= height, f"{what} leaves the top or bottom: {box}"


def started(engineer, tree: Tree, minutes_ago: float, clock, **fields) -> Session:
    clock.set(timezone.now() - timedelta(minutes=minutes_ago))
    session = services.session_create(tree=tree, engineer=engineer, **fields)
    clock.set(timezone.now())
    return session


@pytest.fixture
def demo_trees(live) -> dict[str, Tree]:
    return {tree.slug: tree for tree in seed_trees()}


# --- the close popover -------------------------------------------------------------


@pytest.fixture
def active_sessions(alice, demo_trees, clock) -> list[Session]:
    """A page of active sessions, long enough to scroll on a desktop too."""
    trees = list(demo_trees.values())
    return [
        started(
            alice,
            trees[i % len(trees)],
            5 + 7 * i,
            clock,
            ticket_ref=f"T-{2000 + i}",
            client="Castle & Finch Solicitors",
        )
        for i in range(10)
    ]


@pytest.mark.parametrize("viewport", [PHONE, TABLET, DESKTOP], ids=["390", "700", "1366"])
def test_it_keeps_the_close_popover_inside_the_viewport(new_page, alice, active_sessions, viewport):
    page = new_page(alice, viewport=viewport)
    page.goto(reverse("sessions:history"))
    buttons = page.get_by_role("button", name="Close", exact=True)
    expect(buttons).to_have_count(len(active_sessions))

    for which in ("first", "last"):
        if which == "last":
            page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
            button = buttons.last
        else:
            button = buttons.first
        button.click()
        popover = page.locator("[data-close-popover]:popover-open")
        confirm = popover.get_by_role("button", name="Confirm")
        expect(confirm).to_be_visible()
        settle(page)
        window_screenshot(page, f"phone-history-popover-{which}-{viewport['width']}")
        assert_in_viewport(page, popover, f"the {which} card's popover")
        assert_in_viewport(page, confirm, f"the {which} card's Confirm")
        assert_no_horizontal_scroll(page)
        page.keyboard.press("Escape")
        expect(popover).to_have_count(0)


def test_it_opens_the_close_popover_upwards_without_room_below(new_page, alice, active_sessions):
    page = new_page(alice, viewport=DESKTOP)
    page.goto(reverse("sessions:history"))
    page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
    button = page.get_by_role("button", name="Close", exact=True).last
    button.click()
    popover = page.locator("[data-close-popover]:popover-open")
    expect(popover.get_by_role("button", name="Confirm")).to_be_visible()
    settle(page)
    assert rect(popover)["bottom"] <= rect(button)["top"]


def test_it_shows_the_close_form_in_the_card_without_javascript_on_a_phone(
    new_page, alice, active_sessions
):
    page = new_page(alice, viewport=PHONE, javascript=False)
    last = active_sessions[-1]  # the oldest: the last card
    page.goto(reverse("sessions:history") + f"?close={last.pk}")
    popover = page.locator(f"#session-{last.pk}").get_by_role("dialog")
    expect(popover.get_by_role("button", name="Confirm")).to_be_visible()
    window_screenshot(page, "phone-history-popover-nojs-390")
    box, card = rect(popover), rect(page.locator(f"#session-{last.pk}"))
    assert card["left"] <= box["left"] and box["right"] <= card["right"]
    assert_no_horizontal_scroll(page)


# --- the tree page ----------------------------------------------------------------


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_it_puts_the_start_form_above_the_outline_on_a_phone(
    new_page, alice, demo_trees, javascript
):
    page = new_page(alice, viewport=PHONE, javascript=javascript)
    page.goto(demo_trees["slow-pc"].get_absolute_url())
    start = page.get_by_role("button", name="Start session")
    assert rect(start)["bottom"] <= PHONE["height"]

    outline = page.locator(".outline")
    expect(outline).to_be_hidden()
    toggle = page.locator(".outline-collapse-toggle")
    expect(toggle.get_by_text("Show all 55 steps")).to_be_visible()
    expect(toggle.get_by_text("Hide the steps")).to_be_hidden()
    window_screenshot(page, f"phone-tree-{'js' if javascript else 'nojs'}-390")
    toggle.click()
    expect(outline.locator(".outline-step").first).to_be_visible()
    expect(toggle.get_by_text("Hide the steps")).to_be_visible()
    expect(toggle.get_by_text("Show all 55 steps")).to_be_hidden()
    assert rect(start)["bottom"] <= rect(outline)["top"]
    assert_no_horizontal_scroll(page)
    if javascript:
        assert_accessible(page)


def test_it_keeps_the_outline_open_beside_the_start_form_on_a_desktop(new_page, alice, demo_trees):
    page = new_page(alice, viewport=DESKTOP)
    page.goto(demo_trees["slow-pc"].get_absolute_url())
    outline = page.locator(".outline")
    expect(outline.locator(".outline-step").first).to_be_visible()
    expect(page.locator(".outline-collapse-toggle")).to_be_hidden()
    start = page.get_by_role("button", name="Start session")
    assert rect(start)["bottom"] <= DESKTOP["height"]
    assert rect(start)["left"] >= rect(outline)["right"]
    window_screenshot(page, "phone-tree-1366")
    assert_accessible(page)


# --- every page at 390 px ------------------------------------------------------------


@pytest.fixture
def sessions_of(clock, demo_trees):
    """For a person: a session still running and a completed one."""

    def make(person) -> tuple[Session, Session]:
        active = started(
            person,
            demo_trees["outlook-not-syncing"],  # a long name in the library's banner
            12,
            clock,
            ticket_ref="T-31337",
            client="Castle & Finch Solicitors (head office)",
            summary="The whole PC is slow since this morning's Windows update",
        )
        done = started(
            person,
            demo_trees["outlook-not-syncing"],
            90,
            clock,
            ticket_ref="T-31301",
            client="Acme",
        )
        services.session_complete(session=done, outcome=outcome("resolved"), by=person)
        return active, done

    return make


def visit_all(page: Page, paths: list[str], role: str) -> None:
    failures = []
    for path in paths:
        page.goto(path)
        found = page.evaluate(OVERFLOW)
        if found["scrollWidth"] > found["width"]:
            failures.append(f"{path}: {found['scrollWidth']}px ({found['wide']})")
        screenshot(page, f"phone-{role}-{path.strip('/').replace('/', '_')[:40] or 'home'}")
    assert failures == [], f"pages wider than {PHONE['width']} px for {role}: {failures}"


def engineer_paths(active: Session, done: Session, tree: Tree) -> list[str]:
    return [
        reverse("home"),
        reverse("trees:library"),
        tree.get_absolute_url(),
        reverse("sessions:run", args=[active.pk]),
        reverse("sessions:history"),
        reverse("sessions:detail", args=[done.pk]),
        reverse("sessions:edit", args=[active.pk]),
        reverse("sessions:run", args=[active.pk]) + "?handoff=1",
        reverse("password_change"),
        reverse("profile"),
    ]


def test_no_engineer_page_scrolls_sideways_on_a_phone(new_page, alice, sessions_of, demo_trees):
    from api.services import token_create

    active, done = sessions_of(alice)
    token_create(user=alice, name="A token with a long name for the PSA synchronisation job")
    page = new_page(alice, viewport=PHONE)
    visit_all(page, engineer_paths(active, done, demo_trees["slow-pc"]), "engineer")


def test_no_manager_page_scrolls_sideways_on_a_phone(
    new_page, alice, charlie, sessions_of, demo_trees
):
    sessions_of(alice)
    active, done = sessions_of(charlie)
    page = new_page(charlie, viewport=PHONE)
    paths = engineer_paths(active, done, demo_trees["slow-pc"]) + [
        reverse("sessions:prepare"),
        reverse("reports:overview"),
        reverse("reports:tree", args=["slow-pc"]),
    ]
    visit_all(page, paths, "manager")


def test_no_admin_page_scrolls_sideways_on_a_phone(new_page, admin_user, demo_trees):
    version = demo_trees["slow-pc"].versions.get()
    page = new_page(admin_user, viewport=PHONE)
    paths = [
        reverse("admin:index"),
        reverse("admin:trees_tree_changelist"),
        reverse("admin:trees_treeversion_change", args=[version.pk]),
    ]
    visit_all(page, paths, "admin")
