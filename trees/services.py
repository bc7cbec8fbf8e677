"""Writes to trees and their versions: create, draft, validate, publish, import, export.

Every function is keyword-only and runs in one transaction: a failure leaves
the database as it was. Publishing never touches sessions: each session stays
pinned to the version it ran on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

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
