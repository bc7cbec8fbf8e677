"""The tree interchange format, `resolutionflow/tree@1` (SPEC §2.1).

`parse_document` turns a file into a `TreeDocument` and reports every problem
it finds (shape, types, sizes, and the integrity rules of
`trees.validation`) without touching the database. `dump_document` writes the
canonical text: fixed key order, sorted tags, empty optional fields left out,
two-space indent, a trailing newline. Importing that text and exporting it
again gives the same bytes, which keeps exports diffable and lets `seed_demo`
tell whether a file changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from trees.validation import (
    MAX_KEY,
    GraphChoice,
    GraphNode,
    Problem,
    integrity_problems,
    is_slug,
    structure_problems,
)

FORMAT = "resolutionflow/tree@1"
MAX_NAME = 200
MAX_DESCRIPTION = 2_000
MAX_CATEGORY = 100
MAX_TAG = 50
MAX_BASELINE_MINUTES = 10_080  # a week: anything longer is a typo

TREE_FIELDS = (
    "format",
    "slug",
    "name",
    "description",
    "category",
    "tags",
    "baseline_minutes",
    "start",
    "nodes",
)
REQUIRED_TREE_FIELDS = ("format", "slug", "name", "start", "nodes")
NODE_FIELDS = ("key", "kind", "title", "body", "command", "choices", "next")
REQUIRED_NODE_FIELDS = ("key", "kind", "title")
CHOICE_FIELDS = ("label", "next")


@dataclass(frozen=True)
class TreeDocument:
    """A tree and one version of its nodes, as the interchange format holds them."""

    slug: str
    name: str
    description: str
    category: str
    tags: tuple[str, ...]
    baseline_minutes: int | None
    start: str | None
    nodes: tuple[GraphNode, ...]


def dump_document(document: TreeDocument) -> str:
    """The canonical JSON text of `document`."""
    data: dict[str, Any] = {"format": FORMAT, "slug": document.slug, "name": document.name}
    if document.description:
        data["description"] = document.description
    if document.category:
        data["category"] = document.category
    if document.tags:
        data["tags"] = sorted(document.tags)
    if document.baseline_minutes is not None:
        data["baseline_minutes"] = document.baseline_minutes
    data["start"] = document.start
    data["nodes"] = [_dump_node(node) for node in document.nodes]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _dump_node(node: GraphNode) -> dict[str, Any]:
    data: dict[str, Any] = {"key": node.key, "kind": node.kind, "title": node.title}
    if node.body:
        data["body"] = node.body
    if node.command:
        data["command"] = node.command
    if node.kind == "question" or node.choices:
        data["choices"] = [
            {"label": choice.label, "next": choice.target} for choice in node.choices
        ]
    if node.next is not None:
        data["next"] = node.next
    return data


class _Reader:
    """Collects problems while checking the types and sizes of a decoded file."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, where: str | None, message: str) -> None:
        self.problems.append(Problem(where, message))

    def fields(
        self,
        obj: dict[str, Any],
        *,
        allowed: tuple[str, ...],
        required: tuple[str, ...],
        where: str | None,
        what: str,
    ) -> None:
        for name in required:
            if name not in obj:
                self.problem(where, f"{what} has no “{name}”.")
        for name in obj:
            if name not in allowed:
                self.problem(
                    where,
                    f"{what} has an unknown field “{name}” (allowed: {', '.join(allowed)}).",
                )

    def text(
        self,
        obj: dict[str, Any],
        name: str,
        *,
        where: str | None,
        what: str,
        max_length: int | None = None,
        default: str = "",
        nullable: bool = False,
    ) -> str | None:
        """The string at `obj[name]`, or `default` (after recording a problem) if unusable."""
        if name not in obj or (nullable and obj[name] is None):
            return None if nullable else default
        value = obj[name]
        if not isinstance(value, str):
            self.problem(where, f"{what} must be text, not {_json_type(value)}.")
            return default
        if "\x00" in value:
            self.problem(where, f"{what} contains a NUL character.")
            return default
        if max_length is not None and len(value) > max_length:
            self.problem(
                where, f"{what} is {len(value):,} characters long; the limit is {max_length:,}."
            )
            return default
        return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _decode(data: bytes | str | dict) -> tuple[Any, list[Problem]]:
    if isinstance(data, dict):
        return data, []
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            return None, [Problem(None, f"The file is not UTF-8 text ({error.reason}).")]
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in items:
            if key in obj:
                repeated.append(key)
            obj[key] = value
        return obj

    try:
        decoded = json.loads(data, object_pairs_hook=pairs)
    except json.JSONDecodeError as error:
        return None, [
            Problem(
                None,
                f"The file is not valid JSON: {error.msg} "
                f"(line {error.lineno}, column {error.colno}).",
            )
        ]
    except RecursionError:
        return None, [Problem(None, "The file is nested too deeply to be a tree.")]
    problems = [
        Problem(None, f"The field “{key}” appears more than once in the same object.")
        for key in dict.fromkeys(repeated)
    ]
    return decoded, problems


def parse_document(
    data: bytes | str | dict, *, check_structure: bool = False
) -> tuple[TreeDocument | None, list[Problem]]:
    """Read a file in the interchange format; return the document and every problem.

    The document is None when the file cannot be read as a tree at all. With
    `check_structure`, the publishing rules (reachability, answers per
    question, no trap loops…) are reported too.
    """
    decoded, problems = _decode(data)
    if decoded is None:
        return None, problems
    if not isinstance(decoded, dict):
        return None, [
            *problems,
            Problem(None, f"The file must hold a JSON object, not {_json_type(decoded)}."),
        ]
    reader = _Reader()
    reader.problems.extend(problems)
    reader.fields(
        decoded, allowed=TREE_FIELDS, required=REQUIRED_TREE_FIELDS, where=None, what="The tree"
    )

    if "format" in decoded and decoded["format"] != FORMAT:
        reader.problem(None, f"The format is {json.dumps(decoded['format'])}; expected “{FORMAT}”.")
    slug = reader.text(decoded, "slug", where=None, what="The slug")
    if "slug" in decoded and isinstance(decoded["slug"], str) and not is_slug(slug or "x"):
        reader.problem(
            None,
            f"The slug “{decoded['slug']}” is not valid: use 1–{MAX_KEY} letters, digits, "
            "hyphens or underscores.",
        )
    name = reader.text(decoded, "name", where=None, what="The name", max_length=MAX_NAME)
    if isinstance(decoded.get("name"), str) and not decoded["name"].strip():
        reader.problem(None, "The name is empty.")
    description = reader.text(
        decoded, "description", where=None, what="The description", max_length=MAX_DESCRIPTION
    )
    category = reader.text(
        decoded, "category", where=None, what="The category", max_length=MAX_CATEGORY
    )
    tags = _read_tags(reader, decoded)
    baseline = _read_baseline(reader, decoded)
    start = reader.text(decoded, "start", where=None, what="The start")

    raw_nodes = decoded.get("nodes", [])
    if not isinstance(raw_nodes, list):
        reader.problem(None, f"“nodes” must be a list, not {_json_type(raw_nodes)}.")
        raw_nodes = []
    elif "nodes" in decoded and not raw_nodes:
        reader.problem(None, "The tree has no nodes.")

    nodes: list[GraphNode] = []
    # Nodes with a readable key but badly typed fields: their problems are
    # reported; they still exist for the other nodes (answers may lead to them,
    # keys must be unique) but their half-read fields are not checked further.
    broken_keys: list[str] = []
    for index, raw in enumerate(raw_nodes, start=1):
        before = len(reader.problems)
        node = _read_node(reader, raw, index)
        if node is None:
            continue
        if len(reader.problems) == before:
            nodes.append(node)
        else:
            broken_keys.append(node.key)
    typed_ok = not reader.problems

    if isinstance(decoded.get("start"), str) and start not in {node.key for node in nodes} | set(
        broken_keys
    ):
        reader.problem(None, f"The start “{start}” is not the key of a node in the file.")
    nodes = [replace(node, is_start=True) if node.key == start else node for node in nodes]
    reader.problems.extend(integrity_problems(nodes, other_keys=broken_keys, check_start=False))
    if check_structure and typed_ok:
        reader.problems.extend(structure_problems(nodes))

    problems = list(dict.fromkeys(reader.problems))
    if problems:
        return None, problems
    return (
        TreeDocument(
            slug=slug,
            name=name,
            description=description,
            category=category,
            tags=tags,
            baseline_minutes=baseline,
            start=start,
            nodes=tuple(nodes),
        ),
        [],
    )


def _read_tags(reader: _Reader, decoded: dict[str, Any]) -> tuple[str, ...]:
    raw = decoded.get("tags", [])
    if not isinstance(raw, list):
        reader.problem(None, f"“tags” must be a list of text, not {_json_type(raw)}.")
        return ()
    tags: list[str] = []
    for tag in raw:
        if not isinstance(tag, str):
            reader.problem(None, f"A tag must be text, not {_json_type(tag)}.")
        elif not is_slug(tag, max_length=MAX_TAG):
            reader.problem(
                None,
                f"The tag “{tag}” is not valid: use 1–{MAX_TAG} letters, digits, hyphens or "
                "underscores.",
            )
        else:
            tags.append(tag)
    return tuple(sorted(set(tags)))


def _read_baseline(reader: _Reader, decoded: dict[str, Any]) -> int | None:
    value = decoded.get("baseline_minutes")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            reader.problem(
                None, f"“baseline_minutes” must be a whole number, not {_json_type(value)}."
            )
            return None
    if not 1 <= value <= MAX_BASELINE_MINUTES:
        reader.problem(
            None,
            f"“baseline_minutes” is {value}; it must be between 1 and {MAX_BASELINE_MINUTES:,}.",
        )
        return None
    return value


def _read_node(reader: _Reader, raw: Any, index: int) -> GraphNode | None:
    """One node; None when it has no usable key (problems are recorded either way)."""
    if not isinstance(raw, dict):
        reader.problem(f"node #{index}", f"A node must be an object, not {_json_type(raw)}.")
        return None
    key = raw.get("key")
    where = key if isinstance(key, str) and key else f"node #{index}"
    reader.fields(
        raw, allowed=NODE_FIELDS, required=REQUIRED_NODE_FIELDS, where=where, what="The node"
    )
    reader.text(raw, "key", where=where, what="The key")
    # An unknown kind, an empty title, oversize text… are integrity rules,
    # checked with the rest of the graph; here only the JSON types.
    kind = reader.text(raw, "kind", where=where, what="The kind")
    title = reader.text(raw, "title", where=where, what="The title")
    body = reader.text(raw, "body", where=where, what="The body")
    command = reader.text(raw, "command", where=where, what="The command")
    next_key = reader.text(raw, "next", where=where, what="“next”", nullable=True)
    choices: list[GraphChoice] = []
    raw_choices = raw.get("choices", [])
    if not isinstance(raw_choices, list):
        reader.problem(where, f"“choices” must be a list, not {_json_type(raw_choices)}.")
        raw_choices = []
    for number, raw_choice in enumerate(raw_choices, start=1):
        what = f"Answer #{number}"
        if not isinstance(raw_choice, dict):
            reader.problem(where, f"{what} must be an object, not {_json_type(raw_choice)}.")
            continue
        reader.fields(
            raw_choice, allowed=CHOICE_FIELDS, required=CHOICE_FIELDS, where=where, what=what
        )
        label = reader.text(raw_choice, "label", where=where, what=f"The label of {what.lower()}")
        target = reader.text(
            raw_choice, "next", where=where, what=f"“next” of {what.lower()}", nullable=True
        )
        choices.append(GraphChoice(label=label or "", target=target))
    if not isinstance(raw.get("key"), str):
        return None
    return GraphNode(
        key=raw["key"],
        kind=kind or "",
        title=title or "",
        body=body or "",
        command=command or "",
        next=next_key,
        choices=tuple(choices),
    )
