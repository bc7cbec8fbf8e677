"""The outline on a tree page (trees.outline)."""

from __future__ import annotations

import pytest

from trees.outline import build_outline
from trees.tests.helpers import build_version, valid_nodes

pytestmark = pytest.mark.django_db


def summary(outline) -> list[str]:
    """The entries as short strings: node keys, answers, references."""
    parts = []
    for entry in outline.entries:
        if entry.type == "node":
            parts.append(entry.node.key)
        elif entry.type == "choice":
            ref = f" -{entry.relation}-> {entry.node.key}" if entry.node else ""
            parts.append(f"[{entry.choice.label}]{ref}")
        elif entry.type == "ref":
            parts.append(f"-{entry.relation}-> {entry.node.key}")
        elif entry.type == "dead":
            parts.append(f"[{entry.choice.label}] -> nowhere")
        elif entry.type in ("open", "close"):
            parts.append({"open": "(", "close": ")"}[entry.type])
    return parts


def test_it_draws_each_node_once_and_links_loops_and_merges():
    outline = build_outline(build_version(valid_nodes()))
    assert summary(outline) == [
        "(",
        "q1",
        "(",
        "[Yes]",
        "(",
        "a1",
        "q2",  # an action's next follows at the same level
        "(",
        "[Yes]",
        "(",
        "s2",
        ")",
        "[No, retest] -back-> q1",
        ")",
        ")",
        "[No]",
        "(",
        "s1",
        ")",
        "[Already restarted] -see-> q2",  # drawn above, in another branch
        ")",
        ")",
    ]
    assert outline.unreachable == []
    assert outline.node_count == 5


def test_it_balances_its_lists():
    outline = build_outline(build_version(valid_nodes()))
    types = [entry.type for entry in outline.entries]
    assert types.count("open") == types.count("close")
    assert types.count("end") == types.count("node") + types.count("choice")


def test_it_lists_what_the_start_cannot_reach_and_dangling_answers():
    nodes = valid_nodes()
    nodes[2]["choices"][1] = ("No, retest", None)
    nodes.append({"key": "orphan", "kind": "solution"})
    outline = build_outline(build_version(nodes))
    assert "[No, retest] -> nowhere" in summary(outline)
    assert [node.key for node in outline.unreachable] == ["orphan"]


def test_it_has_no_outline_without_a_start():
    nodes = valid_nodes()
    nodes[0]["start"] = False
    outline = build_outline(build_version(nodes))
    assert outline.start is None
    assert outline.entries == []
    assert len(outline.unreachable) == 5


def test_it_handles_a_very_long_chain_without_recursion(django_assert_num_queries):
    nodes = [
        {"key": f"s{n}", "kind": "action", "next": f"s{n + 1}", "start": n == 0} for n in range(499)
    ]
    nodes.append({"key": "s499", "kind": "solution"})
    version = build_version(nodes)
    with django_assert_num_queries(2):
        outline = build_outline(version)
    assert [entry.node.key for entry in outline.entries if entry.type == "node"][-1] == "s499"
