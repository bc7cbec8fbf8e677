"""The tree library and a tree page in a real browser (SPEC §4)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conftest import assert_accessible, screenshot
from trees.demo import seed_trees
from trees.services import version_create_draft

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_trees(live):
    return seed_trees()


def test_it_searches_the_library_as_you_type_and_opens_a_tree(engineer_page, demo_trees):
    page = engineer_page
    page.goto(reverse("trees:library"))
    expect(page.get_by_role("heading", name="Tree library")).to_be_visible()
    cards = page.locator(".tree-card")
    expect(cards).to_have_count(len(demo_trees))
    assert_accessible(page)
    screenshot(page, "trees-library")

    page.get_by_label("Search").fill("vpn")
    expect(page).to_have_url(re.compile(r"/trees/\?q=vpn"))
    expect(cards.first).to_be_visible()
    names = cards.locator(".tree-card-title").all_inner_texts()
    assert names and len(names) < len(demo_trees)
    assert "VPN won't connect" in names
    screenshot(page, "trees-library-search")

    page.get_by_role("link", name="VPN won't connect", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="VPN won't connect")).to_be_visible()
    outline = page.locator(".outline")
    expect(outline.locator(".outline-step").first).to_be_visible()
    expect(outline.locator(".outline-answer").first).to_be_visible()
    expect(page.get_by_role("button", name="Start session")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "trees-detail")


@pytest.mark.parametrize(("width", "height"), [(1366, 860), (390, 844)], ids=["desktop", "phone"])
def test_it_starts_from_a_library_card_on_the_trees_start_form(
    new_page, alice, demo_trees, width, height
):
    page = new_page(alice, viewport={"width": width, "height": height})
    page.goto(reverse("trees:library"))
    page.get_by_label("Search").fill("locked out")
    expect(page).to_have_url(re.compile(r"q=locked"))
    card = page.locator(".tree-card").first
    expect(card.locator(".tree-card-title")).to_have_text("AD account lockout")
    screenshot(page, f"trees-library-start-{width}")
    assert_accessible(page)

    page.get_by_role("link", name="Start AD account lockout", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="AD account lockout")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/trees/ad-account-lockout/#start$"))
    expect(page.get_by_role("heading", name="Start a session")).to_be_in_viewport()
    expect(page.get_by_label("Ticket")).to_be_in_viewport()
    # The fragment moves the keyboard's starting point too: Tab goes into the form.
    page.keyboard.press("Tab")
    expect(page.get_by_label("Ticket")).to_be_focused()
    screenshot(page, f"trees-detail-start-{width}")


def test_it_filters_by_category_without_javascript(new_page, alice, demo_trees):
    page = new_page(alice, javascript=False)
    page.goto(reverse("trees:library"))
    page.get_by_label("Category").select_option("Networking")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"category=Networking"))
    badges = page.locator(".tree-card .badge").all_inner_texts()
    assert badges and set(badges) == {"Networking"}


def test_it_follows_a_loop_back_link_in_the_outline(engineer_page, demo_trees):
    page = engineer_page
    tree = next(tree for tree in demo_trees if tree.slug == "vpn-wont-connect")
    page.goto(tree.get_absolute_url())
    back = page.locator(".outline-ref a").first
    target = back.get_attribute("href")
    back.click()
    expect(page).to_have_url(re.compile(re.escape(target) + "$"))
    expect(page.locator(f"{target}")).to_be_in_viewport()


def test_it_shows_the_admin_version_editor(admin_page, demo_trees):
    tree = next(tree for tree in demo_trees if tree.slug == "mapped-drive-missing")
    draft = version_create_draft(tree=tree)
    page = admin_page
    page.goto(reverse("admin:trees_treeversion_change", args=[draft.pk]))
    expect(page.get_by_role("button", name="Publish")).to_be_visible()
    expect(page.locator("#nodes-group")).to_be_visible()
    screenshot(page, "trees-admin-version")

    page.get_by_role("button", name="Validate").click()
    expect(page.locator(".messagelist")).to_contain_text("no problems found")

    page.goto(reverse("admin:trees_tree_changelist"))
    expect(page.get_by_role("link", name="Import trees")).to_be_visible()
    screenshot(page, "trees-admin-list")
