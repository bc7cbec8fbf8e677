"""The rules a tree version must satisfy to be published (SPEC §2).

The rules work on a plain in-memory graph so the same code checks a version
stored in the database (`services.version_validate`) and a JSON file before
anything is written (`interchange`). Every rule reports all its problems, each
with the key of the node concerned, so an author can fix everything in one go.

The rules come in two groups:

- integrity: what must hold for the nodes to be stored and navigated at all
  (one start, well-formed unique keys, titles, targets that exist, distinct
  answers, the size limit). An import refuses a file that breaks these.
- structure: the shape of the graph (reachability, answers per question,
  how actions and solutions continue, no trap loops). A draft may break these
  while it is being written; publishing may not.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from trees.models import MAX_BODY, MAX_CHOICES, MAX_COMMAND, MAX_NODES, MAX_TITLE, MIN_CHOICES

MAX_KEY = 100
SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+\Z")
KINDS = ("question", "action", "solution")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a version or a file; `node_key` is None for the whole tree."""

    node_key: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.node_key}: {self.message}" if self.node_key else self.message


@dataclass(frozen=True)
class GraphChoice:
    label: str
    # The key of the node the answer leads to; None when it leads nowhere.
    target: str | None


@dataclass(frozen=True)
class GraphNode:
    key: str
    kind: str
    title: str
    body: str = ""
    command: str = ""
    is_start: bool = False
    next: str | None = None
    choices: tuple[GraphChoice, ...] = field(default_factory=tuple)


def is_slug(value: str, *, max_length: int = MAX_KEY) -> bool:
    return bool(SLUG_RE.match(value)) and len(value) <= max_length


def _quote(text: str) -> str:
    return f"“{text}”"


def integrity_problems(
    nodes: Sequence[GraphNode], *, other_keys: Sequence[str] = (), check_start: bool = True
) -> list[Problem]:
    """Problems that make the nodes unusable: these block an import and a publish.

    `other_keys` are keys of further nodes that exist but are not checked here
    (an import reports their problems itself): answers may lead to them and
    they count for uniqueness. `check_start=False` leaves the start rule to the
    caller.
    """
    problems: list[Problem] = []
    total = len(nodes) + len(other_keys)
    if total > MAX_NODES:
        problems.append(
            Problem(None, f"The tree has {total} nodes; at most {MAX_NODES} are allowed.")
        )

    starts = [node.key for node in nodes if node.is_start]
    if check_start and not starts:
        problems.append(
            Problem(None, "There is no start node: mark exactly one node as the start.")
        )
    elif len(starts) > 1:
        problems.append(
            Problem(
                None,
                f"There are {len(starts)} start nodes ({', '.join(starts)}); "
                "exactly one is allowed.",
            )
        )

    for node in nodes:
        if not is_slug(node.key):
            problems.append(
                Problem(
                    node.key or None,
                    f"The key {_quote(node.key)} is not valid: use 1–{MAX_KEY} letters, digits, "
                    "hyphens or underscores.",
                )
            )
    all_keys = [node.key for node in nodes] + list(other_keys)
    seen: set[str] = set()
    for key in all_keys:
        if key in seen:
            problems.append(Problem(key or None, "The key is used by more than one node."))
        seen.add(key)

    keys = set(all_keys)
    for node in nodes:
        problems.extend(_node_integrity(node, keys))
    return list(dict.fromkeys(problems))


def _node_integrity(node: GraphNode, keys: set[str]) -> Iterable[Problem]:
    key = node.key or None
    if node.kind not in KINDS:
        yield Problem(
            key, f"The kind {_quote(node.kind)} is unknown: use question, action or solution."
        )
    if not node.title.strip():
        yield Problem(key, "The title is empty.")
    elif len(node.title) > MAX_TITLE:
        yield Problem(key, f"The title is longer than {MAX_TITLE} characters.")
    if len(node.body) > MAX_BODY:
        yield Problem(key, f"The body is longer than {MAX_BODY:,} characters.")
    if len(node.command) > MAX_COMMAND:
        yield Problem(key, f"The command is longer than {MAX_COMMAND:,} characters.")
    if node.next is not None and node.next not in keys:
        yield Problem(key, f"The next node {_quote(node.next)} is not a node of this version.")
    labels: set[str] = set()
    for choice in node.choices:
        label = choice.label.strip()
        if not label:
            yield Problem(key, "An answer has an empty label.")
        elif len(choice.label) > MAX_TITLE:
            yield Problem(
                key, f"The answer {_quote(label[:40])}… is longer than {MAX_TITLE} characters."
            )
        elif label.casefold() in labels:
            yield Problem(key, f"The answer {_quote(label)} appears more than once.")
        labels.add(label.casefold())
        if choice.target is None:
            yield Problem(key, f"The answer {_quote(label)} does not lead to any node.")
        elif choice.target not in keys:
            yield Problem(
                key,
                f"The answer {_quote(label)} leads to {_quote(choice.target)}, "
                "which is not a node of this version.",
            )


def structure_problems(nodes: Sequence[GraphNode]) -> list[Problem]:
    """Problems with the shape of the graph: these block a publish."""
    problems: list[Problem] = []
    by_key = {node.key: node for node in nodes}

    for node in nodes:
        key = node.key or None
        if node.kind == "question":
            if node.next is not None:
                problems.append(
                    Problem(key, "A question continues by its answers, not by a next node.")
                )
            if not MIN_CHOICES <= len(node.choices) <= MAX_CHOICES:
                problems.append(
                    Problem(
                        key,
                        f"A question needs {MIN_CHOICES}–{MAX_CHOICES} answers; "
                        f"this one has {len(node.choices)}.",
                    )
                )
        elif node.kind == "action":
            if node.next is None:
                problems.append(Problem(key, "An action needs a next node."))
            if node.choices:
                problems.append(
                    Problem(key, "An action continues by its next node, not by answers.")
                )
        elif node.kind == "solution" and (node.next is not None or node.choices):
            problems.append(
                Problem(key, "A solution ends the branch: it has no next node or answers.")
            )

    successors = _successors(nodes, by_key)
    starts = [node.key for node in nodes if node.is_start]
    if len(starts) == 1:
        reachable = _closure([starts[0]], successors)
        for node in nodes:
            if node.key not in reachable:
                problems.append(Problem(node.key or None, "Not reachable from the start node."))

    solutions = [node.key for node in nodes if node.kind == "solution"]
    if not solutions:
        if nodes:
            problems.append(
                Problem(None, "There is no solution node: every branch must end in a solution.")
            )
    else:
        predecessors: dict[str, set[str]] = defaultdict(set)
        for key, targets in successors.items():
            for target in targets:
                predecessors[target].add(key)
        can_finish = _closure(solutions, predecessors)
        for node in nodes:
            # A dead end (an action with no next, a question without answers) is
            # reported by the rules above; here we catch the loops that never end.
            if node.key not in can_finish and successors.get(node.key):
                problems.append(
                    Problem(
                        node.key or None,
                        "No solution can be reached from this node: its paths loop or stop "
                        "before a solution.",
                    )
                )
    return problems


def _successors(nodes: Sequence[GraphNode], by_key: dict[str, GraphNode]) -> dict[str, set[str]]:
    successors: dict[str, set[str]] = {}
    for node in nodes:
        targets = {choice.target for choice in node.choices if choice.target in by_key}
        if node.next in by_key:
            targets.add(node.next)
        successors[node.key] = targets
    return successors


def _closure(roots: Iterable[str], edges: dict[str, set[str]]) -> set[str]:
    """Every key reachable from `roots` along `edges` (iterative: trees may be deep)."""
    seen = set(roots)
    stack = list(seen)
    while stack:
        for target in edges.get(stack.pop(), ()):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def graph_problems(nodes: Sequence[GraphNode]) -> list[Problem]:
    """Every rule of SPEC §2 at once."""
    return integrity_problems(nodes) + structure_problems(nodes)
