"""A failure in the middle of importing or publishing leaves the database exactly as before.

Each test makes one write inside `tree_import` or `tree_publish` raise after
earlier writes of the same call have already reached the database, then
compares a serialisation of every tree, tag, version, node, choice and
session row with the one taken before.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from django.core import serializers
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from sessions import services as session_services
from sessions.models import Decision, Session
from trees import services
from trees.models import Choice, Node, Tag, Tree, TreeVersion
from trees.tests.factories import published_tree, tree_document

pytestmark = pytest.mark.django_db


class Injected(Exception):
    """The failure a test injects; anything else escaping is a real bug."""


def snapshot() -> str:
    rows = [
        *Tag.objects.order_by("pk"),
        *Tree.objects.order_by("pk"),  # with its tags (many-to-many)
        *TreeVersion.objects.order_by("pk"),
        *Node.objects.order_by("pk"),
        *Choice.objects.order_by("pk"),
        *Session.objects.order_by("pk"),
        *Decision.objects.order_by("pk"),
    ]
    return serializers.serialize("json", rows)


def fail_on_call(monkeypatch, target: object, name: str, *, call: int = 1) -> Callable[[], int]:
    """Make `target.name` raise Injected on its `call`-th call (earlier calls go through).

    Returns a function giving how many calls were made, to prove the failure
    happened where the test says it does.
    """
    original = getattr(target, name)
    calls = 0

    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == call:
            raise Injected(f"{name} call {call}")
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, wrapper)
    return lambda: calls


@pytest.fixture
def live_tree(alice, clock):
    """A published tree with a session run on it (publishing must never touch sessions)."""
    tree = published_tree()
    session_services.session_create(tree=tree, engineer=alice, ticket_ref="T-1")
    return tree


def _next_version_document() -> dict:
    document = tree_document(
        name="No internet (v2)", tags=["network", "isp"], description="Reworded."
    )
    document["nodes"][0]["title"] = "Is the cable plugged in at both ends?"
    return document


# --- tree_import ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target,name,call",
    [
        # Tree, tags and version written; the nodes fail.
        (Node.objects, "bulk_create", 1),
        # Nodes written; linking `next` fails.
        (Node.objects, "bulk_update", 1),
        # Nodes linked; the answers fail (the very last write).
        (Choice.objects, "bulk_create", 1),
    ],
    ids=["nodes", "next-links", "choices"],
)
def test_a_failure_while_importing_a_new_tree_changes_nothing(monkeypatch, target, name, call):
    Tag.objects.create(name="network")  # an existing tag the import would attach
    before = snapshot()
    calls = fail_on_call(monkeypatch, target, name, call=call)

    with pytest.raises(Injected):
        services.tree_import(data=tree_document(), filename="new.json")

    assert calls() == call
    assert snapshot() == before
    assert not Tree.objects.filter(slug="no-internet").exists()


@pytest.mark.parametrize(
    "target,name",
    [(TreeVersion.objects, "create"), (Choice.objects, "bulk_create")],
    ids=["version", "choices"],
)
def test_a_failure_while_importing_a_new_version_changes_nothing(
    live_tree, monkeypatch, target, name
):
    # By then the tree's name, description and tags have been rewritten from the file.
    before = snapshot()
    fail_on_call(monkeypatch, target, name)

    with pytest.raises(Injected):
        services.tree_import(data=_next_version_document(), filename="v2.json", publish=True)

    assert snapshot() == before
    live_tree.refresh_from_db()
    assert live_tree.name == "No internet"
    assert sorted(live_tree.tags.values_list("name", flat=True)) == ["network", "router"]


def test_a_failure_while_publishing_an_import_changes_nothing(live_tree, monkeypatch):
    before = snapshot()
    # Save 1 creates the new version; save 2 publishes it, after the previous
    # version was retired and every node and answer written.
    calls = fail_on_call(monkeypatch, TreeVersion, "save", call=2)

    with pytest.raises(Injected):
        services.tree_import(data=_next_version_document(), filename="v2.json", publish=True)

    assert calls() == 2
    assert snapshot() == before
    assert live_tree.versions.get().status == TreeVersion.Status.PUBLISHED


def test_a_failure_in_the_import_command_changes_nothing(monkeypatch, tmp_path):
    path = tmp_path / "tree.json"
    path.write_text(json.dumps(tree_document()))
    before = snapshot()
    fail_on_call(monkeypatch, Choice.objects, "bulk_create")

    with pytest.raises(Injected):
        call_command("import_tree", str(path), "--publish", stdout=io.StringIO())

    assert snapshot() == before


def test_a_failure_in_the_admin_upload_changes_nothing(monkeypatch, admin_client_logged_in):
    before = snapshot()
    fail_on_call(monkeypatch, Node.objects, "bulk_update")
    client = Client(raise_request_exception=False)
    client.cookies = admin_client_logged_in.cookies

    upload = SimpleUploadedFile(
        "tree.json", json.dumps(tree_document()).encode(), content_type="application/json"
    )
    response = client.post(reverse("admin:trees_tree_import"), {"files": [upload], "publish": "on"})

    assert response.status_code == 500
    assert snapshot() == before


# --- tree_publish -----------------------------------------------------------------------------


@pytest.fixture
def draft(live_tree):
    return services.version_create_draft(tree=live_tree)


def _fail_after_the_last_write(monkeypatch) -> Callable[[], int]:
    """The log line is the last thing tree_publish does: every write is made by then."""
    return fail_on_call(monkeypatch, services.logger, "info")


@pytest.mark.parametrize(
    "inject",
    [
        lambda mp: fail_on_call(mp, TreeVersion, "save"),
        _fail_after_the_last_write,
    ],
    ids=["after-retiring-the-old-version", "after-every-write"],
)
def test_a_failure_while_publishing_changes_nothing(draft, monkeypatch, inject):
    before = snapshot()
    calls = inject(monkeypatch)

    with pytest.raises(Injected):
        services.tree_publish(version=draft)

    assert calls() == 1
    assert snapshot() == before
    draft.refresh_from_db()
    assert draft.status == TreeVersion.Status.DRAFT
    assert draft.tree.published_version.number == 1


def test_a_failure_behind_the_admin_publish_button_changes_nothing(
    draft, monkeypatch, admin_client_logged_in
):
    before = snapshot()
    _fail_after_the_last_write(monkeypatch)
    client = Client(raise_request_exception=False)
    client.cookies = admin_client_logged_in.cookies

    response = client.post(reverse("admin:trees_treeversion_publish", args=[draft.pk]))

    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
    assert snapshot() == before


def test_publishing_works_once_the_failure_is_gone(draft, monkeypatch):
    with monkeypatch.context() as patch:
        _fail_after_the_last_write(patch)
        with pytest.raises(Injected):
            services.tree_publish(version=draft)

    version = services.tree_publish(version=draft)

    assert version.status == TreeVersion.Status.PUBLISHED
    assert draft.tree.versions.get(number=1).status == TreeVersion.Status.RETIRED
    assert Session.objects.get().version.number == 1
