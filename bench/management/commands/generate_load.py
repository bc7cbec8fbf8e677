"""`manage.py generate_load --sessions N`: a year of a large MSP's data, for the benchmark."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime

from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from bench.loadgen import LoadError, LoadSpec, generate_load
from resolutionflow import clock

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Generate a large, realistic, deterministic dataset: engineers, managers, the demo "
        "trees plus generated ones, and N sessions with their timed steps (see "
        "docs/PERFORMANCE.md). The same --seed and --until give the same rows."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sessions", type=int, required=True, help="Sessions to create.")
        parser.add_argument("--engineers", type=int, default=200, help="Engineers (default 200).")
        parser.add_argument(
            "--trees", type=int, default=30, help="Generated trees besides the demo ones (30)."
        )
        parser.add_argument(
            "--days", type=int, default=365, help="Days of history before --until (365)."
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed (1).")
        parser.add_argument(
            "--until",
            type=_parse_until,
            default=None,
            help="End of the period, YYYY-MM-DD or an ISO 8601 time (default: now). "
            "A date means the end of that day, UTC.",
        )

    def handle(self, *args, **options):
        until = options["until"] or clock.now().astimezone(UTC).replace(microsecond=0)
        try:
            spec = LoadSpec(
                sessions=options["sessions"],
                engineers=options["engineers"],
                trees=options["trees"],
                days=options["days"],
                seed=options["seed"],
                until=until,
            )
        except LoadError as error:
            raise CommandError(str(error)) from error
        bar = ProgressBar(self.stderr, enabled=options["verbosity"] > 0)
        try:
            result = generate_load(spec, progress=bar.update)
        except LoadError as error:
            raise CommandError(str(error)) from error
        finally:
            bar.close()
        if options["verbosity"] > 0:
            self.stdout.write(
                f"Generated {result.sessions:,} sessions ({result.completed:,} completed, "
                f"{result.active:,} active, {result.prepared:,} prepared), "
                f"{result.decisions:,} steps, {result.outcome_changes:,} audited changes, "
                f"{result.pauses:,} pauses, {result.handoffs:,} hand-offs; "
                f"{result.trees} trees, {result.engineers} engineers, {result.managers} "
                f"managers; period ending {until.isoformat()}; {result.seconds:.1f} s."
            )


def _parse_until(value: str) -> datetime:
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").date()
            return datetime.combine(day, dtime(23, 59, 59), tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"--until: “{value}” is not YYYY-MM-DD or ISO 8601.") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class ProgressBar:
    """One stderr line, redrawn in place at most twice a second."""

    def __init__(self, stream: OutputWrapper, *, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.began = time.monotonic()
        self.last = -1.0
        self.drawn = False

    def update(self, done: int, total: int, steps: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self.last < 0.5:
            return
        self.last = now
        share = done / total if total else 1.0
        filled = int(share * BAR_WIDTH)
        elapsed = timedelta(seconds=int(now - self.began))
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:6.1%} "
            f"{done:,}/{total:,} sessions, {steps:,} steps, {elapsed}",
            style_func=str,
            ending="",
        )
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("", style_func=str)
            self.stream.flush()
