"""The demo trees: every trees/demo/*.json file, imported and published by `seed_demo`."""

from __future__ import annotations

import logging
from pathlib import Path

from trees.interchange import dump_document, parse_document
from trees.models import Tree, TreeVersion
from trees.services import ImportProblems, tree_export, tree_import

logger = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parent / "demo"


def demo_files(directory: Path = DEMO_DIR) -> list[Path]:
    return sorted(directory.glob("*.json"))


def seed_trees(directory: Path = DEMO_DIR) -> list[Tree]:
    """Import and publish each demo tree; return the demo trees. Safe to run again.

    A tree whose published version already matches its file is left alone; a
    changed file becomes a new published version (the old one is retired, its
    sessions keep it). A tree with a draft in progress is skipped with a
    warning rather than touched: that draft is someone's unpublished work.
    Raises ImportProblems if a demo file is broken.
    """
    trees = []
    for path in demo_files(directory):
        data = path.read_bytes()
        document, problems = parse_document(data, check_structure=True)
        if document is None:
            raise ImportProblems(problems, filename=path.name)
        tree = Tree.objects.filter(slug=document.slug).first()
        if tree is not None:
            published = tree.published_version
            if published is not None and tree_export(version=published) == dump_document(document):
                trees.append(tree)
                continue
            if tree.versions.filter(status=TreeVersion.Status.DRAFT).exists():
                logger.warning(
                    "seed: %s has a draft in progress; left as it is (%s not imported)",
                    tree.slug,
                    path.name,
                )
                if published is not None:
                    trees.append(tree)
                continue
        version = tree_import(data=data, filename=path.name, publish=True)
        trees.append(version.tree)
    return trees
