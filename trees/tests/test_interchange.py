"""Import and export in the resolutionflow/tree@1 format (SPEC §2.1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trees.demo import demo_files
from trees.models import Choice, Node, Tag, Tree, TreeVersion
from trees.services import (
    ImportProblems,
    tree_export,
    tree_import,
    version_create_draft,
)
from trees.tests.factories import tree_document
from trees.validation import Problem

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
FILES = sorted(DATA.glob("*.json")) + demo_files()


def database_state() -> tuple:
    return (
        list(
            Tree.objects.values_list("slug", "name", "description", "category", "baseline_minutes")
        ),
        list(TreeVersion.objects.values_list("tree__slug", "number", "status")),
        Node.objects.count(),
        Choice.objects.count(),
        list(Tag.objects.values_list("name", flat=True)),
    )


def import_problems(data, *, publish: bool = False, filename: str = "bad.json") -> list[str]:
    """Import `data`, which must fail; return the problem lines; check nothing was written."""
    before = database_state()
    with pytest.raises(ImportProblems) as raised:
        tree_import(data=data, filename=filename, publish=publish)
    assert database_state() == before
    return raised.value.lines()


def node(document: dict, key: str) -> dict:
    return next(n for n in document["nodes"] if n["key"] == key)


# --- round trip ------------------------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_it_round_trips_byte_for_byte(path):
    first = tree_export(
        version=tree_import(data=path.read_bytes(), filename=path.name, publish=True)
    )
    again = tree_import(data=first, filename="export.json")
    assert again.number == 2
    assert tree_export(version=again) == first


@pytest.mark.parametrize("path", sorted(DATA.glob("*.json")), ids=lambda path: path.name)
def test_it_exports_its_fixtures_exactly_as_written(path):
    text = path.read_text(encoding="utf-8")
    assert tree_export(version=tree_import(data=text, filename=path.name)) == text


def test_it_exports_keys_in_order_without_empty_fields():
    document = tree_document(tags=["zeta", "alpha"], description="")
    text = tree_export(version=tree_import(data=document, filename="t.json"))
    data = json.loads(text)
    assert list(data) == [
        "format",
        "slug",
        "name",
        "category",
        "tags",
        "baseline_minutes",
        "start",
        "nodes",
    ]
    assert data["tags"] == ["alpha", "zeta"]
    assert list(node(data, "check-cable")) == ["key", "kind", "title", "body", "choices"]
    assert list(node(data, "restart-router")) == ["key", "kind", "title", "command", "next"]
    assert list(node(data, "fixed")) == ["key", "kind", "title"]
    assert text.endswith("}\n")
    assert text.startswith('{\n  "format": "resolutionflow/tree@1",\n')


def test_it_exports_text_as_unicode():
    document = tree_document(name="Café Wi‑Fi")
    text = tree_export(version=tree_import(data=document, filename="t.json"))
    assert '"name": "Café Wi‑Fi"' in text


def test_it_exports_the_current_state_of_a_draft():
    version = tree_import(data=tree_document(), filename="t.json", publish=True)
    draft = version_create_draft(tree=version.tree)
    draft.nodes.filter(key="fixed").update(title="Router restart fixed it")
    assert '"title": "Router restart fixed it"' in tree_export(version=draft)
    assert '"title": "Router restart fixed it"' not in tree_export(version=version)


# --- importing -------------------------------------------------------------------------


def test_it_imports_a_new_tree_as_a_draft(admin_user):
    version = tree_import(data=tree_document(), filename="t.json", by=admin_user)
    tree = version.tree
    assert (tree.slug, tree.name, tree.category, tree.baseline_minutes) == (
        "no-internet",
        "No internet",
        "Networking",
        20,
    )
    assert sorted(tree.tags.values_list("name", flat=True)) == ["network", "router"]
    assert (version.number, version.status, version.created_by) == (1, "draft", admin_user)
    assert version.nodes.count() == 5
    start = version.nodes.get(is_start=True)
    assert start.key == "check-cable"
    assert list(start.choices.values_list("label", "target__key")) == [
        ("Yes", "restart-router"),
        ("No", "replace-cable"),
    ]
    assert version.nodes.get(key="restart-router").next.key == "works-now"


def test_it_imports_a_new_version_of_an_existing_tree_and_updates_it():
    tree_import(data=tree_document(), filename="t.json", publish=True)
    changed = tree_document(name="No internet at all", tags=["wan"], baseline_minutes=None)
    changed["nodes"][4]["title"] = "Router restart fixed it"

    version = tree_import(data=changed, filename="t.json", publish=True)

    tree = Tree.objects.get()
    assert (tree.name, tree.baseline_minutes) == ("No internet at all", None)
    assert list(tree.tags.values_list("name", flat=True)) == ["wan"]
    assert list(tree.versions.values_list("number", "status")) == [
        (2, "published"),
        (1, "retired"),
    ]
    assert version.nodes.get(key="fixed").title == "Router restart fixed it"


def test_it_imports_an_incomplete_tree_as_a_draft_but_refuses_to_publish_it():
    document = tree_document()
    document["nodes"].append({"key": "orphan", "kind": "solution", "title": "Nobody gets here"})

    assert import_problems(document, publish=True, filename="t.json") == [
        "t.json: orphan: Not reachable from the start node."
    ]
    version = tree_import(data=document, filename="t.json")
    assert version.status == "draft"
    assert version.nodes.count() == 6


def test_it_refuses_to_overwrite_a_draft():
    version = tree_import(data=tree_document(), filename="t.json")
    version.nodes.filter(key="fixed").update(title="Work in progress")
    assert import_problems(tree_document(), filename="t.json") == [
        "t.json: The tree “no-internet” already has a draft (version 1); an import would "
        "overwrite it. Publish or delete that draft first."
    ]
    assert version.nodes.get(key="fixed").title == "Work in progress"


def test_it_reads_bytes_with_a_byte_order_mark():
    data = "\ufeff".encode() + json.dumps(tree_document()).encode()
    assert tree_import(data=data, filename="t.json").tree.slug == "no-internet"


# --- malformed files: every problem, nothing written -------------------------------------


def test_it_reports_a_file_that_is_not_json():
    assert import_problems(b"{'format': nope", filename="x.json") == [
        "x.json: The file is not valid JSON: Expecting property name enclosed in double quotes "
        "(line 1, column 2)."
    ]


def test_it_reports_a_file_that_is_not_utf8():
    lines = import_problems('{"name": "Caf\u00e9"}'.encode("latin-1"))
    assert len(lines) == 1
    assert lines[0].startswith("bad.json: The file is not UTF-8 text")


def test_it_reports_a_file_that_is_not_an_object():
    assert import_problems("[1, 2]") == ["bad.json: The file must hold a JSON object, not a list."]


def test_it_reports_the_wrong_format():
    assert import_problems(tree_document(format="resolutionflow/tree@2")) == [
        'bad.json: The format is "resolutionflow/tree@2"; expected “resolutionflow/tree@1”.'
    ]


def test_it_reports_missing_and_unknown_fields():
    document = tree_document(colour="red")
    del document["name"]
    del node(document, "fixed")["title"]
    node(document, "fixed")["hint"] = "x"
    node(document, "works-now")["choices"][0] = {"label": "Yes", "to": "fixed"}
    assert import_problems(document) == [
        "bad.json: The tree has no “name”.",
        "bad.json: The tree has an unknown field “colour” (allowed: format, slug, name, "
        "description, category, tags, baseline_minutes, start, nodes).",
        "bad.json: works-now: Answer #1 has no “next”.",
        "bad.json: works-now: Answer #1 has an unknown field “to” (allowed: label, next).",
        "bad.json: fixed: The node has no “title”.",
        "bad.json: fixed: The node has an unknown field “hint” (allowed: key, kind, title, "
        "body, command, choices, next).",
    ]


def test_it_reports_an_unknown_kind():
    document = tree_document()
    node(document, "fixed")["kind"] = "answer"
    assert import_problems(document) == [
        "bad.json: fixed: The kind “answer” is unknown: use question, action or solution."
    ]


def test_it_reports_missing_targets():
    document = tree_document()
    node(document, "check-cable")["choices"][1]["next"] = "buy-cable"
    node(document, "restart-router")["next"] = "wait"
    assert import_problems(document) == [
        "bad.json: check-cable: The answer “No” leads to “buy-cable”, which is not a node of "
        "this version.",
        "bad.json: restart-router: The next node “wait” is not a node of this version.",
    ]


def test_it_reports_a_start_that_is_not_a_node():
    assert import_problems(tree_document(start="begin")) == [
        "bad.json: The start “begin” is not the key of a node in the file."
    ]


def test_it_reports_duplicate_keys():
    document = tree_document()
    document["nodes"].append({"key": "fixed", "kind": "solution", "title": "Twice"})
    assert import_problems(document) == ["bad.json: fixed: The key is used by more than one node."]


def test_it_reports_duplicate_answer_labels():
    document = tree_document()
    node(document, "works-now")["choices"][1]["label"] = "Yes"
    assert import_problems(document) == [
        "bad.json: works-now: The answer “Yes” appears more than once."
    ]


def test_it_reports_wrong_types():
    document = tree_document(name=42, tags="vpn", baseline_minutes="20", nodes=[])
    document["nodes"] = [
        {"key": "a", "kind": "action", "title": ["Restart"], "next": 7},
        {"key": "q", "kind": "question", "title": "Works?", "choices": {"Yes": "a"}},
        "not a node",
        {"key": "s", "kind": "solution", "title": "OK", "body": None},
    ]
    document["start"] = "a"
    assert import_problems(document) == [
        "bad.json: The name must be text, not a number.",
        "bad.json: “tags” must be a list of text, not text.",
        "bad.json: “baseline_minutes” must be a whole number, not text.",
        "bad.json: a: The title must be text, not a list.",
        "bad.json: a: “next” must be text, not a number.",
        "bad.json: q: “choices” must be a list, not an object.",
        "bad.json: node #3: A node must be an object, not text.",
        "bad.json: s: The body must be text, not null.",
    ]


def test_it_reports_oversize_fields():
    document = tree_document(
        name="N" * 201,
        description="D" * 2_001,
        tags=["t" * 51, "Bad Tag"],
        slug="no internet",
        baseline_minutes=0,
    )
    node(document, "fixed")["title"] = "T" * 201
    node(document, "replace-cable")["body"] = "B" * 20_001
    node(document, "works-now")["choices"][0]["label"] = "L" * 201
    assert import_problems(document) == [
        "bad.json: The slug “no internet” is not valid: use 1–100 letters, digits, hyphens or "
        "underscores.",
        "bad.json: The name is 201 characters long; the limit is 200.",
        "bad.json: The description is 2,001 characters long; the limit is 2,000.",
        f"bad.json: The tag “{'t' * 51}” is not valid: use 1–50 letters, digits, hyphens or "
        "underscores.",
        "bad.json: The tag “Bad Tag” is not valid: use 1–50 letters, digits, hyphens or "
        "underscores.",
        "bad.json: “baseline_minutes” is 0; it must be between 1 and 10,080.",
        f"bad.json: works-now: The answer “{'L' * 40}”… is longer than 200 characters.",
        "bad.json: replace-cable: The body is longer than 20,000 characters.",
        "bad.json: fixed: The title is longer than 200 characters.",
    ]


def test_it_reports_text_the_database_cannot_store():
    document = tree_document()
    node(document, "fixed")["title"] = "Fixed\x00"
    assert import_problems(document) == ["bad.json: fixed: The title contains a NUL character."]


def test_it_reports_a_field_given_twice():
    text = json.dumps(tree_document()).replace('"name": "No internet"', '"name": "A", "name": "B"')
    assert import_problems(text) == [
        "bad.json: The field “name” appears more than once in the same object."
    ]


def test_it_reports_every_problem_of_a_file_at_once():
    document = tree_document(format="tree", start="nowhere")
    node(document, "fixed")["kind"] = "end"
    node(document, "restart-router")["next"] = "gone"
    document["nodes"].append({"key": "fixed", "kind": "solution", "title": ""})
    lines = import_problems(document, publish=True, filename="many.json")
    assert lines == [
        'many.json: The format is "tree"; expected “resolutionflow/tree@1”.',
        "many.json: The start “nowhere” is not the key of a node in the file.",
        "many.json: fixed: The key is used by more than one node.",
        "many.json: restart-router: The next node “gone” is not a node of this version.",
        "many.json: fixed: The kind “end” is unknown: use question, action or solution.",
        "many.json: fixed: The title is empty.",
    ]


def test_it_refuses_a_file_over_500_nodes():
    nodes = [
        {"key": f"s{n}", "kind": "action", "title": f"Step {n}", "next": f"s{n + 1}"}
        for n in range(500)
    ]
    nodes.append({"key": "s500", "kind": "solution", "title": "Done"})
    document = tree_document(start="s0", nodes=nodes)
    assert import_problems(document) == [
        "bad.json: The tree has 501 nodes; at most 500 are allowed."
    ]


def test_it_names_the_problem_class_fields():
    with pytest.raises(ImportProblems) as raised:
        tree_import(data="nope", filename="f.json")
    assert raised.value.filename == "f.json"
    assert raised.value.problems == [
        Problem(None, "The file is not valid JSON: Expecting value (line 1, column 1).")
    ]
