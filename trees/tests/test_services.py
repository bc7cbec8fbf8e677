"""Creating, drafting and publishing trees (trees.services)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from trees.models import Choice, Node, Tree, TreeVersion
from trees.services import (
    PublishError,
    tree_create,
    tree_export,
    tree_publish,
    version_create_draft,
)
from trees.tests.factories import NodeFactory, TreeFactory, published_tree
from trees.tests.helpers import build_version, valid_nodes, with_changes
from trees.validation import Problem

pytestmark = pytest.mark.django_db


def test_it_creates_a_tree_with_tags(admin_user):
    tree = tree_create(
        slug="dns-failure",
        name="DNS resolution failure",
        category="Networking",
        tags=["dns", "network", "dns"],
        baseline_minutes=25,
        by=admin_user,
    )
    tree.refresh_from_db()
    assert tree.name == "DNS resolution failure"
    assert list(tree.tags.values_list("name", flat=True)) == ["dns", "network"]
    assert tree.versions.count() == 0


def test_it_refuses_a_tree_with_a_taken_or_malformed_slug():
    TreeFactory(slug="taken")
    with pytest.raises(ValidationError):
        tree_create(slug="taken", name="Again")
    with pytest.raises(ValidationError):
        tree_create(slug="not a slug", name="Bad")
    assert Tree.objects.count() == 1


def test_it_creates_an_empty_first_draft():
    tree = TreeFactory()
    draft = version_create_draft(tree=tree)
    assert (draft.number, draft.status, draft.nodes.count()) == (1, "draft", 0)


def test_it_copies_the_published_version_into_a_new_draft(admin_user):
    tree = published_tree()
    published = tree.published_version
    draft = version_create_draft(tree=tree, by=admin_user)

    assert (draft.number, draft.status, draft.created_by) == (2, "draft", admin_user)
    assert tree_export(version=draft) == tree_export(version=published)
    # The copy links to its own nodes, never to the published ones.
    assert (
        not Node.objects.filter(version=draft)
        .exclude(next=None)
        .exclude(next__version=draft)
        .exists()
    )
    assert not Choice.objects.filter(node__version=draft).exclude(target__version=draft).exists()
    assert draft.nodes.get(is_start=True).key == "check-cable"
    assert list(draft.nodes.values_list("key", "position")) == list(
        published.nodes.values_list("key", "position")
    )


def test_it_copies_the_latest_version_when_none_is_published():
    tree = TreeFactory()
    build_version(
        valid_nodes(), version=TreeVersion.objects.create(tree=tree, number=1, status="retired")
    )
    draft = version_create_draft(tree=tree)
    assert draft.number == 2
    assert sorted(draft.nodes.values_list("key", flat=True)) == ["a1", "q1", "q2", "s1", "s2"]


def test_it_refuses_a_second_draft():
    tree = published_tree()
    version_create_draft(tree=tree)
    with pytest.raises(ValidationError, match="already has a draft"):
        version_create_draft(tree=tree)
    assert tree.versions.count() == 2


def test_it_publishes_a_valid_draft_and_retires_the_old_version(admin_user, clock):
    tree = published_tree()
    old = tree.published_version
    draft = version_create_draft(tree=tree)

    published = tree_publish(version=draft, by=admin_user)

    old.refresh_from_db()
    draft.refresh_from_db()
    assert old.status == TreeVersion.Status.RETIRED
    assert draft.status == TreeVersion.Status.PUBLISHED
    assert (draft.published_at, draft.published_by) == (clock.now(), admin_user)
    assert published.pk == draft.pk
    assert tree.published_version == draft


def test_it_publishes_nothing_when_the_draft_is_invalid():
    tree = published_tree()
    old = tree.published_version
    draft = version_create_draft(tree=tree)
    draft.nodes.filter(key="restart-router").update(next=None)

    with pytest.raises(PublishError) as raised:
        tree_publish(version=draft)

    # The action was the only way on, so what followed it is unreachable too.
    assert raised.value.problems == [
        Problem("restart-router", "An action needs a next node."),
        Problem("works-now", "Not reachable from the start node."),
        Problem("fixed", "Not reachable from the start node."),
    ]
    assert raised.value.messages[0] == "restart-router: An action needs a next node."
    old.refresh_from_db()
    draft.refresh_from_db()
    assert (old.status, draft.status, draft.published_at) == ("published", "draft", None)


def test_it_only_publishes_drafts():
    tree = published_tree()
    with pytest.raises(PublishError, match="only a draft can be published"):
        tree_publish(version=tree.published_version)


def test_it_publishes_a_stale_copy_of_a_version_by_its_current_state():
    draft = build_version(valid_nodes())
    stale = TreeVersion.objects.get(pk=draft.pk)
    tree_publish(version=draft)
    with pytest.raises(PublishError):
        tree_publish(version=stale)  # already published by someone else


def test_it_never_touches_sessions_when_publishing(alice):
    from sessions.models import Session

    tree = published_tree()
    old = tree.published_version
    session = Session.objects.create(engineer=alice, tree=tree, version=old)
    tree_publish(version=version_create_draft(tree=tree))
    session.refresh_from_db()
    assert session.version == old


def test_it_validates_the_draft_as_it_is_in_the_database():
    version = build_version(with_changes("a1", next=None))
    NodeFactory(version=version, key="late", kind="solution")
    with pytest.raises(PublishError) as raised:
        tree_publish(version=version)
    assert {problem.node_key for problem in raised.value.problems} == {"a1", "late"}
