"""Authoring trees in the Django admin, through the admin's own views."""

from __future__ import annotations

import json

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from trees.models import Choice, Node, Tree, TreeVersion
from trees.services import tree_export, tree_import, version_create_draft
from trees.tests.factories import TreeFactory, published_tree, tree_document

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def form_data(response) -> dict:
    """The POST data of an admin change page as rendered (its inlines included)."""
    data = {}
    adminform = response.context["adminform"]
    for name in adminform.form.fields:
        value = adminform.form[name].value()
        if value is not None:
            data[name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for key, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{key}"] = value
        for form in formset.forms:
            for name in form.fields:
                value = form[name].value()
                if value is None or value is False:
                    continue
                data[form.add_prefix(name)] = "on" if value is True else value
    return data


def inline_prefix(response, model) -> str:
    formset = next(
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.model is model
    )
    return formset.prefix


def version_url(version: TreeVersion) -> str:
    return reverse("admin:trees_treeversion_change", args=[version.pk])


def designer_url(version: TreeVersion) -> str:
    return reverse("admin:trees_treeversion_designer", args=[version.pk])


@pytest.fixture
def draft():
    """A published tree with a fresh draft (a copy of it)."""
    return version_create_draft(tree=published_tree())


# --- the tree list ----------------------------------------------------------------------


def test_it_lists_trees_with_version_facts(admin_client_logged_in, django_assert_max_num_queries):
    published_tree(slug="a", name="Alpha", category="Networking")
    version_create_draft(tree=published_tree(slug="b", name="Beta", category="Printing"))
    TreeFactory(slug="c", name="Gamma")
    for n in range(5):
        published_tree(slug=f"more-{n}", name=f"More {n}")
    with django_assert_max_num_queries(12):
        response = admin_client_logged_in.get(reverse("admin:trees_tree_changelist"))
    assert response.status_code == 200
    rows = {tree.slug: tree for tree in response.context["cl"].result_list}
    assert (rows["a"].published_number, rows["a"].has_draft, rows["a"].node_count) == (1, False, 5)
    assert (rows["b"].published_number, rows["b"].has_draft, rows["b"].node_count) == (1, True, 5)
    assert (rows["c"].published_number, rows["c"].has_draft, rows["c"].node_count) == (
        None,
        False,
        0,
    )
    assert reverse("admin:trees_tree_import") in response.content.decode()


def test_it_searches_and_filters_the_tree_list(admin_client_logged_in):
    published_tree(slug="vpn", name="VPN", category="Networking", description="tunnel")
    published_tree(slug="printer", name="Printer", category="Printing")
    url = reverse("admin:trees_tree_changelist")
    found = admin_client_logged_in.get(url, {"q": "tunnel"}).context["cl"].result_list
    assert [tree.slug for tree in found] == ["vpn"]
    found = admin_client_logged_in.get(url, {"category": "Printing"}).context["cl"].result_list
    assert [tree.slug for tree in found] == ["printer"]


def test_it_adds_a_tree_with_an_empty_draft(admin_client_logged_in):
    response = admin_client_logged_in.post(
        reverse("admin:trees_tree_add"),
        {
            "name": "DNS failure",
            "slug": "dns-failure",
            "description": "",
            "category": "Networking",
            "baseline_minutes": "25",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    tree = Tree.objects.get(slug="dns-failure")
    draft = tree.versions.get()
    assert response.status_code == 302
    assert response["Location"] == designer_url(draft)
    assert (draft.number, draft.status) == (1, "draft")


# --- versions: editing a draft, read-only otherwise ------------------------------------------


def test_it_edits_a_drafts_nodes_inline(admin_client_logged_in, draft):
    response = admin_client_logged_in.get(version_url(draft))
    assert response.status_code == 200
    prefix = inline_prefix(response, Node)
    data = form_data(response)
    index = next(
        n for n in range(len(draft.nodes.all())) if data.get(f"{prefix}-{n}-key") == "fixed"
    )
    data[f"{prefix}-{index}-title"] = "The router restart fixed it"
    data[f"{prefix}-{index}-body"] = "Note the **router model**."

    response = admin_client_logged_in.post(version_url(draft), data)

    assert response.status_code == 302
    node = draft.nodes.get(key="fixed")
    assert (node.title, node.body) == ("The router restart fixed it", "Note the **router model**.")


def test_it_moves_the_start_node_in_one_save(admin_client_logged_in, draft):
    response = admin_client_logged_in.get(version_url(draft))
    prefix = inline_prefix(response, Node)
    data = form_data(response)
    keys = {data[f"{prefix}-{n}-key"]: n for n in range(5)}
    del data[f"{prefix}-{keys['check-cable']}-is_start"]
    data[f"{prefix}-{keys['works-now']}-is_start"] = "on"

    assert admin_client_logged_in.post(version_url(draft), data).status_code == 302
    assert draft.nodes.get(is_start=True).key == "works-now"


def test_it_refuses_two_start_nodes(admin_client_logged_in, draft):
    response = admin_client_logged_in.get(version_url(draft))
    prefix = inline_prefix(response, Node)
    data = form_data(response)
    data[f"{prefix}-3-is_start"] = "on"

    response = admin_client_logged_in.post(version_url(draft), data)

    assert response.status_code == 200
    assert "Only one node can be the start" in response.content.decode()
    assert draft.nodes.filter(is_start=True).count() == 1


def test_it_refuses_a_duplicate_key(admin_client_logged_in, draft):
    response = admin_client_logged_in.get(version_url(draft))
    prefix = inline_prefix(response, Node)
    data = form_data(response)
    data[f"{prefix}-1-key"] = data[f"{prefix}-0-key"]
    response = admin_client_logged_in.post(version_url(draft), data)
    assert response.status_code == 200
    assert sorted(draft.nodes.values_list("key", flat=True)) == sorted(
        ["check-cable", "restart-router", "works-now", "replace-cable", "fixed"]
    )


def test_it_offers_only_nodes_of_the_same_version_as_next(admin_client_logged_in, draft):
    response = admin_client_logged_in.get(version_url(draft))
    formset = next(i.formset for i in response.context["inline_admin_formsets"])
    choices = {value for value, _ in formset.forms[0].fields["next"].choices if value}
    assert {int(str(value)) for value in choices} == set(draft.nodes.values_list("pk", flat=True))


def test_it_shows_published_versions_read_only(admin_client_logged_in, draft):
    published = draft.tree.published_version
    response = admin_client_logged_in.get(version_url(published))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Published: read-only." in html
    assert 'name="nodes-0-title"' not in html
    assert "Publish</button>" not in html
    assert admin_client_logged_in.post(version_url(published), {}).status_code == 403
    node = published.nodes.get(key="fixed")
    node_url = reverse("admin:trees_node_change", args=[node.pk])
    assert admin_client_logged_in.post(node_url, {"title": "x"}).status_code == 403
    node.refresh_from_db()
    assert node.title == "Restarting the router fixed it"


def test_it_edits_a_questions_answers(admin_client_logged_in, draft):
    question = draft.nodes.get(key="works-now")
    url = reverse("admin:trees_node_change", args=[question.pk])
    response = admin_client_logged_in.get(url)
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    targets = {int(str(v)) for v, _ in formset.forms[0].fields["target"].choices if v}
    assert targets == set(draft.nodes.values_list("pk", flat=True))

    data = form_data(response)
    data["choices-2-label"] = "Partly"
    data["choices-2-target"] = str(draft.nodes.get(key="replace-cable").pk)
    data["choices-2-position"] = "3"
    response = admin_client_logged_in.post(url, data)

    assert response.status_code == 302
    assert response["Location"] == version_url(draft)
    assert list(question.choices.values_list("label", "target__key")) == [
        ("Yes", "fixed"),
        ("No, retest", "check-cable"),
        ("Partly", "replace-cable"),
    ]


def test_it_refuses_a_duplicate_answer_label(admin_client_logged_in, draft):
    question = draft.nodes.get(key="works-now")
    url = reverse("admin:trees_node_change", args=[question.pk])
    data = form_data(admin_client_logged_in.get(url))
    data["choices-1-label"] = "Yes"
    response = admin_client_logged_in.post(url, data)
    assert response.status_code == 200
    assert list(question.choices.values_list("label", flat=True)) == ["Yes", "No, retest"]


def test_it_refuses_a_duplicate_key_on_a_node_page(admin_client_logged_in, draft):
    node = draft.nodes.get(key="fixed")
    url = reverse("admin:trees_node_change", args=[node.pk])
    data = form_data(admin_client_logged_in.get(url))
    data["key"] = "works-now"
    response = admin_client_logged_in.post(url, data)
    assert response.status_code == 200
    assert "Another node of this version already has this key." in response.content.decode()


def test_it_makes_a_node_the_start_from_its_page(admin_client_logged_in, draft):
    node = draft.nodes.get(key="works-now")
    url = reverse("admin:trees_node_change", args=[node.pk])
    data = form_data(admin_client_logged_in.get(url))
    data["is_start"] = "on"
    assert admin_client_logged_in.post(url, data).status_code == 302
    assert list(draft.nodes.filter(is_start=True).values_list("key", flat=True)) == ["works-now"]


# --- Validate, Publish, New draft, Export -----------------------------------------------------


def test_it_validates_a_version_and_shows_each_problem(admin_client_logged_in, draft):
    draft.nodes.filter(key="works-now").update(kind="action")
    url = reverse("admin:trees_treeversion_validate", args=[draft.pk])
    response = admin_client_logged_in.post(url)
    assert response.status_code == 302
    assert messages_of(response) == [
        ("error", "works-now: An action needs a next node."),
        ("error", "works-now: An action continues by its next node, not by answers."),
        ("warning", f"{draft}: 2 problems to fix before it can be published."),
    ]
    assert admin_client_logged_in.get(url).status_code == 405


def test_it_validates_a_good_version(admin_client_logged_in, draft):
    response = admin_client_logged_in.post(
        reverse("admin:trees_treeversion_validate", args=[draft.pk])
    )
    assert messages_of(response) == [
        ("success", f"{draft}: no problems found; it can be published.")
    ]


def test_it_publishes_nothing_when_the_draft_has_problems(admin_client_logged_in, draft):
    draft.nodes.filter(key="replace-cable").update(title="")
    response = admin_client_logged_in.post(
        reverse("admin:trees_treeversion_publish", args=[draft.pk])
    )
    assert response.status_code == 302
    assert messages_of(response) == [
        ("error", "replace-cable: The title is empty."),
        ("error", "Version 2 of “No internet” was not published (1 problem)."),
    ]
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert draft.tree.published_version.number == 1


def test_it_publishes_a_draft_from_its_page(admin_client_logged_in, admin_user, draft):
    page = admin_client_logged_in.get(version_url(draft)).content.decode()
    assert reverse("admin:trees_treeversion_publish", args=[draft.pk]) in page

    response = admin_client_logged_in.post(
        reverse("admin:trees_treeversion_publish", args=[draft.pk])
    )

    assert response["Location"] == version_url(draft)
    draft.refresh_from_db()
    assert (draft.status, draft.published_by) == ("published", admin_user)
    assert list(draft.tree.versions.values_list("number", "status")) == [
        (2, "published"),
        (1, "retired"),
    ]


def test_it_publishes_through_the_list_action(admin_client_logged_in, draft):
    other = TreeFactory(slug="broken", name="Broken")
    broken = version_create_draft(tree=other)  # empty: nothing to publish
    response = admin_client_logged_in.post(
        reverse("admin:trees_treeversion_changelist"),
        {"action": "publish", "_selected_action": [draft.pk, broken.pk]},
    )
    assert response.status_code == 302
    levels = [level for level, _ in messages_of(response)]
    assert levels.count("success") == 1 and "error" in levels
    draft.refresh_from_db()
    broken.refresh_from_db()
    assert (draft.status, broken.status) == ("published", "draft")


def test_it_creates_a_new_draft_from_the_tree_page(admin_client_logged_in):
    tree = published_tree()
    url = reverse("admin:trees_tree_new_draft", args=[tree.pk])
    assert (
        url
        in admin_client_logged_in.get(
            reverse("admin:trees_tree_change", args=[tree.pk])
        ).content.decode()
    )

    response = admin_client_logged_in.post(url)

    draft = tree.versions.get(status="draft")
    assert response["Location"] == designer_url(draft)
    assert tree_export(version=draft) == tree_export(version=tree.published_version)
    assert messages_of(response) == [
        (
            "success",
            "Version 2 of “No internet” was created as a draft with 5 nodes copied from the "
            "previous version.",
        )
    ]

    response = admin_client_logged_in.post(url)
    assert response["Location"] == reverse("admin:trees_tree_change", args=[tree.pk])
    assert (
        "error",
        "“No internet” already has a draft (version 2): edit that one, or delete it to start "
        "again.",
    ) in messages_of(response)
    assert tree.versions.count() == 2


def test_it_creates_drafts_through_the_list_action(admin_client_logged_in):
    tree = published_tree()
    response = admin_client_logged_in.post(
        reverse("admin:trees_tree_changelist"),
        {"action": "new_draft", "_selected_action": [tree.pk]},
    )
    draft = tree.versions.get(status="draft")
    assert response["Location"] == designer_url(draft)


def test_it_exports_json(admin_client_logged_in, draft):
    response = admin_client_logged_in.get(
        reverse("admin:trees_treeversion_export", args=[draft.pk])
    )
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="no-internet-v2.json"'
    assert response.content.decode() == tree_export(version=draft)

    response = admin_client_logged_in.get(reverse("admin:trees_tree_export", args=[draft.tree_id]))
    assert response["Content-Disposition"] == 'attachment; filename="no-internet-v1.json"'

    response = admin_client_logged_in.post(
        reverse("admin:trees_treeversion_changelist"),
        {"action": "export_json", "_selected_action": [draft.pk]},
    )
    assert json.loads(response.content)["slug"] == "no-internet"


# --- import ------------------------------------------------------------------------------


def upload(name: str, data) -> SimpleUploadedFile:
    content = data if isinstance(data, bytes) else json.dumps(data).encode()
    return SimpleUploadedFile(name, content, content_type="application/json")


def test_it_shows_the_import_page(admin_client_logged_in):
    response = admin_client_logged_in.get(reverse("admin:trees_tree_import"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'type="file"' in html and "multiple" in html
    assert 'name="publish"' in html


def test_it_imports_uploaded_files(admin_client_logged_in, admin_user):
    response = admin_client_logged_in.post(
        reverse("admin:trees_tree_import"),
        {
            "files": [
                upload("a.json", tree_document()),
                upload("b.json", tree_document(slug="other", name="Other")),
            ],
            "publish": "on",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:trees_tree_changelist")
    assert TreeVersion.objects.filter(status="published", created_by=admin_user).count() == 2


def test_it_reports_import_problems_and_writes_nothing_for_that_file(admin_client_logged_in):
    bad = tree_document(slug="bad")
    bad["nodes"][1]["kind"] = "task"
    response = admin_client_logged_in.post(
        reverse("admin:trees_tree_import"),
        {"files": [upload("bad.json", bad), upload("good.json", tree_document())]},
    )
    assert response.status_code == 200
    assert messages_of(response)[:2] == [
        (
            "error",
            "bad.json: restart-router: The kind “task” is unknown: use question, action or "
            "solution.",
        ),
        ("error", "bad.json was not imported: nothing was changed."),
    ]
    assert list(Tree.objects.values_list("slug", flat=True)) == ["no-internet"]
    assert Tree.objects.get().versions.get().status == "draft"


def test_it_warns_what_blocks_publishing_an_imported_draft(admin_client_logged_in):
    document = tree_document()
    document["nodes"].append({"key": "orphan", "kind": "solution", "title": "Orphan"})
    response = admin_client_logged_in.post(
        reverse("admin:trees_tree_import"), {"files": [upload("t.json", document)]}
    )
    assert (
        "warning",
        "t.json: orphan: Not reachable from the start node. (fix before publishing)",
    ) in messages_of(response)


def test_it_refuses_an_import_without_files(admin_client_logged_in):
    response = admin_client_logged_in.post(reverse("admin:trees_tree_import"), {})
    assert response.status_code == 200
    assert response.context["form"].errors["files"]


def test_it_keeps_engineers_out_of_the_admin(alice_client):
    assert alice_client.get(reverse("admin:trees_tree_import")).status_code == 302
    tree = tree_import(data=tree_document(), filename="t.json").tree
    response = alice_client.post(reverse("admin:trees_tree_new_draft", args=[tree.pk]))
    assert response.status_code == 302
    assert Choice.objects.count() == 4
    assert tree.versions.count() == 1


# --- messages keep file names and node keys as written ----------------------------------


def rendered_messages(html: str) -> list[str]:
    """The texts of the admin's message list, as the page shows them."""
    start = html.index('<ul class="messagelist">')
    block = html[start : html.index("</ul>", start)]
    return [item.split(">", 1)[1].split("</li>")[0] for item in block.split("<li")[1:]]


def test_the_import_page_shows_a_file_name_as_written(admin_client_logged_in):
    response = admin_client_logged_in.post(
        reverse("admin:trees_tree_import"),
        {"files": [upload("import-garbage.json", b"not json at all")]},
    )

    assert response.status_code == 200
    shown = rendered_messages(response.content.decode())
    assert shown[-1] == "import-garbage.json was not imported: nothing was changed."
    assert shown[0].startswith("import-garbage.json: ")
    assert not Tree.objects.exists()


def test_the_import_page_shows_the_imported_file_name_and_warnings_as_written(
    admin_client_logged_in,
):
    document = tree_document()
    document["nodes"].append({"key": "test-call", "kind": "solution", "title": "Orphan"})

    response = admin_client_logged_in.post(
        reverse("admin:trees_tree_import"),
        {"files": [upload("no-internet.json", document)]},
        follow=True,
    )

    shown = rendered_messages(response.content.decode())
    assert shown[0].startswith("no-internet.json: imported “No internet”")
    assert shown[1] == "no-internet.json: test-call: Not reachable from the start node. " + (
        "(fix before publishing)"
    )


def test_the_validate_button_shows_node_keys_as_written(admin_client_logged_in, draft):
    draft.nodes.filter(key="works-now").update(kind="action")

    response = admin_client_logged_in.post(
        reverse("admin:trees_treeversion_validate", args=[draft.pk]), follow=True
    )

    assert response.redirect_chain[-1][0] == version_url(draft)
    shown = rendered_messages(response.content.decode())
    assert shown[0] == "works-now: An action needs a next node."
    assert "Works-now" not in response.content.decode()


def test_the_validate_action_shows_node_keys_and_tree_names_as_written(admin_client_logged_in):
    version = tree_import(
        data=tree_document(slug="lower", name="lower-case tree"), filename="t.json"
    )
    version.nodes.filter(key="restart-router").update(kind="action", next=None)

    response = admin_client_logged_in.post(
        reverse("admin:trees_treeversion_changelist"),
        {"action": "validate", "_selected_action": [version.pk]},
        follow=True,
    )

    shown = rendered_messages(response.content.decode())
    assert shown[0] == "restart-router: An action needs a next node."
    assert shown[-1].startswith("lower-case tree v1 (Draft): ")


def test_django_admin_messages_still_start_with_a_capital(admin_client_logged_in):
    response = admin_client_logged_in.get(
        reverse("admin:trees_treeversion_change", args=[999999]), follow=True
    )

    assert rendered_messages(response.content.decode())[0].startswith("Tree version with ID")


# --- published versions are read-only, answers too ------------------------------------


def test_it_offers_view_answers_not_edit_answers_on_a_published_version(
    admin_client_logged_in, draft
):
    published = draft.tree.published_version

    read_only = admin_client_logged_in.get(version_url(published)).content.decode()
    editable = admin_client_logged_in.get(version_url(draft)).content.decode()

    assert "Edit answers" not in read_only
    assert "View answers" in read_only
    assert "Edit answers" in editable and "View answers" not in editable
