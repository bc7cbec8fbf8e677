"""Building versions node by node, for tests that need a precise (often broken) graph."""

from __future__ import annotations

from trees.models import Choice, Node, TreeVersion
from trees.tests.factories import TreeVersionFactory


def build_version(nodes: list[dict], version: TreeVersion | None = None) -> TreeVersion:
    """Create `nodes` in `version` (a new draft by default).

    Each node is a dict: key, kind, optional title/body/command, start (bool),
    next (a key, or a Node for a link outside the version) and choices
    [(label, target key or Node or None)].
    """
    version = version or TreeVersionFactory()
    created: dict[str, Node] = {}
    for position, spec in enumerate(nodes, start=1):
        created[spec["key"]] = Node.objects.create(
            version=version,
            key=spec["key"],
            kind=spec["kind"],
            title=spec.get("title", spec["key"].replace("-", " ").capitalize()),
            body=spec.get("body", ""),
            command=spec.get("command", ""),
            is_start=spec.get("start", False),
            position=position,
        )

    def resolve(target):
        return target if isinstance(target, Node) or target is None else created[target]

    for spec in nodes:
        node = created[spec["key"]]
        if spec.get("next") is not None:
            node.next = resolve(spec["next"])
            node.save(update_fields=["next"])
        for position, (label, target) in enumerate(spec.get("choices", ()), start=1):
            Choice.objects.create(node=node, label=label, target=resolve(target), position=position)
    return version


def valid_nodes() -> list[dict]:
    """A valid graph with a retest loop and a second way into every node after q1.

    q1 (start): Yes → a1, No → s1, Already restarted → q2
    a1 → q2;  q2: Yes → s2, No, retest → q1
    """
    return [
        {
            "key": "q1",
            "kind": "question",
            "title": "Is the cable plugged in?",
            "start": True,
            "choices": [("Yes", "a1"), ("No", "s1"), ("Already restarted", "q2")],
        },
        {"key": "a1", "kind": "action", "title": "Restart the router", "next": "q2"},
        {
            "key": "q2",
            "kind": "question",
            "title": "Does it work now?",
            "choices": [("Yes", "s2"), ("No, retest", "q1")],
        },
        {"key": "s1", "kind": "solution", "title": "Plug the cable in"},
        {"key": "s2", "kind": "solution", "title": "The restart fixed it"},
    ]


def with_changes(key: str, **changes) -> list[dict]:
    """valid_nodes() with `changes` applied to the node `key`."""
    nodes = valid_nodes()
    for node in nodes:
        if node["key"] == key:
            node.update(changes)
    return nodes
