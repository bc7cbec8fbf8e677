"""Every validation rule of SPEC §2, each with a version that breaks only that rule."""

from __future__ import annotations

import pytest

from trees.models import MAX_BODY, MAX_NODES
from trees.services import version_validate
from trees.tests.factories import NodeFactory
from trees.tests.helpers import build_version, valid_nodes, with_changes
from trees.validation import GraphNode, Problem, graph_problems

pytestmark = pytest.mark.django_db


def problems_of(nodes: list[dict]) -> list[Problem]:
    return version_validate(version=build_version(nodes))


def test_it_finds_no_problem_in_a_valid_version():
    assert problems_of(valid_nodes()) == []


def test_it_finds_no_problem_in_a_loop_that_can_exit():
    # q2 "No, retest" loops back to q1: allowed, since q1 leads to solutions.
    assert problems_of(valid_nodes()) == []


def test_it_reports_an_empty_version_as_having_no_start():
    assert problems_of([]) == [
        Problem(None, "There is no start node: mark exactly one node as the start.")
    ]


# --- exactly one start node --------------------------------------------------------


def test_it_reports_a_missing_start_node():
    assert problems_of(with_changes("q1", start=False)) == [
        Problem(None, "There is no start node: mark exactly one node as the start.")
    ]


def test_it_reports_two_start_nodes():
    # The database refuses two starts in a version, so this rule is checked on
    # the in-memory graph (which is what an import file becomes).
    nodes = [
        GraphNode(key="a", kind="action", title="A", is_start=True, next="s"),
        GraphNode(key="s", kind="solution", title="S", is_start=True),
    ]
    assert graph_problems(nodes) == [
        Problem(None, "There are 2 start nodes (a, s); exactly one is allowed.")
    ]


# --- keys unique and slug-shaped -------------------------------------------------------


@pytest.mark.parametrize("key", ["Check cable!", "with space", "ünïcode", "a/b"])
def test_it_reports_a_key_that_is_not_slug_shaped(key):
    nodes = valid_nodes()
    nodes[3]["key"] = key  # s1, the target of q1 "No"
    nodes[0]["choices"][1] = ("No", key)
    assert problems_of(nodes) == [
        Problem(
            key,
            f"The key “{key}” is not valid: use 1–100 letters, digits, hyphens or underscores.",
        )
    ]


def test_it_reports_a_key_longer_than_100_characters():
    key = "x" * 101
    nodes = [GraphNode(key=key, kind="solution", title="S", is_start=True)]
    assert graph_problems(nodes) == [
        Problem(
            key,
            f"The key “{key}” is not valid: use 1–100 letters, digits, hyphens or underscores.",
        )
    ]


def test_it_reports_a_duplicate_key():
    nodes = [
        GraphNode(key="a", kind="action", title="A", is_start=True, next="s"),
        GraphNode(key="s", kind="solution", title="S"),
        GraphNode(key="s", kind="solution", title="S again"),
    ]
    assert graph_problems(nodes) == [Problem("s", "The key is used by more than one node.")]


# --- every target exists in the same version ----------------------------------------


def test_it_reports_an_answer_leading_to_another_version():
    elsewhere = NodeFactory(key="q1")
    nodes = with_changes("q2", choices=[("Yes", "s2"), ("No, retest", elsewhere)])
    number = elsewhere.version.number
    assert problems_of(nodes) == [
        Problem(
            "q2",
            f"The answer “No, retest” leads to “q1 (version {number})”, "
            "which is not a node of this version.",
        )
    ]


def test_it_reports_an_answer_leading_nowhere():
    nodes = with_changes("q2", choices=[("Yes", "s2"), ("No, retest", None)])
    assert problems_of(nodes) == [
        Problem("q2", "The answer “No, retest” does not lead to any node.")
    ]


def test_it_reports_a_next_node_in_another_version():
    elsewhere = NodeFactory(key="q2")
    number = elsewhere.version.number
    assert problems_of(with_changes("a1", next=elsewhere)) == [
        Problem("a1", f"The next node “q2 (version {number})” is not a node of this version.")
    ]


# --- every node reachable from the start ------------------------------------------------


def test_it_reports_an_unreachable_node():
    nodes = [*valid_nodes(), {"key": "orphan", "kind": "solution", "title": "Nobody gets here"}]
    assert problems_of(nodes) == [Problem("orphan", "Not reachable from the start node.")]


# --- a question has 2–20 choices with distinct labels --------------------------------------


def test_it_reports_a_question_with_one_answer():
    nodes = with_changes("q2", choices=[("Yes", "s2")])
    assert problems_of(nodes) == [Problem("q2", "A question needs 2–20 answers; this one has 1.")]


def test_it_reports_a_question_with_21_answers():
    choices = [("Yes", "s2"), ("No, retest", "q1")] + [(f"Other {n}", "s2") for n in range(19)]
    assert problems_of(with_changes("q2", choices=choices)) == [
        Problem("q2", "A question needs 2–20 answers; this one has 21.")
    ]


def test_it_accepts_a_question_with_20_answers():
    choices = [("Yes", "s2"), ("No, retest", "q1")] + [(f"Other {n}", "s2") for n in range(18)]
    assert problems_of(with_changes("q2", choices=choices)) == []


def test_it_reports_answers_with_the_same_label():
    nodes = with_changes("q2", choices=[("Yes", "s2"), ("yes ", "q1")])
    assert problems_of(nodes) == [Problem("q2", "The answer “yes” appears more than once.")]


def test_it_reports_an_answer_without_a_label():
    nodes = with_changes("q2", choices=[("Yes", "s2"), ("   ", "q1")])
    assert problems_of(nodes) == [Problem("q2", "An answer has an empty label.")]


def test_it_reports_a_question_with_a_next_node():
    assert problems_of(with_changes("q2", next="s1")) == [
        Problem("q2", "A question continues by its answers, not by a next node.")
    ]


# --- an action has a next and no choices ---------------------------------------------------


def test_it_reports_an_action_without_a_next_node():
    assert problems_of(with_changes("a1", next=None)) == [
        Problem("a1", "An action needs a next node.")
    ]


def test_it_reports_an_action_with_answers():
    nodes = with_changes("a1", choices=[("Done", "q2"), ("Skip", "s2")])
    assert problems_of(nodes) == [
        Problem("a1", "An action continues by its next node, not by answers.")
    ]


# --- a solution has neither ------------------------------------------------------------


def test_it_reports_a_solution_with_a_next_node():
    assert problems_of(with_changes("s1", next="q1")) == [
        Problem("s1", "A solution ends the branch: it has no next node or answers.")
    ]


def test_it_reports_a_solution_with_answers():
    nodes = with_changes("s1", choices=[("Again", "q1"), ("Done", "s2")])
    assert problems_of(nodes) == [
        Problem("s1", "A solution ends the branch: it has no next node or answers.")
    ]


# --- from every node some solution is reachable (no trap loops) ---------------------------


def test_it_reports_a_trap_loop():
    nodes = valid_nodes()
    nodes[0]["choices"].append(("Lights blink", "q3"))
    nodes += [
        {
            "key": "q3",
            "kind": "question",
            "title": "Still blinking?",
            "choices": [("Yes", "a3"), ("No", "a3")],
        },
        {"key": "a3", "kind": "action", "title": "Wait a minute", "next": "q3"},
    ]
    message = "No solution can be reached from this node: its paths loop or stop before a solution."
    assert problems_of(nodes) == [Problem("q3", message), Problem("a3", message)]


def test_it_reports_a_version_without_any_solution():
    nodes = [
        {"key": "a", "kind": "action", "title": "Try", "start": True, "next": "q"},
        {
            "key": "q",
            "kind": "question",
            "title": "Works?",
            "choices": [("No", "a"), ("Nope", "a")],
        },
    ]
    assert problems_of(nodes) == [
        Problem(None, "There is no solution node: every branch must end in a solution.")
    ]


# --- at most 500 nodes --------------------------------------------------------------------


def chain_of(count: int) -> list[GraphNode]:
    """`count` nodes: actions one after the other, then a solution."""
    nodes = [
        GraphNode(key=f"step-{n}", kind="action", title=f"Step {n}", next=f"step-{n + 1}")
        for n in range(count - 1)
    ]
    nodes.append(GraphNode(key=f"step-{count - 1}", kind="solution", title="Done"))
    nodes[0] = GraphNode(key="step-0", kind="action", title="Step 0", is_start=True, next="step-1")
    return nodes


def test_it_accepts_500_nodes():
    assert graph_problems(chain_of(MAX_NODES)) == []


def test_it_reports_more_than_500_nodes():
    assert graph_problems(chain_of(MAX_NODES + 1)) == [
        Problem(None, "The tree has 501 nodes; at most 500 are allowed.")
    ]


# --- titles, kinds and sizes --------------------------------------------------------------


def test_it_reports_an_empty_title():
    assert problems_of(with_changes("s1", title="  ")) == [Problem("s1", "The title is empty.")]


def test_it_reports_an_unknown_kind():
    assert problems_of(with_changes("s1", kind="maybe")) == [
        Problem("s1", "The kind “maybe” is unknown: use question, action or solution.")
    ]


def test_it_reports_an_oversize_body():
    assert problems_of(with_changes("s1", body="x" * (MAX_BODY + 1))) == [
        Problem("s1", "The body is longer than 20,000 characters.")
    ]


def test_it_reports_every_problem_at_once():
    nodes = with_changes("a1", next=None)
    nodes[2]["choices"] = [("Yes", "s2")]
    nodes.append({"key": "orphan", "kind": "solution", "title": ""})
    problems = problems_of(nodes)
    assert set(problems) == {
        Problem("a1", "An action needs a next node."),
        Problem("q2", "A question needs 2–20 answers; this one has 1."),
        Problem("orphan", "The title is empty."),
        Problem("orphan", "Not reachable from the start node."),
    }


def test_it_validates_in_two_queries(django_assert_num_queries):
    version = build_version(valid_nodes())
    with django_assert_num_queries(2):
        assert version_validate(version=version) == []
