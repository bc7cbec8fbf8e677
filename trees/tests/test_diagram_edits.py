"""Layouts derived from the last one after an edit (diagram.derive_layout), not laid out again."""

from __future__ import annotations

import dataclasses

import pytest
from django.core.cache import cache

from bench.treegen import build_large_version
from trees import diagram
from trees.services import version_create_draft, version_graph
from trees.tests.factories import published_tree
from trees.validation import GraphChoice, GraphNode

pytestmark = pytest.mark.django_db


@pytest.fixture
def graph():
    return version_graph(version_create_draft(tree=published_tree()))


def add_answer(nodes: list[GraphNode], source: str, leaf: str, label: str = "New") -> list:
    """`nodes` after `Add answer` on `source` made the node `leaf`."""
    out = [
        dataclasses.replace(n, choices=(*n.choices, GraphChoice(label=label, target=leaf)))
        if n.key == source
        else n
        for n in nodes
    ]
    return [*out, GraphNode(key=leaf, kind="solution", title=leaf, is_start=False)]


def test_a_new_answer_node_goes_below_its_source_and_nothing_else_moves_relative(graph):
    base = diagram.compute_layout(graph)
    assert diagram.layout_faults(base) == []
    nodes = add_answer(graph, "check-cable", "call-isp", "Still down")
    derived = diagram.derive_layout(base, nodes)
    assert derived is not None
    assert diagram.layout_faults(derived) == []
    parent, leaf = derived.boxes["check-cable"], derived.boxes["call-isp"]
    assert leaf.y == parent.y + diagram.NODE_H + diagram.Y_SPACE
    assert set(derived.boxes) == set(base.boxes) | {"call-isp"}
    arrows = {(a.source, a.target): a for a in derived.arrows}
    assert arrows["check-cable", "call-isp"].label == "Still down"
    assert not arrows["check-cable", "call-isp"].loop
    # Every arrow of before is still there, in reading order, with its loop kept a loop.
    assert [(a.source, a.target) for a in derived.arrows] == [
        (s, t) for s, t, _ in diagram._links(nodes)
    ]
    assert arrows["works-now", "check-cable"].loop
    # Each side of the new column keeps its shape: the left as it was, the right moved as one.
    cut = leaf.x - diagram.X_SPACE
    moved = {key for key, box in base.boxes.items() if box.x + diagram.NODE_W / 2 >= cut}
    for key, box in base.boxes.items():
        shift = diagram.NODE_W + 2 * diagram.X_SPACE if key in moved else 0
        assert derived.boxes[key] == diagram.Box(key, round(box.x + shift, 1), box.y)


def test_it_is_deterministic(graph):
    base = diagram.compute_layout(graph)
    nodes = add_answer(graph, "check-cable", "call-isp")
    assert diagram.derive_layout(base, nodes) == diagram.derive_layout(base, nodes)


def test_a_changed_label_keeps_every_box(graph):
    base = diagram.compute_layout(graph)
    nodes = [
        dataclasses.replace(
            n, choices=tuple(dataclasses.replace(c, label=c.label + "!") for c in n.choices)
        )
        for n in graph
    ]
    derived = diagram.derive_layout(base, nodes)
    assert derived.boxes == base.boxes
    assert [a.points for a in derived.arrows] == [a.points for a in base.arrows]
    assert all(a.label.endswith("!") for a in derived.arrows if a.label)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda g: g[:-1], id="a-node-removed"),
        pytest.param(
            lambda g: [dataclasses.replace(n, is_start=not n.is_start) for n in g],
            id="another-start",
        ),  # fmt: skip
        pytest.param(
            lambda g: add_answer(add_answer(g, "check-cable", "a"), "check-cable", "b"),
            id="two-new-nodes",
        ),  # fmt: skip
        pytest.param(
            lambda g: [
                *add_answer(g, "check-cable", "a")[:-1],
                GraphNode(
                    key="a",
                    kind="question",
                    title="a",
                    is_start=False,
                    choices=(GraphChoice("Back", "check-cable"),),
                ),
            ],
            id="new-node-with-its-own-arrow",
        ),  # fmt: skip
    ],
)
def test_other_structural_edits_are_laid_out_again(graph, edit):
    assert diagram.derive_layout(diagram.compute_layout(graph), edit(list(graph))) is None


def test_many_new_nodes_in_a_500_node_tree_add_no_fault():
    nodes = list(version_graph(build_large_version(nodes=500)))
    full = diagram.compute_layout(nodes)
    before = set(diagram.layout_faults(full))
    layout = full
    questions = [n.key for n in nodes if n.kind == "question"][::7][:25]
    for n, key in enumerate(questions):
        nodes = add_answer(nodes, key, f"bench-{n}", f"Bench {n}")
        layout = diagram.derive_layout(layout, nodes)
        assert layout is not None, key
    # The full layout's own faults (grandalf's) stay; none is added.
    assert set(diagram.layout_faults(layout)) - before == set()
    assert set(layout.boxes) == {n.key for n in nodes}


def test_layout_for_derives_from_what_was_last_drawn_in_its_scope(graph):
    cache.clear()
    diagram._RECENT.clear()
    diagram._DRAWN.clear()
    base = diagram.layout_for(graph, scope="version:1")
    nodes = add_answer(graph, "check-cable", "call-isp")
    drawn = diagram.layout_for(nodes, scope="version:1")
    assert drawn == diagram.derive_layout(base, nodes) != diagram.compute_layout(nodes)
    # Another process (nothing in memory) draws the same structure the same way.
    diagram._RECENT.clear()
    diagram._DRAWN.clear()
    assert diagram.layout_for(nodes) == drawn
    # Without a scope, a new structure is laid out from scratch.
    cache.clear()
    diagram._RECENT.clear()
    assert diagram.layout_for(nodes) == diagram.compute_layout(nodes)
