"""`manage.py import_tree FILE… [--publish]`: import trees from JSON files (SPEC §2.1)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from trees.services import ImportProblems, tree_import, version_validate


class Command(BaseCommand):
    help = (
        "Import trees in the resolutionflow/tree@1 JSON format. Each file creates its tree "
        "or adds a new draft version of it; with --publish, publishes it when valid. A file "
        "with any problem changes nothing; every problem is printed as 'file: node-key: "
        "message'."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE", help="Tree files (.json).")
        parser.add_argument(
            "--publish",
            action="store_true",
            help="Publish each imported version (it must pass every validation rule).",
        )

    def handle(self, *args, files: list[str], publish: bool, **options) -> None:
        failed = 0
        for name in files:
            path = Path(name)
            try:
                data = path.read_bytes()
            except OSError as error:
                self.stderr.write(f"{name}: cannot be read: {error.strerror or error}")
                failed += 1
                continue
            try:
                version = tree_import(data=data, filename=name, publish=publish)
            except ImportProblems as error:
                for line in error.lines():
                    self.stderr.write(line)
                failed += 1
                continue
            state = "published" if publish else "draft"
            self.stdout.write(
                f"{name}: imported {version.tree.slug} as version {version.number} ({state})"
            )
            if not publish:
                for problem in version_validate(version=version):
                    self.stdout.write(f"{name}: {problem} (warning: fix before publishing)")
        if failed:
            raise CommandError(
                f"{failed} of {len(files)} file{'s' if len(files) != 1 else ''} not imported; "
                "nothing was written for " + ("it." if failed == 1 else "them.")
            )
