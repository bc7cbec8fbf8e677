"""The demo trees loaded by `seed_demo` (trees.demo)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from trees.demo import demo_files, seed_trees
from trees.models import TreeVersion
from trees.outline import build_outline
from trees.services import version_create_draft

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"


@pytest.fixture
def demo_dir(tmp_path) -> Path:
    for path in sorted(DATA.glob("*.json")):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_it_publishes_every_demo_tree():
    trees = seed_trees()
    assert len(trees) == len(demo_files())
    assert all(tree.published_version is not None for tree in trees)


def test_it_is_idempotent(demo_dir):
    first = seed_trees(demo_dir)
    again = seed_trees(demo_dir)
    assert [tree.pk for tree in again] == [tree.pk for tree in first]
    assert TreeVersion.objects.count() == 2


def test_it_publishes_a_changed_file_as_a_new_version(demo_dir):
    seed_trees(demo_dir)
    path = demo_dir / "minimal.json"
    document = json.loads(path.read_text())
    document["nodes"][1]["title"] = "Done, and noted on the ticket"
    path.write_text(json.dumps(document))

    seed_trees(demo_dir)

    versions = TreeVersion.objects.filter(tree__slug="minimal")
    assert list(versions.values_list("number", "status")) == [(2, "published"), (1, "retired")]
    assert versions.get(number=2).nodes.get(key="done").title == "Done, and noted on the ticket"


def test_it_leaves_a_tree_with_a_draft_in_progress_alone(demo_dir, caplog):
    trees = seed_trees(demo_dir)
    minimal = next(tree for tree in trees if tree.slug == "minimal")
    draft = version_create_draft(tree=minimal)
    path = demo_dir / "minimal.json"
    path.write_text(path.read_text().replace('"title": "Done"', '"title": "Changed"'))

    again = seed_trees(demo_dir)

    assert minimal in again
    assert list(minimal.versions.values_list("number", "status")) == [
        (2, "draft"),
        (1, "published"),
    ]
    assert draft.nodes.get(key="done").title == "Done"
    assert "draft in progress" in caplog.text


# The bar for the demo content (issue 3, "Demo content").


def test_it_ships_at_least_eight_demo_trees_of_8_to_60_nodes():
    sizes = {
        path.name: len(json.loads(path.read_text(encoding="utf-8"))["nodes"])
        for path in demo_files()
    }
    assert len(sizes) >= 8
    assert all(8 <= size <= 60 for size in sizes.values()), sizes
    assert max(sizes.values()) >= 40


def test_it_ships_demo_trees_with_baselines_and_a_retest_loop():
    trees = seed_trees()
    assert all(tree.baseline_minutes for tree in trees)
    loops = [
        tree.slug
        for tree in trees
        if any(entry.relation == "back" for entry in build_outline(tree.published_version).entries)
    ]
    assert loops
