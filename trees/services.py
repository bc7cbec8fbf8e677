"""Writes to trees and their versions: create, draft, validate, publish, import, export.

Every function is keyword-only and runs in one transaction: a failure leaves
the database as it was. Publishing never touches sessions: each session stays
pinned to the version it ran on.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.text import slugify

from resolutionflow import clock
from trees import signals
from trees.interchange import TreeDocument, dump_document, parse_document
from trees.models import Choice, Node, Tag, Tree, TreeVersion
from trees.validation import GraphChoice, GraphNode, Problem, graph_problems

logger = logging.getLogger(__name__)

User = AbstractBaseUser


class TreeProblems(ValidationError):
    """A ValidationError that keeps the `Problem`s behind its messages."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__([str(problem) for problem in self.problems])


class PublishError(TreeProblems):
    """The version cannot be published; nothing was changed."""


class ImportProblems(TreeProblems):
    """The file cannot be imported; nothing was written."""

    def __init__(self, problems: Sequence[Problem], *, filename: str) -> None:
        self.filename = filename
        super().__init__(problems)

    def lines(self) -> list[str]:
        """One line per problem: `file: node-key: message` (no key for tree-wide ones)."""
        return [f"{self.filename}: {problem}" for problem in self.problems]


# --- trees and versions --------------------------------------------------------


@transaction.atomic
def tree_create(
    *,
    slug: str,
    name: str,
    description: str = "",
    category: str = "",
    tags: Iterable[str] = (),
    baseline_minutes: int | None = None,
    by: User | None = None,
) -> Tree:
    """Create a tree (without versions); raise ValidationError on bad fields."""
    tree = Tree(
        slug=slug,
        name=name,
        description=description,
        category=category,
        baseline_minutes=baseline_minutes,
    )
    tree.full_clean()
    tree.save()
    _set_tags(tree, tags)
    logger.debug("tree %s created by %s", tree.slug, by)
    return tree


def _set_tags(tree: Tree, names: Iterable[str]) -> None:
    names = sorted(set(names))
    for name in names:
        Tag(name=name).clean_fields()
    existing = {tag.name for tag in Tag.objects.filter(name__in=names)}
    Tag.objects.bulk_create(
        [Tag(name=name) for name in names if name not in existing], ignore_conflicts=True
    )
    tree.tags.set(Tag.objects.filter(name__in=names))


def _next_number(tree: Tree) -> int:
    return (tree.versions.aggregate(n=Max("number"))["n"] or 0) + 1


@transaction.atomic
def version_create_draft(*, tree: Tree, by: User | None = None) -> TreeVersion:
    """A new draft: a full copy of the published version (else of the latest; else empty).

    Refuses (ValidationError) when the tree already has a draft: there is at
    most one, and it is where editing happens.
    """
    tree = Tree.objects.select_for_update().get(pk=tree.pk)
    draft = tree.versions.filter(status=TreeVersion.Status.DRAFT).first()
    if draft is not None:
        raise ValidationError(
            f"“{tree.name}” already has a draft (version {draft.number}): edit that one, "
            "or delete it to start again.",
            code="draft_exists",
        )
    source = tree.published_version or tree.versions.order_by("-number").first()
    version = TreeVersion.objects.create(tree=tree, number=_next_number(tree), created_by=by)
    if source is not None:
        _copy_nodes(source, version)
    logger.info("tree %s: draft v%s created by %s", tree.slug, version.number, by)
    return version


def _copy_nodes(source: TreeVersion, target: TreeVersion) -> None:
    """Copy every node and choice, remapping `next` and choice targets to the copies."""
    originals = list(source.nodes.all())
    copies = Node.objects.bulk_create(
        [
            Node(
                version=target,
                key=node.key,
                kind=node.kind,
                title=node.title,
                body=node.body,
                command=node.command,
                is_start=node.is_start,
                position=node.position,
            )
            for node in originals
        ]
    )
    new_id = {old.pk: new for old, new in zip(originals, copies, strict=True)}
    with_next = []
    for old, new in zip(originals, copies, strict=True):
        if old.next_id in new_id:
            new.next = new_id[old.next_id]
            with_next.append(new)
    Node.objects.bulk_update(with_next, ["next"])
    Choice.objects.bulk_create(
        [
            Choice(
                node=new_id[choice.node_id],
                label=choice.label,
                target=new_id.get(choice.target_id),
                position=choice.position,
            )
            for choice in Choice.objects.filter(node__version=source)
        ]
    )


# --- validation and publishing -------------------------------------------------


def version_graph(version: TreeVersion) -> list[GraphNode]:
    """The version's nodes as an in-memory graph, read in two queries."""
    nodes = list(
        version.nodes.values("id", "key", "kind", "title", "body", "command", "is_start", "next_id")
    )
    key_of = {node["id"]: node["key"] for node in nodes}
    choices: dict[int, list[dict]] = {}
    for choice in Choice.objects.filter(node__version=version).values(
        "node_id", "label", "target_id"
    ):
        choices.setdefault(choice["node_id"], []).append(choice)

    # Links to a node of another version cannot be made in the admin, but a
    # bug or a hand-made row could: name them so the problem is readable (the
    # name is not slug-shaped, so it can never match a key of this version).
    foreign = {node["next_id"] for node in nodes} | {
        choice["target_id"] for group in choices.values() for choice in group
    }
    foreign -= set(key_of) | {None}
    if foreign:
        for node in Node.objects.filter(pk__in=foreign).select_related("version"):
            key_of[node.pk] = f"{node.key} (version {node.version.number})"

    return [
        GraphNode(
            key=node["key"],
            kind=node["kind"],
            title=node["title"],
            body=node["body"],
            command=node["command"],
            is_start=node["is_start"],
            next=key_of.get(node["next_id"]),
            choices=tuple(
                GraphChoice(label=choice["label"], target=key_of.get(choice["target_id"]))
                for choice in choices.get(node["id"], ())
            ),
        )
        for node in nodes
    ]


def version_validate(*, version: TreeVersion) -> list[Problem]:
    """Every problem that stops `version` from being published (SPEC §2); [] if none."""
    return graph_problems(version_graph(version))


@transaction.atomic
def tree_publish(*, version: TreeVersion, by: User | None = None) -> TreeVersion:
    """Publish a draft: validate it, retire the published version, stamp who and when.

    Raises PublishError with every problem (and changes nothing) when the
    version is not a valid draft. The tree row is locked so two publishes of
    the same tree serialise. Sessions are left alone: they are pinned to the
    version they ran on.
    """
    tree = Tree.objects.select_for_update().get(pk=version.tree_id)
    version = TreeVersion.objects.get(pk=version.pk)
    if version.status != TreeVersion.Status.DRAFT:
        raise PublishError(
            [
                Problem(
                    None,
                    f"Version {version.number} is {version.get_status_display().lower()}: "
                    "only a draft can be published.",
                )
            ]
        )
    problems = version_validate(version=version)
    if problems:
        raise PublishError(problems)
    tree.versions.filter(status=TreeVersion.Status.PUBLISHED).update(
        status=TreeVersion.Status.RETIRED
    )
    version.status = TreeVersion.Status.PUBLISHED
    version.published_at = clock.now()
    version.published_by = by
    version.save(update_fields=["status", "published_at", "published_by"])
    logger.info("tree %s: v%s published by %s", tree.slug, version.number, by)
    signals.tree_published.send(sender=TreeVersion, version=version, by=by)
    return version


# --- interchange ----------------------------------------------------------------


def version_document(version: TreeVersion) -> TreeDocument:
    """The interchange document of `version` (with its tree's current details)."""
    tree = version.tree
    nodes = version_graph(version)
    start = next((node.key for node in nodes if node.is_start), None)
    return TreeDocument(
        slug=tree.slug,
        name=tree.name,
        description=tree.description,
        category=tree.category,
        tags=tuple(tree.tags.values_list("name", flat=True)),
        baseline_minutes=tree.baseline_minutes,
        start=start,
        nodes=tuple(nodes),
    )


def tree_export(*, version: TreeVersion) -> str:
    """The version as canonical `resolutionflow/tree@1` JSON text (SPEC §2.1)."""
    return dump_document(version_document(version))


@transaction.atomic
def tree_import(
    *,
    data: bytes | str | dict,
    filename: str,
    publish: bool = False,
    by: User | None = None,
) -> TreeVersion:
    """Import a `resolutionflow/tree@1` file as a new version of its tree.

    Creates the tree when its slug is new, otherwise updates the tree's name,
    description, category, tags and baseline from the file and adds a new
    draft. With `publish`, the new version is published (and the previous one
    retired) when it passes every rule.

    A tree that already has a draft is refused rather than overwritten: the
    draft may hold an author's unpublished work, and an import must never
    lose it. Publish or delete the draft first.

    Raises ImportProblems listing every problem (file, node key, message);
    nothing is written then.
    """
    document, problems = parse_document(data, check_structure=publish)
    if document is None:
        raise ImportProblems(problems, filename=filename)

    tree = Tree.objects.select_for_update().filter(slug=document.slug).first()
    if tree is not None:
        draft = tree.versions.filter(status=TreeVersion.Status.DRAFT).first()
        if draft is not None:
            raise ImportProblems(
                [
                    Problem(
                        None,
                        f"The tree “{tree.slug}” already has a draft (version {draft.number}); "
                        "an import would overwrite it. Publish or delete that draft first.",
                    )
                ],
                filename=filename,
            )
        tree.name = document.name
        tree.description = document.description
        tree.category = document.category
        tree.baseline_minutes = document.baseline_minutes
        tree.save()
        _set_tags(tree, document.tags)
    else:
        tree = tree_create(
            slug=document.slug,
            name=document.name,
            description=document.description,
            category=document.category,
            tags=document.tags,
            baseline_minutes=document.baseline_minutes,
            by=by,
        )

    version = TreeVersion.objects.create(tree=tree, number=_next_number(tree), created_by=by)
    _write_nodes(version, document.nodes)
    logger.debug("tree %s: v%s imported from %s by %s", tree.slug, version.number, filename, by)
    if publish:
        try:
            version = tree_publish(version=version, by=by)
        except PublishError as error:
            # parse_document checked the same rules; this only guards a race.
            raise ImportProblems(error.problems, filename=filename) from error
    return version


def _write_nodes(version: TreeVersion, nodes: Sequence[GraphNode]) -> None:
    created = Node.objects.bulk_create(
        [
            Node(
                version=version,
                key=node.key,
                kind=node.kind,
                title=node.title,
                body=node.body,
                command=node.command,
                is_start=node.is_start,
                position=position,
            )
            for position, node in enumerate(nodes, start=1)
        ]
    )
    by_key = {node.key: node for node in created}
    with_next = []
    for spec, node in zip(nodes, created, strict=True):
        if spec.next is not None:
            node.next = by_key[spec.next]
            with_next.append(node)
    Node.objects.bulk_update(with_next, ["next"])
    Choice.objects.bulk_create(
        [
            Choice(
                node=node,
                label=choice.label,
                target=by_key[choice.target] if choice.target is not None else None,
                position=position,
            )
            for spec, node in zip(nodes, created, strict=True)
            for position, choice in enumerate(spec.choices, start=1)
        ]
    )


# --- the designer: one node at a time (SPEC §8) ---------------------------------------


class DesignerError(ValidationError):
    """An edit the designer refuses; nothing was changed."""


class StaleNode(DesignerError):
    """The node changed since the form was opened; `current` is its digest now."""

    def __init__(self, message: str, *, current: str) -> None:
        self.current = current
        super().__init__(message, code="stale")


class NodeInUse(DesignerError):
    """A node others point at cannot be deleted without somewhere else to point."""

    def __init__(self, message: str, *, sources: Sequence[str]) -> None:
        self.sources = list(sources)
        super().__init__(message, code="in_use")


@dataclass(frozen=True)
class NewNode:
    """A node created in the same step as the arrow that leads to it."""

    kind: str
    title: str


@dataclass(frozen=True)
class NodeEdit:
    key: str
    kind: str
    title: str
    body: str = ""
    command: str = ""
    is_start: bool = False
    # The next node's id, or a node to create; `keep_next` leaves it as stored.
    next_id: int | None = None
    new_next: NewNode | None = None
    keep_next: bool = False


@dataclass(frozen=True)
class AnswerEdit:
    """An answer of the node: an existing one (`choice_id`) or a new one (None)."""

    choice_id: int | None
    label: str
    target_id: int | None = None
    new_target: NewNode | None = None
    position: int = 0
    delete: bool = False


def node_digest(node: Node, choices: Sequence[Choice] | None = None) -> str:
    """A fingerprint of what the node's form shows: a form carries it, a save compares it.

    `choices`: the node's answers when the caller has read them already (any order).
    """
    if choices is None:
        choices = list(
            Choice.objects.filter(node=node)
            .order_by("position", "id")
            .values_list("id", "label", "target_id", "position")
        )
    else:
        ordered = sorted(choices, key=lambda c: (c.position, c.pk))
        choices = [(c.pk, c.label, c.target_id, c.position) for c in ordered]
    state = [
        node.key,
        node.kind,
        node.title,
        node.body,
        node.command,
        node.is_start,
        node.next_id,
        [list(choice) for choice in choices],
    ]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:40]


def _editable_version(version_id: int) -> TreeVersion:
    version = TreeVersion.objects.select_related("tree").get(pk=version_id)
    if not version.is_editable:
        raise DesignerError(
            f"Version {version.number} is {version.get_status_display().lower()}: it is "
            "read-only. Create a new draft to change the tree.",
            code="read_only",
        )
    return version


def unique_key(version: TreeVersion, text: str, *, taken: set[str] | None = None) -> str:
    """A slug from `text`, unique in the version (`-2`, `-3`… when it is taken)."""
    base = slugify(text)[:90].strip("-") or "step"
    taken = taken if taken is not None else set(version.nodes.values_list("key", flat=True))
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    taken.add(key)
    return key


def _next_position(version: TreeVersion) -> int:
    return (version.nodes.aggregate(n=Max("position"))["n"] or 0) + 1


def _create_node(
    version: TreeVersion, spec: NewNode, taken: set[str], *, position: int | None = None
) -> Node:
    return Node.objects.create(
        version=version,
        key=unique_key(version, spec.title, taken=taken),
        kind=spec.kind,
        title=spec.title,
        position=position if position is not None else _next_position(version),
    )


@transaction.atomic
def node_create(*, version: TreeVersion, kind: str, title: str, by: User | None = None) -> Node:
    """Add a node to a draft; it is the start when the draft has none."""
    version = _editable_version(version.pk)
    TreeVersion.objects.select_for_update().filter(pk=version.pk).first()
    taken = set(version.nodes.values_list("key", flat=True))
    node = _create_node(version, NewNode(kind=kind, title=title), taken)
    if not version.nodes.filter(is_start=True).exists():
        node.is_start = True
        node.save(update_fields=["is_start"])
    logger.debug("tree %s v%s: node %s added by %s", version.tree.slug, version.number, node, by)
    return node


@transaction.atomic
def node_update(
    *,
    node_id: int,
    seen: str,
    edit: NodeEdit,
    answers: Sequence[AnswerEdit] = (),
    by: User | None = None,
) -> Node:
    """Save one node and its answers, and create the nodes its new arrows lead to.

    Refuses (StaleNode, nothing saved) when the node is no longer what the
    form showed (`seen`, from `node_digest`): two authors editing one draft
    never overwrite each other silently. Targets must be nodes of the same
    version; labels must be distinct. The caller's form has checked each
    field; this checks what needs the database, under a lock on the node.
    """
    node = Node.objects.select_for_update().get(pk=node_id)
    version = _editable_version(node.version_id)
    existing = {c.pk: c for c in node.choices.all()}
    current = node_digest(node, list(existing.values()))
    if seen != current:
        raise StaleNode(
            "Someone else saved this node after you opened it, so your changes were not "
            "saved. Check what they changed (shown in the diagram), then save again to "
            "keep yours.",
            current=current,
        )
    rows = list(version.nodes.values_list("pk", "key", "position"))
    taken = {key for _, key, _ in rows}
    ids = {pk for pk, _, _ in rows}
    positions = itertools.count(max((p for _, _, p in rows), default=0) + 1)
    if edit.key != node.key and edit.key in taken:
        raise DesignerError(
            {"key": "Another node of this version already has this key."}, code="key"
        )
    targets = [edit.next_id] + [a.target_id for a in answers if not a.delete]
    if any(t is not None and t not in ids for t in targets):
        raise DesignerError("An arrow points at a node that is not in this version.")
    labels = [a.label.strip().casefold() for a in answers if not a.delete]
    if len(labels) != len(set(labels)):
        raise DesignerError(
            {"answers": "Two answers have the same label: each answer needs its own."}
        )
    if any(a.choice_id is not None and a.choice_id not in existing for a in answers):
        raise StaleNode(
            "An answer you edited was removed by someone else; nothing was saved.",
            current=current,
        )

    taken.discard(node.key)
    taken.add(edit.key)
    node.key, node.kind, node.title = edit.key, edit.kind, edit.title
    node.body, node.command = edit.body, edit.command
    if edit.new_next is not None:
        node.next = _create_node(version, edit.new_next, taken, position=next(positions))
    elif not edit.keep_next:
        node.next_id = edit.next_id
    if edit.is_start and not node.is_start:
        Node.objects.filter(version=version, is_start=True).update(is_start=False)
    node.is_start = edit.is_start
    node.full_clean(exclude=["version", "next", "key"], validate_unique=False)
    node.save()

    # Labels are unique per node in the database: move the kept ones out of the
    # way first, so two answers can swap labels in one save.
    kept = [a for a in answers if a.choice_id is not None and not a.delete]
    removed = [a.choice_id for a in answers if a.choice_id is not None and a.delete]
    Choice.objects.filter(pk__in=removed).delete()
    # Only the labels that change move (most saves change none).
    for a in kept:
        if existing[a.choice_id].label != a.label.strip():
            Choice.objects.filter(pk=a.choice_id).update(label=f"\u2060{a.choice_id}\u2060")
    for a in answers:
        if a.delete:
            continue
        target_id = a.target_id
        if a.new_target is not None:
            target_id = _create_node(version, a.new_target, taken, position=next(positions)).pk
        choice = existing.get(a.choice_id) if a.choice_id is not None else Choice(node=node)
        if choice.pk is not None and (choice.label, choice.target_id, choice.position) == (
            a.label.strip(),
            target_id,
            a.position,
        ):
            continue  # unchanged: no UPDATE
        choice.label = a.label.strip()
        choice.target_id = target_id
        choice.position = a.position
        choice.full_clean(exclude=["node", "target"], validate_unique=False)
        choice.save()
    logger.debug("tree %s v%s: node %s saved by %s", version.tree.slug, version.number, node, by)
    return node


def node_sources(node: Node) -> list[str]:
    """The keys of the other nodes whose arrows lead to `node`, in order."""
    keys = set(
        Choice.objects.filter(target=node).exclude(node=node).values_list("node__key", flat=True)
    ) | set(Node.objects.filter(next=node).exclude(pk=node.pk).values_list("key", flat=True))
    return sorted(keys)


@transaction.atomic
def node_delete(*, node: Node, retarget_to: Node | None = None, by: User | None = None) -> None:
    """Delete a node of a draft; arrows that led to it lead to `retarget_to` instead.

    Refused (NodeInUse, listing the nodes) when others point at it and no
    other node of the same version is given.
    """
    node = Node.objects.select_for_update().get(pk=node.pk)
    version = _editable_version(node.version_id)
    sources = node_sources(node)
    if retarget_to is not None and (
        retarget_to.version_id != version.pk or retarget_to.pk == node.pk
    ):
        raise DesignerError("Choose another node of this version for the arrows.")
    if sources and retarget_to is None:
        raise NodeInUse(
            f"“{node.key}” cannot be deleted yet: {', '.join(sources)} "
            f"point{'s' if len(sources) == 1 else ''} at it. Choose where their arrows "
            "should point instead.",
            sources=sources,
        )
    if retarget_to is not None:
        Choice.objects.filter(target=node).exclude(node=node).update(target=retarget_to)
        Node.objects.filter(next=node).exclude(pk=node.pk).update(next=retarget_to)
        if node.is_start:
            node.is_start = False
            node.save(update_fields=["is_start"])
            retarget_to.is_start = True
            retarget_to.save(update_fields=["is_start"])
    node.delete()
    logger.debug("tree %s v%s: node %s deleted by %s", version.tree.slug, version.number, node, by)


# --- versions: restore and duplicate -------------------------------------------------


@transaction.atomic
def version_restore(*, version: TreeVersion, by: User | None = None) -> TreeVersion:
    """A new draft that is a copy of `version` (a rollback to it).

    Refused when the tree already has a draft: restoring must never overwrite
    someone's unpublished work.
    """
    tree = Tree.objects.select_for_update().get(pk=version.tree_id)
    draft = tree.versions.filter(status=TreeVersion.Status.DRAFT).first()
    if draft is not None:
        raise ValidationError(
            f"“{tree.name}” already has a draft (version {draft.number}): publish or delete it "
            f"before restoring version {version.number}.",
            code="draft_exists",
        )
    restored = TreeVersion.objects.create(tree=tree, number=_next_number(tree), created_by=by)
    _copy_nodes(version, restored)
    logger.info(
        "tree %s: v%s restored as draft v%s by %s", tree.slug, version.number, restored.number, by
    )
    return restored


@transaction.atomic
def tree_duplicate(*, tree: Tree, slug: str, name: str, by: User | None = None) -> Tree:
    """A new tree with `tree`'s details and tags, and a draft copied from its
    published version (else its latest)."""
    copy = tree_create(
        slug=slug,
        name=name,
        description=tree.description,
        category=tree.category,
        tags=tree.tags.values_list("name", flat=True),
        baseline_minutes=tree.baseline_minutes,
        by=by,
    )
    source = tree.published_version or tree.versions.order_by("-number").first()
    draft = TreeVersion.objects.create(tree=copy, number=1, created_by=by)
    if source is not None:
        _copy_nodes(source, draft)
    logger.info("tree %s duplicated as %s by %s", tree.slug, copy.slug, by)
    return copy
