"""The tree library and tree pages (SPEC §4)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from trees.models import Tree
from trees.services import version_create_draft
from trees.tests.factories import TreeFactory, TreeVersionFactory, published_tree, tree_document

pytestmark = pytest.mark.django_db

LIBRARY = reverse("trees:library")


@pytest.fixture
def library_trees():
    published_tree(
        slug="vpn",
        name="VPN won't connect",
        description="Remote user cannot reach the office.",
        category="Networking",
        tags=["vpn", "remote-work"],
    )
    published_tree(
        slug="printer",
        name="Printer offline",
        description="Jobs stay in the queue.",
        category="Printing",
        tags=["printing"],
    )
    published_tree(
        slug="lockout",
        name="Account lockout",
        description="User locked out after a password change, often on VPN phones.",
        category="Identity",
        tags=["active-directory"],
    )
    archived = published_tree(slug="old", name="Old VPN client", category="Networking")
    Tree.objects.filter(pk=archived.pk).update(is_archived=True)
    TreeVersionFactory(tree=TreeFactory(slug="draft", name="Draft VPN", category="Drafts"))


def card_names(response) -> list[str]:
    return re.findall(
        r'<h3 class="tree-card-title"[^>]*>\s*<a href="[^"]+">([^<]+)</a>',
        response.content.decode(),
    )


# --- library ---------------------------------------------------------------------------


def test_it_lists_published_trees_only(alice_client, library_trees):
    response = alice_client.get(LIBRARY)
    assert response.status_code == 200
    assert card_names(response) == ["Account lockout", "Printer offline", "VPN won&#x27;t connect"]
    assert b"Draft VPN" not in response.content and b"Old VPN client" not in response.content


def test_it_shows_the_number_of_steps_in_a_card(alice_client, library_trees):
    response = alice_client.get(LIBRARY)
    assert response.content.decode().count("5 steps") == 3


def test_it_lists_in_a_constant_number_of_queries(
    alice_client, library_trees, django_assert_max_num_queries
):
    for n in range(6):
        published_tree(slug=f"more-{n}", name=f"More {n}", tags=[f"t{n}", "shared"])
    with django_assert_max_num_queries(12):
        response = alice_client.get(LIBRARY)
    assert len(card_names(response)) == 9


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("vpn", ["VPN won&#x27;t connect", "Account lockout"]),  # name and tag, description
        ("QUEUE", ["Printer offline"]),  # description, any case
        ("active-dir", ["Account lockout"]),  # tag
        ("nothing like this", []),
    ],
)
def test_it_searches_name_description_and_tags(alice_client, library_trees, query, expected):
    response = alice_client.get(LIBRARY, {"q": query})
    assert card_names(response) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("phones vpn", ["Account lockout"]),  # every word, in any order
        ("vpn queue", []),  # one tree has "vpn", another "queue": none has both
        ("identity", ["Account lockout"]),  # category
        ("restart router", ["Account lockout", "Printer offline", "VPN won&#x27;t connect"]),
        ("  “printer,”  ", ["Printer offline"]),  # quotes and punctuation around a word
    ],
)
def test_it_matches_every_word_anywhere(alice_client, library_trees, query, expected):
    assert card_names(alice_client.get(LIBRARY, {"q": query})) == expected


def test_it_searches_the_node_titles_of_the_published_version_only(alice_client):
    tree = published_tree(slug="vpn", name="VPN won't connect")
    draft = version_create_draft(tree=tree)
    draft.nodes.filter(key="fixed").update(title="Reseat the flux capacitor")
    assert card_names(alice_client.get(LIBRARY, {"q": "capacitor"})) == []
    assert card_names(alice_client.get(LIBRARY, {"q": "restarting fixed"})) == [
        "VPN won&#x27;t connect"
    ]


def test_it_ranks_name_matches_first_then_the_most_used(alice, alice_client):
    from sessions.tests.factories import SessionFactory

    described = published_tree(slug="a", name="Account lockout", description="Also VPN.")
    busy = published_tree(slug="b", name="Busy VPN", description="Tunnel down.")
    quiet = published_tree(slug="c", name="Quiet VPN", description="Tunnel slow.")
    for _ in range(2):
        SessionFactory(engineer=alice, tree=busy, version=busy.published_version)
    SessionFactory(engineer=alice, tree=described, version=described.published_version)
    assert quiet  # the name breaks the tie between trees of the same rank and use

    assert card_names(alice_client.get(LIBRARY, {"q": "vpn"})) == [
        "Busy VPN",
        "Quiet VPN",
        "Account lockout",
    ]
    assert card_names(alice_client.get(LIBRARY, {"q": "tunnel"})) == ["Busy VPN", "Quiet VPN"]
    # Without a search the library stays in alphabetical order.
    assert card_names(alice_client.get(LIBRARY)) == ["Account lockout", "Busy VPN", "Quiet VPN"]


@pytest.fixture
def demo_library(db):
    from trees.demo import seed_trees

    return seed_trees()


@pytest.mark.parametrize(
    "query",
    ["locked out", "out locked", "LOCKED OUT"],
)
def test_it_finds_a_demo_tree_by_words_a_user_types(alice_client, demo_library, query):
    response = alice_client.get(LIBRARY, {"q": query})
    assert card_names(response)[0] == "AD account lockout"


@pytest.mark.parametrize("query", ["outlook email", "email outlook"])
def test_it_finds_outlook_by_name_and_tag(alice_client, demo_library, query):
    response = alice_client.get(LIBRARY, {"q": query})
    assert card_names(response) == ["Outlook not syncing"]
    assert "1 of 9 trees match" in response.content.decode()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("printr", "Printer offline"),
        ("outlok", "Outlook not syncing"),
        ("lockd account", "AD account lockout"),
        ("netwrk printer", "Printer offline"),
    ],
)
def test_it_finds_a_near_miss_on_postgresql(alice_client, demo_library, query, first):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("near misses need pg_trgm")
    assert card_names(alice_client.get(LIBRARY, {"q": query}))[0] == first


def test_it_finds_no_near_miss_for_a_short_word(alice_client, demo_library):
    # "vp" would be similar to every word that starts with it.
    assert card_names(alice_client.get(LIBRARY, {"q": "vpx"})) == []


def test_it_searches_in_a_constant_number_of_queries(
    alice_client, demo_library, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = alice_client.get(LIBRARY, {"q": "user account network printer outlook"})
    assert response.status_code == 200


def test_it_links_each_card_to_its_trees_start_form(alice_client, library_trees):
    html = alice_client.get(LIBRARY).content.decode()
    starts = re.findall(
        r'<a class="btn btn-secondary btn-sm tree-card-start" href="([^"]+)">.*?'
        r'Start<span class="visually-hidden"> ([^<]+)</span></a>',
        html,
        re.DOTALL,
    )
    assert starts == [
        ("/trees/lockout/#start", "Account lockout"),
        ("/trees/printer/#start", "Printer offline"),
        ("/trees/vpn/#start", "VPN won&#x27;t connect"),
    ]
    detail = alice_client.get("/trees/lockout/").content.decode()
    assert '<section class="card" id="start"' in detail


def test_it_filters_by_category_and_tag(alice_client, library_trees):
    assert card_names(alice_client.get(LIBRARY, {"category": "Printing"})) == ["Printer offline"]
    assert card_names(alice_client.get(LIBRARY, {"tag": "remote-work"})) == [
        "VPN won&#x27;t connect"
    ]
    both = alice_client.get(LIBRARY, {"q": "vpn", "category": "Identity"})
    assert card_names(both) == ["Account lockout"]


def test_it_offers_categories_and_tags_of_published_trees(alice_client, library_trees):
    html = alice_client.get(LIBRARY).content.decode()
    assert re.findall(r'<option value="([^"]*)"', html) == [
        "",
        "Identity",
        "Networking",
        "Printing",
    ]
    chips = re.findall(r'<a class="chip" href="/trees/\?tag=([^"]+)">', html)
    # Not the tags of the archived tree (network, router) nor of the draft.
    assert chips == ["active-directory", "printing", "remote-work", "vpn"]


def test_it_marks_the_selected_tag_with_a_link_to_clear_it(alice_client, library_trees):
    html = alice_client.get(LIBRARY, {"q": "vpn", "tag": "vpn"}).content.decode()
    assert re.search(r'<a class="chip" aria-current="true" href="/trees/\?q=vpn">\s*vpn', html)
    assert '<input type="hidden" name="tag" value="vpn">' in html


def test_it_answers_htmx_with_the_results_only(alice_client, library_trees):
    response = alice_client.get(LIBRARY, {"q": "printer"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<section id="library-results"')
    assert card_names(response) == ["Printer offline"]
    assert "HX-Request" in response["Vary"]


def test_it_answers_an_htmx_history_restore_with_the_whole_page(alice_client, library_trees):
    response = alice_client.get(
        LIBRARY,
        {"q": "printer"},
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert b"<html" in response.content


def test_it_shows_an_empty_state_when_nothing_matches(alice_client, library_trees):
    html = alice_client.get(LIBRARY, {"q": "zzz"}).content.decode()
    assert "No trees match" in html
    assert "Clear filters" in html


def test_it_shows_an_empty_state_without_trees(alice_client, admin_client_logged_in):
    assert "No trees published yet" in alice_client.get(LIBRARY).content.decode()
    html = admin_client_logged_in.get(LIBRARY).content.decode()
    assert reverse("admin:trees_tree_import") in html


def test_it_ignores_invalid_filters(alice_client, library_trees):
    response = alice_client.get(LIBRARY, {"tag": "not a slug!", "q": "x" * 500})
    assert response.status_code == 200
    assert len(card_names(response)) == 3


def test_it_shows_the_active_sessions_banner(alice, alice_client, library_trees):
    from sessions.models import Session

    tree = Tree.objects.get(slug="vpn")
    Session.objects.create(
        engineer=alice,
        tree=tree,
        version=tree.published_version,
        ticket_ref="T-1042",
        started_at="2026-02-10T09:00:00Z",
    )
    html = alice_client.get(LIBRARY).content.decode()
    assert "You have an active session" in html
    assert "T-1042" in html


def test_it_requires_login(client):
    response = client.get(LIBRARY)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_only_answers_get(alice_client):
    assert alice_client.post(LIBRARY).status_code == 405
    assert alice_client.post(reverse("trees:detail", args=["x"])).status_code == 405


# --- tree page ---------------------------------------------------------------------------


def test_it_shows_a_tree_with_its_outline_and_start_form(alice_client):
    tree = published_tree()
    response = alice_client.get(tree.get_absolute_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>No internet</h1>" in html
    assert "The user&#x27;s PC has no internet access." in html
    assert "About 20 min" in html
    assert 'id="node-check-cable"' in html
    assert "<strong>link light</strong>" in html  # body rendered as markdown
    assert 'data-copy-target="#cmd-restart-router"' in html
    assert f'action="{reverse("sessions:start", args=[tree.slug])}"' in html
    for label in ("Ticket", "Client", "Summary"):
        assert f">{label}" in html
    assert "Start session" in html


def test_it_links_a_loop_back_instead_of_repeating_it(alice_client):
    tree = published_tree()
    html = alice_client.get(tree.get_absolute_url()).content.decode()
    # Each node is drawn once; the retest answer links back to the first question.
    assert html.count('id="node-check-cable"') == 1
    assert re.search(
        r'No, retest</span>\s*<span class="outline-ref">.*?back to <a href="#node-check-cable">'
        r"Is the network cable plugged in\?</a>",
        html,
        re.S,
    )


def test_it_nests_answers_under_their_question(alice_client):
    tree = published_tree()
    html = alice_client.get(tree.get_absolute_url()).content.decode()
    outline = html[html.index('<div class="outline">') :]
    # check-cable › Yes › restart-router, then works-now at the same level
    # (an action continues in sequence) › Yes › fixed.
    order = [
        outline.index('id="node-check-cable"'),
        outline.index(">Yes<"),
        outline.index('id="node-restart-router"'),
        outline.index('id="node-works-now"'),
        outline.index('id="node-fixed"'),
        outline.index('id="node-replace-cable"'),
    ]
    assert order == sorted(order)
    depth_before_works_now = outline[: outline.index('id="node-works-now"')]
    assert depth_before_works_now.count("<ul") - depth_before_works_now.count("</ul>") == 3


def test_it_shows_the_tree_page_in_a_constant_number_of_queries(
    alice_client, django_assert_max_num_queries
):
    tree = published_tree()
    with django_assert_max_num_queries(10):
        alice_client.get(tree.get_absolute_url())


def test_it_hides_drafts_and_archived_trees_from_engineers(alice_client):
    draft_only = TreeFactory(slug="draft-only")
    TreeVersionFactory(tree=draft_only)
    archived = published_tree(slug="archived")
    Tree.objects.filter(pk=archived.pk).update(is_archived=True)
    live = published_tree(slug="live")
    version_create_draft(tree=live)

    assert alice_client.get("/trees/draft-only/").status_code == 404
    assert alice_client.get("/trees/archived/").status_code == 404
    assert alice_client.get("/trees/missing/").status_code == 404
    assert alice_client.get("/trees/live/?version=draft").status_code == 404
    assert alice_client.get("/trees/live/?version=1").status_code == 404
    assert alice_client.get("/trees/live/").status_code == 200


def test_it_lets_staff_preview_a_draft(admin_client_logged_in):
    tree = published_tree()
    draft = version_create_draft(tree=tree)
    draft.nodes.filter(key="fixed").update(title="Draft title for the fix")

    html = admin_client_logged_in.get(f"{tree.get_absolute_url()}?version=draft").content.decode()
    assert "Preview of version 2 (draft)" in html
    assert "Draft title for the fix" in html
    assert "Start session" not in html

    html = admin_client_logged_in.get(tree.get_absolute_url()).content.decode()
    assert "Draft title for the fix" not in html
    assert "Start session" in html
    assert "?version=2" in html  # the version list

    assert admin_client_logged_in.get(f"{tree.get_absolute_url()}?version=7").status_code == 404
    assert admin_client_logged_in.get(f"{tree.get_absolute_url()}?version=x").status_code == 404


def test_it_shows_staff_a_tree_without_a_published_version(admin_client_logged_in):
    tree = TreeFactory(slug="new", name="New tree")
    response = admin_client_logged_in.get("/trees/new/")
    assert response.status_code == 200
    assert "has no versions yet" in response.content.decode()
    version_create_draft(tree=tree)
    html = admin_client_logged_in.get("/trees/new/").content.decode()
    assert "Preview of version 1 (draft)" in html
    assert "no start node yet" in html


def test_it_shows_staff_an_archived_tree_without_a_start_form(admin_client_logged_in):
    tree = published_tree()
    Tree.objects.filter(pk=tree.pk).update(is_archived=True)
    html = admin_client_logged_in.get(tree.get_absolute_url()).content.decode()
    assert "This tree is archived" in html
    assert "Start session" not in html


def test_it_lists_unreachable_nodes_of_a_draft(admin_client_logged_in):
    document = tree_document()
    document["nodes"].append({"key": "orphan", "kind": "solution", "title": "Nobody gets here"})
    from trees.services import tree_import

    version = tree_import(data=document, filename="t.json")
    html = admin_client_logged_in.get(
        f"{version.tree.get_absolute_url()}?version=draft"
    ).content.decode()
    assert "Not reachable from the start" in html
    assert 'id="node-orphan"' in html


def test_it_never_renders_a_script_from_a_body(alice_client):
    document = tree_document()
    document["nodes"][3]["body"] = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    document["nodes"][3]["title"] = "<b>Plug</b> it in"
    from trees.services import tree_import

    version = tree_import(data=document, filename="t.json", publish=True)
    html = alice_client.get(version.tree.get_absolute_url()).content.decode()
    assert "alert(1)" not in html and "onerror" not in html
    assert "&lt;b&gt;Plug&lt;/b&gt; it in" in html
