"""What the database itself guarantees about trees (SPEC §2)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from trees.models import Tree, TreeVersion
from trees.tests.factories import (
    ChoiceFactory,
    NodeFactory,
    TreeFactory,
    TreeVersionFactory,
    published_tree,
)

pytestmark = pytest.mark.django_db


def refuses(create) -> bool:
    try:
        with transaction.atomic():
            create()
    except IntegrityError:
        return True
    return False


def test_it_allows_one_draft_per_tree():
    tree = TreeFactory()
    TreeVersionFactory(tree=tree, number=1)
    assert refuses(lambda: TreeVersionFactory(tree=tree, number=2))
    assert TreeVersionFactory(number=1).status == TreeVersion.Status.DRAFT  # another tree


def test_it_allows_one_published_version_per_tree():
    tree = TreeFactory()
    TreeVersionFactory(tree=tree, number=1, status=TreeVersion.Status.PUBLISHED)
    assert refuses(
        lambda: TreeVersionFactory(tree=tree, number=2, status=TreeVersion.Status.PUBLISHED)
    )
    TreeVersionFactory(tree=tree, number=3, status=TreeVersion.Status.RETIRED)
    TreeVersionFactory(tree=tree, number=4, status=TreeVersion.Status.RETIRED)
    assert tree.versions.count() == 3


def test_it_numbers_versions_uniquely_per_tree():
    tree = TreeFactory()
    TreeVersionFactory(tree=tree, number=1, status=TreeVersion.Status.RETIRED)
    assert refuses(lambda: TreeVersionFactory(tree=tree, number=1))


def test_it_keeps_node_keys_unique_in_a_version():
    node = NodeFactory(key="check")
    assert refuses(lambda: NodeFactory(version=node.version, key="check"))
    assert NodeFactory(key="check").version != node.version


def test_it_allows_one_start_node_per_version():
    node = NodeFactory(is_start=True)
    assert refuses(lambda: NodeFactory(version=node.version, is_start=True))


def test_it_keeps_answer_labels_unique_in_a_node():
    choice = ChoiceFactory(label="Yes")
    assert refuses(lambda: ChoiceFactory(node=choice.node, label="Yes"))


def test_it_lists_only_published_unarchived_trees():
    live = published_tree(slug="live")
    published_tree(slug="archived")
    Tree.objects.filter(slug="archived").update(is_archived=True)
    TreeVersionFactory(tree=TreeFactory(slug="draft-only"))
    assert list(Tree.objects.published()) == [live]


def test_it_counts_the_steps_of_the_published_version():
    tree = published_tree()
    draft = TreeVersionFactory(tree=tree, number=9)
    NodeFactory(version=draft)
    TreeFactory(slug="empty")
    counts = dict(Tree.objects.with_step_count().values_list("slug", "step_count"))
    assert counts == {"no-internet": 5, "empty": 0}


def test_it_searches_name_description_and_tags_without_duplicates():
    published_tree(slug="a", name="VPN down", tags=["vpn", "vpn-client"])
    published_tree(slug="b", name="Printer", description="Nothing prints over VPN")
    published_tree(slug="c", name="Printer jam", tags=["printing"])
    found = Tree.objects.published().search("vpn")
    assert sorted(found.values_list("slug", flat=True)) == ["a", "b"]
    assert Tree.objects.search("  ").count() == 3
    # On PostgreSQL "Printer" is a near miss for "printing": it comes after the exact tag.
    near_misses = ["b"] if connection.vendor == "postgresql" else []
    assert list(Tree.objects.search("PRINTING").values_list("slug", flat=True)) == [
        "c",
        *near_misses,
    ]


def test_it_prefetches_the_published_version(django_assert_num_queries):
    published_tree(slug="a")
    published_tree(slug="b")
    with django_assert_num_queries(2):
        trees = list(Tree.objects.with_published_version())
        assert [tree.published_version.number for tree in trees] == [1, 1]
