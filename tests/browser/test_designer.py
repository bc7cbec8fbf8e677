"""The tree designer in a real browser (SPEC §8): what only a browser shows.

One flow builds a tree from nothing (a question with three answers, each `Add answer`
making its node, an action, solutions, a loop back), validates it (problems outlined on
the right nodes), fixes it by keyboard alone, publishes it and runs a session on it as
an engineer. A second covers two authors on one draft (the stale save refused), delete
with retargeting, compare and restore. Both watch the console, the CSP and axe.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conftest import assert_accessible, screenshot
from tests.browser.test_csp import Watcher
from trees import services as tree_services
from trees.models import Node, TreeVersion

pytestmark = pytest.mark.browser


def _accessible(watcher: Watcher, where: str) -> None:
    """axe on the page, after the watcher's check: axe adds a <style> of its own."""
    watcher.settle()
    watcher.check(where)
    assert_accessible(watcher.page)
    watcher.page.evaluate("window.__cspViolations = []")
    watcher.console.clear()


def _panel_for(page, title: str):
    panel = page.locator("#panel")
    expect(panel.get_by_role("heading", level=2)).to_contain_text(title)
    return panel


def _add_answer(page, label: str, kind: str, title: str) -> None:
    panel = page.locator("#panel")
    panel.get_by_label("Answer", exact=True).last.fill(label)
    new = panel.locator(".designer-answer-new")
    new.get_by_label("Title of the new node").fill(title)
    new.get_by_label("Kind of the new node").select_option(kind)
    panel.get_by_role("button", name="Add answer").click()
    expect(panel.get_by_role("status")).to_contain_text("was saved")
    expect(
        page.locator("#diagram").get_by_role("link", name=f"{kind.title()}: {title}")
    ).to_be_visible()


def test_an_author_builds_validates_fixes_and_publishes_a_tree(new_page, live, admin_user, alice):
    tree = tree_services.tree_create(slug="printer-jam", name="Printer jams")
    draft = tree_services.version_create_draft(tree=tree)
    page = new_page(admin_user)
    watcher = Watcher(page, live.url)
    designer = reverse("admin:trees_treeversion_designer", args=[draft.pk])
    watcher.visit(designer)
    expect(page.get_by_text("No nodes yet")).to_be_visible()

    # A question, then three answers, each making its own node in the same step.
    page.get_by_label("Kind", exact=True).first.select_option("question")
    page.get_by_label("Title", exact=True).first.fill("What does the printer show?")
    page.get_by_role("button", name="Add node").click()
    _panel_for(page, "Question: What does the printer show?")
    _add_answer(page, "Paper jam", "action", "Clear the paper jam")
    _add_answer(page, "Offline", "solution", "Set the printer online")
    _add_answer(page, "Nothing", "solution", "Reinstall the driver")
    watcher.settle()
    watcher.check("designer: three answers added")

    # Validate: the action has no next node, and that is marked on that node.
    page.get_by_role("button", name="Validate").click()
    action = page.locator('#diagram .node[data-key="clear-the-paper-jam"]')
    expect(action).to_have_class(re.compile("node-has-problem"))
    expect(page.locator('#diagram .node[data-key="what-does-the-printer-show"]')).not_to_have_class(
        re.compile("node-has-problem")
    )
    problems = page.locator("#problems")
    expect(problems).to_contain_text("clear-the-paper-jam: An action needs a next node.")
    screenshot(page, "designer-problems")

    # Fix it by keyboard alone: focus the node, Enter opens its panel, the fields, Save.
    node = page.get_by_role("link", name="Action: Clear the paper jam")
    node.focus()
    expect(node).to_be_focused()
    outline = node.locator(".node-hit").evaluate("e => getComputedStyle(e).strokeWidth")
    assert outline == "4px", "the focused node has no visible focus"
    page.keyboard.press("Enter")
    heading = page.locator("#panel-title")
    expect(heading).to_have_text("Action: Clear the paper jam")
    expect(heading).to_be_focused()
    _accessible(watcher, "designer: the panel open by keyboard")
    page.get_by_label("Next node", exact=True).focus()
    page.get_by_label("Next node", exact=True).select_option(label="A new node…")
    page.keyboard.press("Tab")
    page.keyboard.type("Does it print now?")
    page.get_by_role("button", name="Save node").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#panel").get_by_role("status")).to_contain_text("was saved")
    page.keyboard.press("Escape")
    expect(page.get_by_role("link", name="Action: Clear the paper jam")).to_be_focused()

    # The new node is a solution by default: make it a question that loops back.
    page.get_by_role("link", name="Solution: Does it print now?").click()
    panel = _panel_for(page, "Does it print now?")
    panel.get_by_label("Kind", exact=True).select_option("question")
    panel.get_by_role("button", name="Save node").click()
    panel = _panel_for(page, "Question: Does it print now?")
    _add_answer(page, "Yes", "solution", "Printing works again")
    panel.get_by_label("Answer", exact=True).last.fill("No, try again")
    panel.locator(".designer-answer-new").get_by_label("Leads to").select_option(
        label="what-does-the-printer-show: What does the printer show?"
    )
    panel.get_by_role("button", name="Add answer").click()
    expect(page.locator("#problems h2")).to_have_text("No problems: this version can be published")
    expect(page.locator("#diagram .arrow-loop")).to_have_count(1)
    expect(page.locator("#diagram .arrow-label", has_text="↺ No, try again")).to_be_visible()
    _accessible(watcher, "designer: fixed")
    screenshot(page, "designer-built")

    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".messagelist")).to_contain_text("is published")
    watcher.check("designer: published")
    watcher.assert_clean()

    # An engineer runs it: the diagram on the tree page, then the session.
    engineer = new_page(alice)
    engineer.goto(reverse("trees:detail", args=["printer-jam"]))
    expect(engineer.locator(".tree-diagram svg")).to_be_visible()
    expect(engineer.get_by_label("Ticket")).to_be_in_viewport()
    engineer.get_by_label("Ticket").fill("T-7001")
    engineer.get_by_role("button", name="Start session").click()
    engineer.get_by_role("button", name="Paper jam").click()
    engineer.get_by_role("button", name="Done").click()
    engineer.get_by_role("button", name="Yes", exact=True).click()
    expect(engineer.get_by_role("heading", name="Printing works again")).to_be_visible()


def test_two_authors_delete_retarget_compare_and_restore(new_page, live, admin_user):
    from trees.tests.factories import published_tree

    tree = published_tree()
    draft = tree_services.version_create_draft(tree=tree)
    designer = reverse("admin:trees_treeversion_designer", args=[draft.pk])
    first = new_page(admin_user)
    second = new_page(admin_user)
    watcher = Watcher(second, live.url)
    first.goto(f"{designer}?node=fixed")
    watcher.visit(f"{designer}?node=fixed")
    for page in (first, second):
        expect(page.get_by_label("Title", exact=True).last).to_have_value(
            "Restarting the router fixed it"
        )

    first.get_by_label("Title", exact=True).last.fill("The router restart fixed it")
    first.get_by_role("button", name="Save node").click()
    expect(first.locator("#panel").get_by_role("status")).to_contain_text("was saved")
    second.get_by_label("Title", exact=True).last.fill("A second author's title")
    fixed = draft.nodes.get(key="fixed")
    watcher.expect(reverse("admin:trees_treeversion_designer_save", args=[draft.pk, fixed.pk]), 409)
    second.get_by_role("button", name="Save node").click()
    expect(second.locator("#panel").get_by_role("alert")).to_contain_text(
        "Someone else saved this node after you opened it"
    )
    expect(second.get_by_label("Title", exact=True).last).to_have_value("A second author's title")
    assert Node.objects.get(version=draft, key="fixed").title == "The router restart fixed it"
    # The refused page keeps the author's text and the diagram shows the other's.
    expect(second.locator("#diagram")).to_contain_text("The router restart fixed")
    watcher.settle()
    watcher.check("designer: stale save refused")

    # Delete with retargeting: check-cable's "No" moves to "fixed".
    watcher.visit(f"{designer}?node=replace-cable")
    panel = second.locator("#panel")
    expect(panel).to_contain_text("Pointed at by: check-cable")
    panel.get_by_label("Point their arrows at").select_option(str(fixed.pk))
    panel.get_by_role("button", name="Delete node").click()
    expect(second.locator(".messagelist")).to_contain_text("Its arrows now point at “fixed”")
    expect(second.locator('#diagram .node[data-key="replace-cable"]')).to_have_count(0)

    second.get_by_role("button", name="Publish").click()
    expect(second.locator(".messagelist")).to_contain_text("is published")

    # Compare the two versions, then restore the first as a new draft.
    second.get_by_role("link", name="Compare with version 2").first.click()
    expect(second.get_by_role("heading", name="Nodes removed (1)")).to_be_visible()
    expect(second.get_by_text("Answer “No” retargeted")).to_be_visible()
    _accessible(watcher, "compare")
    screenshot(second, "designer-compare")
    watcher.visit(
        reverse("admin:trees_treeversion_designer", args=[tree.versions.get(number=1).pk])
    )
    row = second.get_by_role("row", name=re.compile(r"^Version 1 "))
    row.get_by_role("button", name="Restore as draft").click()
    expect(second.locator(".messagelist")).to_contain_text("restored as the new draft, version 3")
    restored = TreeVersion.objects.get(tree=tree, status="draft")
    assert restored.nodes.filter(key="replace-cable").exists()
    watcher.check("designer: restored")
    watcher.assert_clean()
