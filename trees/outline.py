"""The outline of a version shown on the tree page (SPEC §4).

Starting at the start node, each question lists its answers, each answer the
branch it leads to, indented; an action is followed by its next node at the
same level, like the steps of a script. A node is drawn once: a later answer
that leads to it (a "retest" loop, or two branches that merge) shows a link to
it instead of repeating its subtree, so the outline stays finite and short.

The outline is a flat list of entries (open a list, a node, an answer, a
reference, close…) that the template walks in one loop: trees can be hundreds
of nodes deep, too deep for recursive template includes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trees.models import Choice, Node, TreeVersion
from trees.validation import GraphChoice, GraphNode


@dataclass(frozen=True)
class Entry:
    # "open" / "close" a nested list; "node" opens an item that "end" closes;
    # "choice" opens an answer item that "end" closes; "ref" is a whole item
    # pointing at a node drawn elsewhere; "dead" is an answer leading nowhere.
    type: str
    node: Node | None = None
    choice: Choice | None = None
    # For references: "back" (a loop to a node on the current path) or "see".
    relation: str = ""


@dataclass
class Outline:
    entries: list[Entry] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    start: Node | None = None
    # Nodes that cannot be reached from the start (only in drafts).
    unreachable: list[Node] = field(default_factory=list)

    @property
    def node_count(self) -> int:
        return len(self.nodes)

    def graph(self) -> list[GraphNode]:
        """The nodes as the diagram draws them, from what the outline has read (no query)."""
        return [
            GraphNode(
                key=node.key,
                kind=node.kind,
                title=node.title,
                is_start=node.is_start,
                next=node.next_node.key if node.next_node is not None else None,
                choices=tuple(
                    GraphChoice(
                        label=choice.label,
                        target=choice.target_node.key if choice.target_node is not None else None,
                    )
                    for choice in node.outline_choices
                ),
            )
            for node in self.nodes
        ]


def build_outline(version: TreeVersion) -> Outline:
    """The outline of `version`, read in two queries."""
    nodes = list(version.nodes.all())
    by_id = {node.pk: node for node in nodes}
    choices: dict[int, list[Choice]] = {node.pk: [] for node in nodes}
    for choice in Choice.objects.filter(node__version=version).order_by("position", "id"):
        choice.target_node = by_id.get(choice.target_id)
        choices[choice.node_id].append(choice)
    for node in nodes:
        node.outline_choices = choices[node.pk]
        node.next_node = by_id.get(node.next_id)

    outline = Outline(nodes=nodes)
    outline.start = next((node for node in nodes if node.is_start), None)
    if outline.start is None:
        outline.unreachable = nodes
        return outline

    shown: set[int] = set()
    entries = outline.entries
    # A stack of work, pushed in reverse so it pops in reading order:
    # ("seq", node, path) draws `node` and what follows it in the current list;
    # ("choice", choice, path) draws an answer and its branch; ("emit", entry)
    # appends a ready entry. Whether a target is already drawn is decided when
    # the work pops, since earlier branches may draw it first.
    entries.append(Entry("open"))
    stack: list[tuple] = [("emit", Entry("close")), ("seq", outline.start, frozenset())]
    while stack:
        item = stack.pop()
        if item[0] == "emit":
            entries.append(item[1])
        elif item[0] == "choice":
            _, choice, path = item
            target = choice.target_node
            if target is None:
                entries.append(Entry("dead", choice=choice))
            elif target.pk in shown:
                relation = "back" if target.pk in path else "see"
                entries.append(Entry("choice", choice=choice, node=target, relation=relation))
                entries.append(Entry("end"))
            else:
                entries.extend([Entry("choice", choice=choice), Entry("open")])
                stack.extend(
                    [("emit", Entry("end")), ("emit", Entry("close")), ("seq", target, path)]
                )
        else:
            _, node, path = item
            if node.pk in shown:
                relation = "back" if node.pk in path else "see"
                entries.append(Entry("ref", node=node, relation=relation))
                continue
            shown.add(node.pk)
            entries.append(Entry("node", node=node))
            path = path | {node.pk}
            work: list[tuple] = []
            if node.outline_choices:
                work.append(("emit", Entry("open")))
                work.extend(("choice", choice, path) for choice in node.outline_choices)
                work.append(("emit", Entry("close")))
            work.append(("emit", Entry("end")))
            if node.next_node is not None:
                work.append(("seq", node.next_node, path))
            stack.extend(reversed(work))

    outline.unreachable = [node for node in nodes if node.pk not in shown]
    return outline
