"""The tree designer (SPEC §8): its pages in the admin, its services, its diagram."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from trees import diagram, services
from trees.compare import compare
from trees.models import Choice, Node, Tree, TreeVersion
from trees.services import version_create_draft, version_graph
from trees.tests.factories import published_tree
from trees.tests.helpers import build_version
from trees.validation import graph_problems

pytestmark = pytest.mark.django_db


class _Fields(HTMLParser):
    """The fields a browser would send from the first form whose action contains `action`."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.done = action, False, False
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and not self.done and self.action in (a.get("action") or ""):
            self.inside = True
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit",):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.data[name] = "on"
            else:
                self.data[name] = a.get("value") or ""
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += (
                data.removeprefix("\n") if not self.data[self._textarea] else data
            )

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form" and self.inside:
            self.inside, self.done = False, True


def form_fields(response, action: str) -> dict[str, str]:
    parser = _Fields(action)
    parser.feed(response.content.decode())
    assert parser.done, f"no form posting to {action}"
    return parser.data


def designer_url(version, node=None) -> str:
    url = reverse("admin:trees_treeversion_designer", args=[version.pk])
    return f"{url}?node={node.key}" if node else url


def save_url(node) -> str:
    return reverse("admin:trees_treeversion_designer_save", args=[node.version_id, node.pk])


@pytest.fixture
def draft():
    return version_create_draft(tree=published_tree())


def open_panel(client, node) -> dict[str, str]:
    response = client.get(designer_url(node.version, node))
    assert response.status_code == 200
    return form_fields(response, save_url(node))


# --- the page and permissions -------------------------------------------------------------


def test_it_draws_the_version_with_problems_on_their_nodes(admin_client_logged_in):
    version = build_version(
        [
            {"key": "ask", "kind": "question", "start": True, "choices": [("Only", "done")]},
            {"key": "done", "kind": "solution"},
            {"key": "orphan", "kind": "solution"},
        ]
    )
    response = admin_client_logged_in.get(designer_url(version))
    assert response.status_code == 200
    assert response.templates[0].name == "admin/trees/treeversion/designer.html"
    html = response.content.decode()
    assert 'aria-label="Question: Ask"' in html
    assert "style=" not in html.split('<div id="diagram"')[1].split("</svg>")[0]
    # Each problem is marked on its node and listed with a link that selects it.
    assert {key for key, _node, _message in response.context["problem_list"]} == {"ask", "orphan"}
    ask = html.split('data-key="ask"')[1].split("</g>")[0]
    assert "node-has-problem" in html.split('data-key="ask"')[0].rsplit("<g", 1)[1]
    assert "A question needs 2–20 answers" in ask
    assert 'href="?node=orphan"' in html
    assert "Publish" in html and "Add node" in html


def test_it_shows_published_versions_read_only_with_new_draft(admin_client_logged_in):
    version = published_tree().published_version
    node = version.nodes.get(key="check-cable")
    response = admin_client_logged_in.get(designer_url(version, node))
    html = response.content.decode()
    assert response.status_code == 200
    assert "New draft" in html
    assert "Save node" not in html and "Add node" not in html
    assert "Is the network cable plugged in?" in html


def test_it_renders_only_the_panel_for_htmx(admin_client_logged_in, draft):
    node = draft.nodes.get(key="restart-router")
    response = admin_client_logged_in.get(designer_url(draft, node), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html
    assert html.strip().startswith('<section id="panel"')
    assert "Save node" in html


def test_it_lets_view_only_staff_look_but_not_edit(draft, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_treeversion"),
        Permission.objects.get(codename="view_tree"),
    )
    client = Client()
    client.force_login(viewer)
    node = draft.nodes.get(key="fixed")
    response = client.get(designer_url(draft, node))
    assert response.status_code == 200
    assert "Save node" not in response.content.decode()
    before = node.title
    response = client.post(save_url(node), {"title": "Hacked"})
    assert response.status_code == 403
    node.refresh_from_db()
    assert node.title == before
    add = reverse("admin:trees_treeversion_designer_add", args=[draft.pk])
    assert client.post(add, {"kind": "solution", "title": "X"}).status_code == 403
    restore = reverse("admin:trees_treeversion_restore", args=[draft.pk])
    assert client.post(restore).status_code == 403


def test_it_keeps_the_designer_from_staff_without_view_permission(draft, django_user_model):
    staff = django_user_model.objects.create_user("nobody", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(designer_url(draft)).status_code == 403
    compare_url = reverse("admin:trees_tree_compare", args=[draft.tree_id])
    assert client.get(compare_url).status_code == 403
    duplicate = reverse("admin:trees_tree_duplicate", args=[draft.tree_id])
    assert client.get(duplicate).status_code == 403


def test_it_refuses_the_wrong_method(admin_client_logged_in, draft):
    node = draft.nodes.first()
    assert admin_client_logged_in.post(designer_url(draft)).status_code == 405
    assert admin_client_logged_in.get(save_url(node)).status_code == 405
    delete = reverse("admin:trees_treeversion_designer_delete", args=[draft.pk, node.pk])
    assert admin_client_logged_in.get(delete).status_code == 405
    compare_url = reverse("admin:trees_tree_compare", args=[draft.tree_id])
    assert admin_client_logged_in.post(compare_url).status_code == 405


def test_it_gives_404_for_a_node_of_another_version(admin_client_logged_in, draft):
    other = published_tree(slug="other-tree").published_version.nodes.first()
    url = reverse("admin:trees_treeversion_designer_save", args=[draft.pk, other.pk])
    assert admin_client_logged_in.post(url, {"title": "x"}).status_code == 404


# --- editing a node --------------------------------------------------------------------------


def test_it_saves_a_node_and_redraws_diagram_and_problems(admin_client_logged_in, draft):
    node = draft.nodes.get(key="restart-router")
    data = open_panel(admin_client_logged_in, node)
    data.update({"title": "Restart the router and wait", "save": "1"})
    response = admin_client_logged_in.post(save_url(node), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="diagram" class="diagram-scroll designer-diagram" hx-swap-oob="true"' in html
    assert 'id="problems"' in html and "hx-swap-oob" in html.split('id="problems"')[1][:200]
    assert "Restart the router and wait" in html
    node.refresh_from_db()
    assert node.title == "Restart the router and wait"
    assert node.next.key == "works-now"


def test_it_saves_without_javascript_and_redirects_to_the_node(admin_client_logged_in, draft):
    node = draft.nodes.get(key="fixed")
    data = open_panel(admin_client_logged_in, node)
    data["body"] = "It **works**."
    response = admin_client_logged_in.post(save_url(node), data)
    assert response.status_code == 302
    assert response.url.endswith("?node=fixed")
    node.refresh_from_db()
    assert node.body == "It **works**."


def test_it_refuses_bad_fields_and_changes_nothing(admin_client_logged_in, draft):
    node = draft.nodes.get(key="check-cable")
    data = open_panel(admin_client_logged_in, node)
    cases = [
        ({"key": "not a slug"}, "key"),
        ({"key": "fixed"}, "Another node of this version already has this key."),
        ({"title": ""}, "This field is required."),
        ({"title": "x" * 201}, "at most 200 characters"),
        ({"kind": "riddle"}, "Select a valid choice"),
    ]
    first = node.choices.order_by("position").first()
    cases.append(({f"answer-{first.pk}-label": "No"}, "Two answers have the same label"))
    cases.append(({f"answer-{first.pk}-target": "999999"}, "Select a valid choice"))
    before = services.node_digest(node)
    for change, message in cases:
        response = admin_client_logged_in.post(
            save_url(node), {**data, **change}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 422, change
        assert message in response.content.decode(), change
        assert "Nothing was saved" in response.content.decode()
    node.refresh_from_db()
    assert services.node_digest(node) == before


def test_add_answer_creates_its_target_node_in_the_same_step(admin_client_logged_in, draft):
    node = draft.nodes.get(key="check-cable")
    data = open_panel(admin_client_logged_in, node)
    assert data["add-target"] == "new"
    data.update(
        {
            "add-label": "Cable is damaged",
            "add-new_title": "Replace the damaged cable",
            "add-new_kind": "solution",
            "add_answer": "1",
        }
    )
    response = admin_client_logged_in.post(save_url(node), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    answer = node.choices.get(label="Cable is damaged")
    assert answer.target.title == "Replace the damaged cable"
    assert answer.target.kind == "solution"
    assert answer.target.key == "replace-the-damaged-cable"
    assert answer.target.version_id == draft.pk
    assert answer.position == 3


def test_add_answer_needs_a_label(admin_client_logged_in, draft):
    node = draft.nodes.get(key="check-cable")
    data = open_panel(admin_client_logged_in, node)
    count = Node.objects.count()
    response = admin_client_logged_in.post(save_url(node), {**data, "add_answer": "1"})
    assert response.status_code == 422
    assert "Write the new answer" in response.content.decode()
    assert Node.objects.count() == count


def test_it_retargets_reorders_relabels_and_removes_answers(admin_client_logged_in, draft):
    node = draft.nodes.get(key="works-now")
    yes, retest = node.choices.order_by("position")
    replace = draft.nodes.get(key="replace-cable")
    data = open_panel(admin_client_logged_in, node)
    data.update(
        {
            f"answer-{yes.pk}-position": "2",
            f"answer-{retest.pk}-position": "1",
            f"answer-{retest.pk}-label": "Yes",  # swap labels in one save
            f"answer-{yes.pk}-label": "No, retest",
            f"answer-{yes.pk}-target": str(replace.pk),
        }
    )
    response = admin_client_logged_in.post(save_url(node), data)
    assert response.status_code == 302
    labels = [(c.label, c.target.key) for c in node.choices.order_by("position")]
    assert labels == [("Yes", "check-cable"), ("No, retest", "replace-cable")]
    data = open_panel(admin_client_logged_in, node)
    data[f"answer-{yes.pk}-delete"] = "on"
    admin_client_logged_in.post(save_url(node), data)
    assert list(node.choices.values_list("label", flat=True)) == ["Yes"]


def test_an_action_gets_a_new_next_node_in_the_same_step(admin_client_logged_in, draft):
    node = draft.nodes.get(key="restart-router")
    data = open_panel(admin_client_logged_in, node)
    data.update({"next": "new", "next_title": "Wait two minutes"})
    assert admin_client_logged_in.post(save_url(node), data).status_code == 302
    node.refresh_from_db()
    assert node.next.title == "Wait two minutes"
    assert node.next.version_id == draft.pk


def test_making_a_node_the_start_unmarks_the_old_one(admin_client_logged_in, draft):
    node = draft.nodes.get(key="works-now")
    data = open_panel(admin_client_logged_in, node)
    data["is_start"] = "on"
    admin_client_logged_in.post(save_url(node), data)
    assert list(draft.nodes.filter(is_start=True).values_list("key", flat=True)) == ["works-now"]


def test_a_stale_save_is_refused_and_keeps_what_was_typed(admin_client_logged_in, draft):
    node = draft.nodes.get(key="fixed")
    mine = open_panel(admin_client_logged_in, node)
    theirs = open_panel(admin_client_logged_in, node)
    theirs["title"] = "Their title"
    assert admin_client_logged_in.post(save_url(node), theirs).status_code == 302
    mine["title"] = "My title"
    response = admin_client_logged_in.post(save_url(node), mine, HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    html = response.content.decode()
    assert "Someone else saved this node after you opened it" in html
    assert 'value="My title"' in html
    node.refresh_from_db()
    assert node.title == "Their title"
    # Saving again, having seen the warning, is a deliberate overwrite.
    again = form_fields(response, save_url(node))
    assert admin_client_logged_in.post(save_url(node), again).status_code == 302
    node.refresh_from_db()
    assert node.title == "My title"


def test_published_versions_refuse_edits(admin_client_logged_in):
    version = published_tree().published_version
    node = version.nodes.first()
    data = {"seen": services.node_digest(node), "key": node.key, "kind": node.kind}
    response = admin_client_logged_in.post(save_url(node), {**data, "title": "Changed"})
    assert response.status_code == 302
    node.refresh_from_db()
    assert node.title != "Changed"
    with pytest.raises(ValidationError, match="read-only"):
        services.node_create(version=version, kind="solution", title="x")


def test_add_node_creates_a_node_and_selects_it(admin_client_logged_in):
    version = TreeVersion.objects.create(tree=Tree.objects.create(slug="t", name="T"), number=1)
    url = reverse("admin:trees_treeversion_designer_add", args=[version.pk])
    response = admin_client_logged_in.post(url, {"kind": "question", "title": "Is it on?"})
    assert response.status_code == 302
    node = version.nodes.get()
    assert (node.key, node.kind, node.is_start) == ("is-it-on", "question", True)
    assert response.url.endswith("?node=is-it-on")
    response = admin_client_logged_in.post(url, {"kind": "question", "title": "Is it on?"})
    assert version.nodes.filter(key="is-it-on-2", is_start=False).exists()
    response = admin_client_logged_in.post(url, {"kind": "question", "title": ""})
    assert response.status_code == 422
    assert version.nodes.count() == 2


# --- deleting ---------------------------------------------------------------------------------


def test_delete_is_refused_with_the_list_when_others_point_at_it(admin_client_logged_in, draft):
    node = draft.nodes.get(key="check-cable")
    url = reverse("admin:trees_treeversion_designer_delete", args=[draft.pk, node.pk])
    response = admin_client_logged_in.post(url, {})
    assert response.status_code == 409
    assert "works-now point" in response.content.decode()
    assert Node.objects.filter(pk=node.pk).exists()


def test_delete_with_retargeting_moves_the_arrows(admin_client_logged_in, draft):
    node = draft.nodes.get(key="replace-cable")
    fixed = draft.nodes.get(key="fixed")
    url = reverse("admin:trees_treeversion_designer_delete", args=[draft.pk, node.pk])
    response = admin_client_logged_in.post(url, {"retarget": str(fixed.pk)})
    assert response.status_code == 302
    assert not Node.objects.filter(pk=node.pk).exists()
    assert draft.nodes.get(key="check-cable").choices.get(label="No").target == fixed


def test_delete_moves_the_start_with_the_arrows(draft):
    start = draft.nodes.get(key="check-cable")
    target = draft.nodes.get(key="restart-router")
    services.node_delete(node=start, retarget_to=target)
    target.refresh_from_db()
    assert target.is_start
    assert draft.nodes.get(key="works-now").choices.get(label="No, retest").target == target


def test_delete_refuses_a_node_of_another_version_as_target(draft):
    other = published_tree(slug="x-tree").published_version.nodes.first()
    with pytest.raises(ValidationError):
        services.node_delete(node=draft.nodes.get(key="fixed"), retarget_to=other)


# --- versions -----------------------------------------------------------------------------------


def test_restore_makes_an_earlier_version_the_new_draft(admin_client_logged_in):
    tree = published_tree()
    first = tree.published_version
    draft = version_create_draft(tree=tree)
    services.node_delete(
        node=draft.nodes.get(key="fixed"), retarget_to=draft.nodes.get(key="replace-cable")
    )
    services.tree_publish(version=draft)
    url = reverse("admin:trees_treeversion_restore", args=[first.pk])
    response = admin_client_logged_in.post(url)
    assert response.status_code == 302
    restored = tree.versions.get(status="draft")
    assert restored.number == 3
    assert compare(version_graph(first), version_graph(restored)).is_empty
    # A second restore would overwrite that draft: refused, nothing made.
    response = admin_client_logged_in.post(url)
    assert tree.versions.count() == 3


def test_duplicate_copies_the_tree_under_a_new_slug(admin_client_logged_in):
    tree = published_tree(tags=["network"])
    url = reverse("admin:trees_tree_duplicate", args=[tree.pk])
    response = admin_client_logged_in.get(url)
    assert response.status_code == 200
    assert 'value="no-internet-copy"' in response.content.decode()
    response = admin_client_logged_in.post(url, {"name": "No internet (office)", "slug": "office"})
    assert response.status_code == 302
    copy = Tree.objects.get(slug="office")
    assert list(copy.tags.values_list("name", flat=True)) == ["network"]
    version = copy.versions.get()
    assert version.status == "draft"
    assert compare(version_graph(tree.published_version), version_graph(version)).is_empty
    response = admin_client_logged_in.post(url, {"name": "Again", "slug": "office"})
    assert response.status_code == 422
    assert Tree.objects.filter(slug="office").count() == 1


def test_compare_lists_every_kind_of_change(admin_client_logged_in):
    tree = published_tree()
    draft = version_create_draft(tree=tree)
    works = draft.nodes.get(key="works-now")
    works.title = "Does it work after the restart?"
    works.save()
    yes, retest = works.choices.order_by("position")
    retest.label = "No, check again"
    retest.save()
    check = draft.nodes.get(key="check-cable")
    no = check.choices.get(label="No")
    no.target = draft.nodes.get(key="fixed")
    no.save()
    new = Node.objects.create(version=draft, key="call-isp", kind="solution", title="Call the ISP")
    Choice.objects.create(node=check, label="Not sure", target=new, position=3)
    draft.nodes.get(key="replace-cable").delete()
    comparison = compare(version_graph(tree.published_version), version_graph(draft))
    assert [n.key for n in comparison.added] == ["call-isp"]
    assert [n.key for n in comparison.removed] == ["replace-cable"]
    changes = {c.key: c for c in comparison.changed}
    assert [(f.label, f.old, f.new) for f in changes["works-now"].fields] == [
        ("Title", "Does it work now?", "Does it work after the restart?")
    ]
    assert [(a.change, a.old, a.new) for a in changes["works-now"].answers] == [
        ("relabelled", "No, retest", "No, check again")
    ]
    assert [(a.change, a.label, a.old, a.new) for a in changes["check-cable"].answers] == [
        ("retargeted", "No", "replace-cable", "fixed"),
        ("added", "Not sure", "", "call-isp"),
    ]
    url = reverse("admin:trees_tree_compare", args=[tree.pk])
    response = admin_client_logged_in.get(url, {"a": 1, "b": 2})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Nodes added (1)" in html and "Answer “No” retargeted" in html
    assert admin_client_logged_in.get(url, {"a": 1, "b": 99}).status_code == 400


# --- the diagram ----------------------------------------------------------------------------------


def test_the_layout_is_deterministic_and_ignores_texts(draft):
    graph = version_graph(draft)
    first = diagram.compute_layout(graph)
    assert diagram.compute_layout(graph) == first
    assert diagram.render(graph, layout=first) == diagram.render(graph, layout=first)
    node = draft.nodes.get(key="fixed")
    node.title = "A different title"
    node.save()
    assert diagram.structure_digest(version_graph(draft)) == diagram.structure_digest(graph)
    assert diagram.compute_layout(version_graph(draft)) == first


def test_the_layout_draws_loops_as_loops_and_layers_top_down(draft):
    layout = diagram.compute_layout(version_graph(draft))
    arrows = {(a.source, a.target): a for a in layout.arrows}
    assert arrows["works-now", "check-cable"].loop
    assert arrows["works-now", "check-cable"].label == "No, retest"
    assert not arrows["check-cable", "restart-router"].loop
    boxes = layout.boxes
    assert boxes["check-cable"].y < boxes["restart-router"].y < boxes["works-now"].y
    svg = diagram.render(version_graph(draft), layout=layout)
    assert "arrow-loop" in svg and "↺ No, retest" in svg
    assert 'class="node node-question"' in svg and 'class="node node-solution"' in svg


def test_every_validation_message_is_mapped_to_its_node():
    other = build_version([{"key": "elsewhere", "kind": "solution", "start": True}])
    foreign = other.nodes.get()
    version = build_version(
        [
            {"key": "start", "kind": "question", "start": True, "choices": [("A", "act")]},
            {"key": "act", "kind": "action", "choices": [("Stray", "end")]},
            {"key": "end", "kind": "solution", "next": "start"},
            {"key": "lost", "kind": "solution", "title": " "},
            {"key": "spin", "kind": "action", "next": "spin2"},
            {"key": "spin2", "kind": "action", "next": "spin"},
            {"key": "out", "kind": "action", "next": foreign},
            {"key": "dup", "kind": "question", "choices": [("Same", None), ("same", "end")]},
        ]
    )
    graph = version_graph(version)
    problems = graph_problems(graph)
    marks = diagram.problem_marks(problems, [node.key for node in graph])
    keyed = [p for p in problems if p.node_key]
    assert len(keyed) >= 10
    assert sum(len(m) for m in marks.by_key.values()) == len(keyed)
    for problem in keyed:
        assert problem.message in marks.by_key[problem.node_key]
    assert marks.general == [str(p) for p in problems if not p.node_key]
    svg = diagram.render(graph, marks=marks)
    for key in marks.by_key:
        head = svg.split(f'data-key="{key}"')[0].rsplit("<g", 1)[1]
        assert "node-has-problem" in head, key
    # A problem naming a key that is not a node (an invalid key) is listed as general.
    assert diagram.problem_marks([services.Problem("ghost", "x")], ["start"]).general == [
        "ghost: x"
    ]


def test_the_designer_renders_500_nodes_in_a_bounded_svg(admin_client_logged_in):
    from bench.treegen import build_large_version

    version = build_large_version(nodes=500)
    response = admin_client_logged_in.get(designer_url(version))
    assert response.status_code == 200
    assert len(response.context["svg"]) < 1_500_000
    count = version.nodes.count()
    assert 490 <= count <= 510
    assert response.content.decode().count('class="node-link"') == count


def test_the_tree_page_draws_the_same_graph_from_its_outline(draft):
    from trees.outline import build_outline

    from_outline, stored = build_outline(draft).graph(), version_graph(draft)
    assert diagram.structure_digest(from_outline) == diagram.structure_digest(stored)
    assert diagram.render(from_outline) == diagram.render(stored)
