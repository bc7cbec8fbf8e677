"""`manage.py export_tree SLUG [--version N] [-o FILE]`: a tree version as JSON (SPEC §2.1)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from trees.models import Tree, TreeVersion
from trees.services import tree_export


class Command(BaseCommand):
    help = (
        "Write a tree version in the resolutionflow/tree@1 JSON format: the published "
        "version by default (else the latest), or --version N."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # The spec's `--version N` takes over Django's own --version (which
        # prints the Django version) for this command.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("slug", metavar="SLUG")
        parser.add_argument("--version", type=int, dest="number", metavar="N")
        parser.add_argument(
            "-o", "--output", metavar="FILE", help="Write to FILE instead of standard output."
        )

    def handle(self, *args, slug: str, number: int | None, output: str | None, **options):
        tree = Tree.objects.filter(slug=slug).first()
        if tree is None:
            raise CommandError(f"No tree with the slug “{slug}”.")
        if number is not None:
            version = tree.versions.filter(number=number).first()
            if version is None:
                raise CommandError(f"“{slug}” has no version {number}.")
        else:
            version = (
                tree.versions.filter(status=TreeVersion.Status.PUBLISHED).first()
                or tree.versions.order_by("-number").first()
            )
            if version is None:
                raise CommandError(f"“{slug}” has no versions.")
        text = tree_export(version=version)
        if output:
            Path(output).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote {slug} version {version.number} to {output}")
        else:
            self.stdout.write(text, ending="")
