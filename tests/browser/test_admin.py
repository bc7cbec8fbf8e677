"""The Django admin's pages for authors, in a real browser (SPEC §1)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conftest import screenshot
from sessions import services
from sessions.models import Outcome
from sessions.tests.factories import build_version
from trees.services import tree_import, version_create_draft

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}


def big_tree_document(nodes: int = 40) -> dict:
    """A valid tree of `nodes` nodes with long titles, bodies, commands and answers."""
    keys = [f"check-the-dns-resolver-cache-{n:02d}" for n in range(nodes - 1)]
    items = []
    for n, key in enumerate(keys):
        following = keys[n + 1] if n + 1 < len(keys) else "escalate-to-the-network-team"
        node = {
            "key": key,
            "title": f"Does nslookup of the customer's intranet name return the right address {n}?",
            "body": "Run it from the **affected PC**, then from a working one, and compare "
            "the answers; a stale record in the cache shows as a different address.",
        }
        if n % 3 == 1:
            node |= {
                "kind": "action",
                "command": "Clear-DnsClientCache; ipconfig /flushdns; "
                "Resolve-DnsName intranet.contoso.example -Type A -DnsOnly",
                "next": following,
            }
        else:
            node |= {
                "kind": "question",
                "choices": [
                    {"label": "Yes, it returns the address of the file server", "next": following},
                    {"label": "No, it times out or returns NXDOMAIN", "next": following},
                    {"label": "It returns an address on the guest network", "next": following},
                ],
            }
        items.append(node)
    items.append(
        {"key": "escalate-to-the-network-team", "kind": "solution", "title": "Escalate it"}
    )
    return {
        "format": "resolutionflow/tree@1",
        "slug": "dns-deep-dive",
        "name": "DNS resolution fails for intranet names",
        "start": keys[0],
        "nodes": items,
    }


def overflow(page) -> dict:
    return page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,"
        " header: document.querySelector('#header').getBoundingClientRect().width})"
    )


@pytest.fixture
def big_versions(live):
    """The big tree published (v1) and a draft of it (v2)."""
    published = tree_import(data=big_tree_document(), filename="dns.json", publish=True)
    return published, version_create_draft(tree=published.tree)


@pytest.mark.parametrize("which", ["draft", "published"])
def test_the_version_page_fits_a_laptop_screen(new_page, admin_user, big_versions, which):
    version = big_versions[0] if which == "published" else big_versions[1]
    page = new_page(admin_user, viewport=LAPTOP)

    page.goto(reverse("admin:trees_treeversion_change", args=[version.pk]))

    expect(page.locator("#nodes-group")).to_be_visible()
    expect(page.locator("#nodes-group tbody tr.has_original")).to_have_count(40)
    sizes = overflow(page)
    assert sizes["scroll"] <= sizes["inner"], sizes
    assert sizes["header"] == sizes["inner"], sizes
    screenshot(page, f"admin-version-{which}-1366")
    page.set_viewport_size(PHONE)
    screenshot(page, f"admin-version-{which}-390")


def test_a_published_versions_rows_link_to_view_answers(new_page, admin_user, big_versions):
    published = big_versions[0]
    page = new_page(admin_user, viewport=LAPTOP)
    page.goto(reverse("admin:trees_treeversion_change", args=[published.pk]))

    expect(page.get_by_role("link", name="Edit answers")).to_have_count(0)
    page.get_by_role("link", name="View answers").first.click()

    expect(page.locator("#content h1")).to_contain_text("View node")
    expect(page.get_by_role("button", name="Save")).to_have_count(0)


def test_the_detail_page_shows_an_admins_corrections(new_page, alice, admin_user, live):
    version = build_version()
    session = services.session_create(tree=version.tree, engineer=alice, ticket_ref="T-88")
    services.session_complete(
        session=session,
        outcome=Outcome.objects.get(code="escalated"),
        by=alice,
        outcome_notes="Sent to L3: the VPN concentrator drops the tunnel after 30 seconds.",
        next_steps="Wait for L3.",
    )
    services.session_change_outcome(
        session=session,
        outcome=Outcome.objects.get(code="resolved"),
        by=admin_user,
        outcome_notes="L3 replaced the concentrator's certificate; the tunnel stays up.",
    )
    services.session_change_outcome(
        session=session,
        outcome=Outcome.objects.get(code="resolved"),
        by=admin_user,
        next_steps="Close the ticket once the user confirms tomorrow.",
    )
    url = reverse("sessions:detail", args=[session.pk])

    for name, viewport in (("1366", LAPTOP), ("390", PHONE)):
        page = new_page(alice, viewport=viewport)
        page.goto(url)
        card = page.locator("section", has=page.get_by_role("heading", name="Changes"))
        expect(card.locator("li")).to_have_count(3)
        expect(card).to_contain_text("Outcome notes before")
        expect(card).to_contain_text("Next steps after")
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        card.scroll_into_view_if_needed()
        screenshot(page, f"session-detail-outcome-history-{name}")
