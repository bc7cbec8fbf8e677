"""Counts in the tree admin's messages, in singular and plural."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from trees.tests.factories import published_tree

pytestmark = pytest.mark.django_db

ONE_NODE = {"start": "fixed", "nodes": [{"key": "fixed", "kind": "solution", "title": "Fixed"}]}


@pytest.mark.parametrize(
    ("overrides", "copied"),
    [(ONE_NODE, "with 1 node copied"), ({}, "with 5 nodes copied")],
    ids=["one", "five"],
)
def test_it_counts_the_nodes_copied_into_a_new_draft(admin_client_logged_in, overrides, copied):
    tree = published_tree(**overrides)
    response = admin_client_logged_in.post(reverse("admin:trees_tree_new_draft", args=[tree.pk]))
    assert response.status_code == 302
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert message == (
        f"Version 2 of “No internet” was created as a draft {copied} from the previous version."
    )
