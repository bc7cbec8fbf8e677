from __future__ import annotations

import factory

from trees.models import Choice, Node, Tag, Tree, TreeVersion


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag-{n}")


class TreeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tree
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"tree-{n}")
    name = factory.Sequence(lambda n: f"Tree {n}")

    @factory.post_generation
    def tags(self, create, extracted, **kwargs):
        """`tags=["vpn", "remote-work"]` attaches those tags (created when missing)."""
        if create and extracted:
            self.tags.set([TagFactory(name=name) for name in extracted])


class TreeVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TreeVersion

    tree = factory.SubFactory(TreeFactory)
    number = factory.Sequence(lambda n: n + 1)


class NodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Node

    version = factory.SubFactory(TreeVersionFactory)
    key = factory.Sequence(lambda n: f"node-{n}")
    kind = Node.Kind.SOLUTION
    title = factory.Sequence(lambda n: f"Node {n}")
    position = factory.Sequence(lambda n: n)


class ChoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Choice

    node = factory.SubFactory(NodeFactory, kind=Node.Kind.QUESTION)
    label = factory.Sequence(lambda n: f"Answer {n}")
    target = factory.SubFactory(NodeFactory, version=factory.SelfAttribute("..node.version"))
    position = factory.Sequence(lambda n: n)


def tree_document(**overrides) -> dict:
    """A small valid tree in the interchange format, with a retest loop.

    check-cable (question) → Yes: restart-router (action) → works-now (question)
    → Yes: fixed (solution) / No: back to check-cable; No: replace-cable (solution).
    """
    document = {
        "format": "resolutionflow/tree@1",
        "slug": "no-internet",
        "name": "No internet",
        "description": "The user's PC has no internet access.",
        "category": "Networking",
        "tags": ["network", "router"],
        "baseline_minutes": 20,
        "start": "check-cable",
        "nodes": [
            {
                "key": "check-cable",
                "kind": "question",
                "title": "Is the network cable plugged in?",
                "body": "Look at the **link light** on the port.",
                "choices": [
                    {"label": "Yes", "next": "restart-router"},
                    {"label": "No", "next": "replace-cable"},
                ],
            },
            {
                "key": "restart-router",
                "kind": "action",
                "title": "Restart the router",
                "command": "ipconfig /renew",
                "next": "works-now",
            },
            {
                "key": "works-now",
                "kind": "question",
                "title": "Does it work now?",
                "choices": [
                    {"label": "Yes", "next": "fixed"},
                    {"label": "No, retest", "next": "check-cable"},
                ],
            },
            {"key": "replace-cable", "kind": "solution", "title": "Plug in or replace the cable"},
            {"key": "fixed", "kind": "solution", "title": "Restarting the router fixed it"},
        ],
    }
    document.update(overrides)
    return document


def published_tree(**overrides) -> Tree:
    """Import `tree_document(**overrides)` and publish it; return the tree."""
    from trees.services import tree_import

    version = tree_import(data=tree_document(**overrides), filename="test.json", publish=True)
    return version.tree
