"""manage.py import_tree and export_tree (SPEC §2.1)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from trees.models import Tree, TreeVersion
from trees.services import version_create_draft
from trees.tests.factories import TreeFactory, tree_document

pytestmark = pytest.mark.django_db


def write(tmp_path, name: str, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_imports_and_publishes_files(tmp_path):
    good = write(tmp_path, "good.json", tree_document())
    other = write(tmp_path, "other.json", tree_document(slug="other", name="Other"))
    out, err = run("import_tree", good, other, "--publish")
    assert out.splitlines() == [
        f"{good}: imported no-internet as version 1 (published)",
        f"{other}: imported other as version 1 (published)",
    ]
    assert err == ""
    assert TreeVersion.objects.filter(status="published").count() == 2


def test_it_imports_drafts_and_warns_about_what_blocks_publishing(tmp_path):
    document = tree_document()
    document["nodes"].append({"key": "orphan", "kind": "solution", "title": "Orphan"})
    path = write(tmp_path, "t.json", document)
    out, _ = run("import_tree", path)
    assert out.splitlines() == [
        f"{path}: imported no-internet as version 1 (draft)",
        f"{path}: orphan: Not reachable from the start node. (warning: fix before publishing)",
    ]


def test_it_prints_every_problem_and_fails_without_writing(tmp_path):
    good = write(tmp_path, "good.json", tree_document(slug="good"))
    document = tree_document(format="x")
    document["nodes"][0]["kind"] = "quiz"
    bad = write(tmp_path, "bad.json", document)
    out, err = StringIO(), StringIO()
    missing = str(tmp_path / "none.json")
    with pytest.raises(CommandError, match="2 of 3 files not imported"):
        call_command("import_tree", bad, good, missing, stdout=out, stderr=err)
    assert err.getvalue().splitlines()[:2] == [
        f'{bad}: The format is "x"; expected “resolutionflow/tree@1”.',
        f"{bad}: check-cable: The kind “quiz” is unknown: use question, action or solution.",
    ]
    assert err.getvalue().splitlines()[2].startswith(f"{missing}: cannot be read:")
    assert list(Tree.objects.values_list("slug", flat=True)) == ["good"]


def test_it_exits_non_zero_on_a_problem(tmp_path):
    bad = write(tmp_path, "bad.json", "not json")
    with pytest.raises(CommandError):
        call_command("import_tree", bad, stdout=StringIO(), stderr=StringIO())
    assert Tree.objects.count() == 0


def test_it_exports_the_published_version_by_default(tmp_path):
    path = write(tmp_path, "t.json", tree_document())
    run("import_tree", path, "--publish")
    draft = version_create_draft(tree=Tree.objects.get())
    draft.nodes.filter(key="fixed").update(title="Changed in the draft")

    out, _ = run("export_tree", "no-internet")
    assert json.loads(out)["nodes"][4]["title"] == "Restarting the router fixed it"
    assert out.endswith("}\n") and not out.endswith("\n\n")

    out, _ = run("export_tree", "no-internet", "--version", "2")
    assert json.loads(out)["nodes"][4]["title"] == "Changed in the draft"


def test_it_exports_to_a_file_that_imports_back(tmp_path):
    run("import_tree", write(tmp_path, "t.json", tree_document()), "--publish")
    target = tmp_path / "export.json"
    run("export_tree", "no-internet", "-o", str(target))
    first = target.read_text(encoding="utf-8")
    run("import_tree", str(target), "--publish")
    run("export_tree", "no-internet", "--version", "2", "-o", str(target))
    assert target.read_text(encoding="utf-8") == first


def test_it_exports_the_latest_version_when_none_is_published():
    version_create_draft(tree=TreeFactory(slug="empty", name="Empty"))
    out, _ = run("export_tree", "empty")
    assert json.loads(out) == {
        "format": "resolutionflow/tree@1",
        "slug": "empty",
        "name": "Empty",
        "start": None,
        "nodes": [],
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export_tree", "nope"], "No tree with the slug “nope”."),
        (["export_tree", "empty", "--version", "3"], "“empty” has no version 3."),
        (["export_tree", "empty"], "“empty” has no versions."),
    ],
)
def test_it_explains_what_cannot_be_exported(args, message):
    TreeFactory(slug="empty")
    with pytest.raises(CommandError, match=message):
        call_command(*args, stdout=StringIO())
