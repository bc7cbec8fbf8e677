"""What changed between two versions of a tree (SPEC §8, "compare").

Nodes are matched by key (keys are stable across versions). For a node in
both, each field that differs is listed with its old and new value, and its
answers are matched by label: an answer only in the new version is added,
one only in the old removed, one in both whose target changed retargeted. An
old and a new answer left unmatched that lead to the same node are one answer
relabelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trees.validation import GraphNode

FIELDS = (
    ("kind", "Kind"),
    ("title", "Title"),
    ("body", "Body"),
    ("command", "Command"),
    ("is_start", "Start"),
    ("next", "Next node"),
)


@dataclass(frozen=True)
class FieldChange:
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class AnswerChange:
    # "added", "removed", "relabelled" or "retargeted"
    change: str
    label: str
    old: str = ""
    new: str = ""


@dataclass
class NodeChange:
    key: str
    title: str
    fields: list[FieldChange] = field(default_factory=list)
    answers: list[AnswerChange] = field(default_factory=list)


@dataclass
class Comparison:
    added: list[GraphNode] = field(default_factory=list)
    removed: list[GraphNode] = field(default_factory=list)
    changed: list[NodeChange] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _text(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "—" if value in (None, "") else str(value)


def compare(old: list[GraphNode], new: list[GraphNode]) -> Comparison:
    """The changes from `old` to `new`, in the new version's order (removed in the old's)."""
    before = {node.key: node for node in old}
    after = {node.key: node for node in new}
    result = Comparison(
        added=[node for node in new if node.key not in before],
        removed=[node for node in old if node.key not in after],
    )
    for node in new:
        previous = before.get(node.key)
        if previous is None:
            continue
        change = NodeChange(key=node.key, title=node.title)
        for name, label in FIELDS:
            a, b = getattr(previous, name), getattr(node, name)
            if a != b:
                change.fields.append(FieldChange(label, _text(a), _text(b)))
        change.answers = _answers(previous, node)
        if change.fields or change.answers:
            result.changed.append(change)
    return result


def _answers(old: GraphNode, new: GraphNode) -> list[AnswerChange]:
    old_by_label = {choice.label: choice for choice in old.choices}
    new_by_label = {choice.label: choice for choice in new.choices}
    changes: list[AnswerChange] = []
    for choice in new.choices:
        before = old_by_label.get(choice.label)
        if before is not None and before.target != choice.target:
            changes.append(
                AnswerChange("retargeted", choice.label, _text(before.target), _text(choice.target))
            )
    gone = [c for c in old.choices if c.label not in new_by_label]
    fresh = [c for c in new.choices if c.label not in old_by_label]
    for choice in list(fresh):
        match = next((c for c in gone if c.target == choice.target), None)
        if match is not None:
            gone.remove(match)
            fresh.remove(choice)
            changes.append(AnswerChange("relabelled", choice.label, match.label, choice.label))
    changes += [AnswerChange("added", c.label, "", _text(c.target)) for c in fresh]
    changes += [AnswerChange("removed", c.label, _text(c.target), "") for c in gone]
    return changes
