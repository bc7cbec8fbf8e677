"""The library's count sentence, in singular and plural, for each kind of filter."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from trees.tests.factories import published_tree

pytestmark = pytest.mark.django_db

LIBRARY = reverse("trees:library")


def count_sentence(response) -> str:
    html = response.content.decode()
    paragraph = re.search(r'<p id="library-count"[^>]*>(.*?)</p>', html, re.S).group(1)
    text = re.sub(r"<[^>]+>", "", paragraph)
    return " ".join(text.split())


def trees(count: int, **fields) -> None:
    for n in range(count):
        slug = f"t{n}-{fields.get('category', 'x').lower()}"
        published_tree(slug=slug, name=f"Tree {n}", **fields)


@pytest.mark.parametrize(
    ("published", "sentence"),
    [(0, "0 published trees"), (1, "1 published tree"), (2, "2 published trees")],
    ids=["none", "one", "two"],
)
def test_it_counts_the_published_trees(alice_client, published, sentence):
    trees(published)
    assert count_sentence(alice_client.get(LIBRARY)) == sentence


@pytest.mark.parametrize(
    ("tagged", "sentence"),
    [
        (0, "0 of 3 trees match the tag mfa"),
        (1, "1 of 3 trees matches the tag mfa"),
        (2, "2 of 3 trees match the tag mfa"),
    ],
    ids=["none", "one", "two"],
)
def test_it_counts_the_trees_with_a_tag(alice_client, tagged, sentence):
    trees(tagged, tags=["mfa"], category="Identity")
    trees(3 - tagged, tags=["other"], category="Networking")
    assert count_sentence(alice_client.get(LIBRARY, {"tag": "mfa"})) == (
        f"{sentence} · Clear filters"
    )


def test_it_says_one_tree_in_the_library_in_the_singular(alice_client):
    trees(1, category="Identity")
    assert count_sentence(alice_client.get(LIBRARY, {"q": "Tree"})) == (
        "1 of 1 tree matches “Tree” · Clear filters"
    )


@pytest.mark.parametrize(
    ("query", "sentence"),
    [
        ({"q": "Tree"}, "2 of 2 trees match “Tree”"),
        ({"category": "Identity"}, "2 of 2 trees match the category Identity"),
        ({"q": "Tree", "tag": "mfa"}, "2 of 2 trees match “Tree” and the tag mfa"),
        (
            {"category": "Identity", "tag": "mfa"},
            "2 of 2 trees match the category Identity and the tag mfa",
        ),
        (
            {"q": "Tree", "category": "Identity", "tag": "mfa"},
            "2 of 2 trees match “Tree”, the category Identity and the tag mfa",
        ),
    ],
    ids=["search", "category", "search-tag", "category-tag", "all-three"],
)
def test_it_names_every_filter_in_the_count(alice_client, query, sentence):
    trees(2, tags=["mfa"], category="Identity")
    assert count_sentence(alice_client.get(LIBRARY, query)) == f"{sentence} · Clear filters"
