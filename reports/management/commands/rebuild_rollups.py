"""`manage.py rebuild_rollups [--from YYYY-MM-DD] [--to YYYY-MM-DD]`: recompute the report rollups.

Whole months are rebuilt (a month row needs its whole month): the months holding
`--from`..`--to`, or every month with sessions. Run it after writing sessions
without the services (a bulk import, the benchmark's COPY) or after changing
TIME_ZONE (the rollups count days in it). One transaction: reports read the old
rows until it commits.
"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from reports.rollups import rebuild


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value!r}") from error


class Command(BaseCommand):
    help = "Recompute the report rollups from the sessions (all, or the months of a range)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="date_from", type=str, help="First day (YYYY-MM-DD).")
        parser.add_argument("--to", dest="date_to", type=str, help="Last day (YYYY-MM-DD).")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, date_from=None, date_to=None, database=DEFAULT_DB_ALIAS, **options):
        start = _day(date_from) if date_from else None
        end = _day(date_to) if date_to else None
        if (start is None) != (end is None):
            raise CommandError("Give both --from and --to, or neither (everything).")
        if start and end and start > end:
            raise CommandError("--from is after --to.")
        done = rebuild(start, end, using=database)
        if done is None:
            self.stdout.write("No sessions: the rollups are empty.")
        else:
            self.stdout.write(f"Rebuilt the rollups of {done[0]} to {done[1]}.")
