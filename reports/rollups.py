"""Keeping and reading the rollups (`reports.models.SessionTally`, `StepTally`).

Rules (docs/PERFORMANCE.md, "Rollups"):
- A session counts on the local day (settings.TIME_ZONE) its clock started, in
  its tree, under its outcome (0 until completed); neither the day nor the tree
  ever changes once started, the outcome only by `session_change_outcome`.
- Every change is an upsert of the day row and the month row in one statement,
  sent from the sessions' signals inside the service's transaction: the rollup
  commits or rolls back with the write. `INSERT … ON CONFLICT … DO UPDATE` adds
  to the row atomically on both databases, so concurrent writers never lose
  a count (the row lock is held until the writer commits).
- `rebuild()` recomputes whole months from the rows (`manage.py rebuild_rollups`);
  rows bypassing the services (the benchmark's COPY) must be followed by one.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce, TruncDate, TruncMonth
from django.utils import timezone

from reports.models import ALL_TREES, AnswerTally, SessionTally, Span, StepTally
from sessions.models import Decision, Handoff, Node, Session

SESSION_CLOSED = Decision.Exit.SESSION_CLOSED.value
ANSWERED = Decision.Exit.ANSWERED.value
SOLUTION = Node.Kind.SOLUTION.value
QUESTION = Node.Kind.QUESTION.value
NOT_COMPLETED = 0  # SessionTally.outcome_key of sessions not completed


# --- reading ----------------------------------------------------------------------


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def period_q(date_from: date, date_to: date, prefix: str = "") -> Q:
    """The rollup rows that add up to the days `date_from`..`date_to` (inclusive): the
    month rows of the whole months inside, the day rows of the days outside them."""
    first = date_from if date_from.day == 1 else _month_end(date_from) + timedelta(days=1)
    last = _month_end(date_to)
    if last != date_to:
        last = date_to.replace(day=1) - timedelta(days=1)  # end of the month before
    span, day = f"{prefix}span", f"{prefix}day"
    if first > last:  # no whole month inside
        return Q(**{span: Span.DAY, f"{day}__gte": date_from, f"{day}__lte": date_to})
    return (
        Q(**{span: Span.MONTH, f"{day}__gte": first, f"{day}__lte": last})
        | Q(**{span: Span.DAY, f"{day}__gte": date_from, f"{day}__lt": first})
        | Q(**{span: Span.DAY, f"{day}__gt": last, f"{day}__lte": date_to})
    )


# --- keeping ------------------------------------------------------------------------


def local_day(moment: datetime) -> date:
    """The calendar day of `moment` in settings.TIME_ZONE (TruncDate's day)."""
    return timezone.localdate(moment, timezone.get_default_timezone())


def _upsert(
    model, keys: dict[str, Any], sums: dict[str, int], *, using: str, months: bool = True
) -> None:
    """Add `sums` to the rows of `keys` (with `day`), creating them: the day row and
    (`months`) the month row, each for the tree and (a model with a `tree_key`) for
    ALL_TREES."""
    _upsert_many(model, [(keys, sums)], using=using, months=months)


def _upsert_many(
    model, changes: list[tuple[dict[str, Any], dict[str, int]]], *, using: str, months: bool = True
) -> None:
    """`_upsert` for several (keys, sums) at once, in one statement. The keys must differ
    (a statement may not update a row twice); every entry has the same keys and sums."""
    changes = [(keys, sums) for keys, sums in changes if any(sums.values())]
    if not changes:
        return
    meta = model._meta
    table = connections[using].ops.quote_name(meta.db_table)
    first_keys, first_sums = changes[0]
    key_names = [name for name in first_keys if name != "day"]
    key_columns = [meta.get_field(name).column for name in key_names]
    columns = ["span", "day", *key_columns, *first_sums]
    rows = []
    for keys, sums in changes:
        day = keys["day"]
        spans = [(Span.DAY.value, day)]
        if months:
            spans.append((Span.MONTH.value, day.replace(day=1)))
        trees = [keys.get("tree_key")] + ([ALL_TREES] if "tree_key" in keys else [])
        rows += [
            [
                span,
                start,
                *(tree if name == "tree_key" else keys[name] for name in key_names),
                *sums.values(),
            ]  # fmt: skip
            for span, start in spans
            for tree in trees
        ]
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    updates = ", ".join(f"{name} = {table}.{name} + EXCLUDED.{name}" for name in first_sums)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {placeholders} "
        f"ON CONFLICT ({', '.join(key_columns)}, span, day) DO UPDATE SET {updates}"
    )
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


def _dropped(session: Session, using: str) -> int:
    """1 if the completed session's closing step is away from a solution."""
    closing = Decision.objects.using(using).filter(session=session, exit=SESSION_CLOSED)
    return int(closing.exclude(node_kind=SOLUTION).exists())


def _tally(session: Session, using: str, *moves: tuple[int, int, int, int]) -> None:
    """Add (outcome_key, started, completed, dropoffs) `moves` to the session's rows."""
    day = local_day(session.started_at)
    _upsert_many(
        SessionTally,
        [
            (
                {"day": day, "tree_key": session.tree_id, "outcome_key": outcome_key},
                {"started": started, "completed": completed, "dropoffs": dropoffs},
            )
            for outcome_key, started, completed, dropoffs in moves
        ],
        using=using,
    )


def on_session_started(sender, session: Session, **kwargs) -> None:
    _tally(session, router.db_for_write(Session), (NOT_COMPLETED, 1, 0, 0))


def on_session_completed(sender, session: Session, **kwargs) -> None:
    using = router.db_for_write(Session)
    dropped = _dropped(session, using)
    _tally(session, using, (NOT_COMPLETED, -1, 0, 0), (session.outcome_id, 1, 1, dropped))


def on_session_outcome_changed(sender, session: Session, old_outcome_id: int, **kwargs) -> None:
    using = router.db_for_write(Session)
    dropped = _dropped(session, using)
    _tally(session, using, (old_outcome_id, -1, -1, -dropped), (session.outcome_id, 1, 1, dropped))


def on_step_closed(sender, decision: Decision, **kwargs) -> None:
    day = local_day(decision.session_started_at)
    using = router.db_for_write(Decision)
    if decision.exit == ANSWERED and decision.node_kind == QUESTION:
        keys = {
            "day": day,
            "tree": decision.tree_id,
            "node_key": decision.node_key,
            "answer_label": decision.answer_label,
            "choice_key": decision.choice_id,
        }
        _upsert(AnswerTally, keys, {"answers": 1}, using=using)
    if decision.engineer_id is None or not decision.active_seconds:
        return
    keys = {"day": day, "tree_key": decision.tree_id, "engineer": decision.engineer_id}
    _upsert(StepTally, keys, {"step_seconds": decision.active_seconds}, using=using)


def on_session_handed_off(sender, session: Session, handoff: Handoff, **kwargs) -> None:
    keys = {
        "day": local_day(session.started_at),
        "tree_key": session.tree_id,
        "engineer": handoff.from_engineer_id,
    }
    _upsert(StepTally, keys, {"handoffs": 1}, using=router.db_for_write(Handoff))


# --- rebuilding ---------------------------------------------------------------------


def _insert_select(model, columns: list[str], queryset, *, using: str) -> None:
    """INSERT INTO model's table (columns) the rows of `queryset` (its columns in that
    order): the ORM says the SELECT, for either database, and the rows never leave it."""
    connection = connections[using]
    sql, params = queryset.query.get_compiler(using).as_sql()
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) {sql}", params)


def rebuild(
    date_from: date | None = None, date_to: date | None = None, *, using: str | None = None
) -> tuple[date, date] | None:
    """Recompute the rollups of the whole months holding `date_from`..`date_to` (all
    months with sessions when both are None) from the sessions, steps and hand-offs.
    Returns the days rebuilt, None when there is nothing to rebuild."""
    using = using or router.db_for_write(Session)
    zone = timezone.get_default_timezone()
    started = Session.objects.using(using).filter(started_at__isnull=False)
    if date_from is None or date_to is None:
        first = started.order_by("started_at").values_list("started_at", flat=True).first()
        last = started.order_by("-started_at").values_list("started_at", flat=True).first()
        if first is None:
            with transaction.atomic(using=using):
                for model in (SessionTally, StepTally, AnswerTally):
                    model.objects.using(using).all().delete()
            return None
        date_from = date_from or local_day(first)
        date_to = date_to or local_day(last)
    first_day, last_day = date_from.replace(day=1), _month_end(date_to)
    start = datetime.combine(first_day, time.min, tzinfo=zone)
    end = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=zone)
    in_days = Q(day__gte=first_day, day__lte=last_day)

    sessions = started.filter(started_at__gte=start, started_at__lt=end).order_by()
    dropped = Decision.objects.filter(session=OuterRef("pk"), exit=SESSION_CLOSED).exclude(
        node_kind=SOLUTION
    )
    session_days = sessions.values(
        span=Value(Span.DAY.value),
        day=TruncDate("started_at", tzinfo=zone),
        tid=F("tree_id"),
        okey=Coalesce("outcome_id", NOT_COMPLETED),
    ).annotate(
        started=Count("pk"),
        completed=Count("completed_at"),
        dropoffs=Count("pk", filter=Q(Exists(dropped))),
    )
    # The period's steps, each on its session's day in its tree.
    period_steps = Decision.objects.using(using).filter(
        session_started_at__gte=start, session_started_at__lt=end
    )
    step_day = {
        "span": Value(Span.DAY.value),
        "day": TruncDate("session_started_at", tzinfo=zone),
        "tid": F("tree_id"),
    }
    steps = (
        period_steps.filter(engineer__isnull=False, active_seconds__gt=0)
        .order_by()
        .values(**step_day, eid=F("engineer_id"))
        .annotate(secs=Sum("active_seconds"), handoffs=Value(0))
    )
    handoffs = (
        Handoff.objects.using(using)
        .filter(session__started_at__gte=start, session__started_at__lt=end)
        .order_by()
        .values(
            day=TruncDate("session__started_at", tzinfo=zone),
            tid=F("session__tree_id"),
            eid=F("from_engineer_id"),
        )
        .annotate(n=Count("pk"))
    )
    answers = (
        period_steps.filter(exit=ANSWERED, node_kind=QUESTION)
        .order_by()
        .values(**step_day, nkey=F("node_key"), label=F("answer_label"), ckey=F("choice_id"))
        .annotate(n=Count("pk"))
    )
    session_columns = ["span", "day", "tree_key", "outcome_key", "started", "completed", "dropoffs"]
    step_columns = ["span", "day", "tree_key", "engineer_id", "step_seconds", "handoffs"]
    answer_columns = ["span", "day", "tree_id", "node_key", "answer_label", "choice_key", "answers"]
    # (model, its columns, how many key columns follow span, day and the tree)
    shapes = (
        (SessionTally, session_columns, 1),
        (StepTally, step_columns, 1),
        (AnswerTally, answer_columns, 3),
    )

    def summed(model, columns, keys, span, day, tree, **filters):
        """The model's day rows regrouped: its sums per (`day`, `tree`, its keys)."""
        key_columns, sums = columns[3 : 3 + keys], columns[3 + keys :]
        return (
            model.objects.using(using)
            .filter(in_days, span=Span.DAY, **filters)
            .order_by()
            .values(
                g_span=Value(span),
                g_day=day,
                g_tree=tree,
                **{f"g_{name}": F(name) for name in key_columns},
            )
            .annotate(**{f"g_sum_{name}": Sum(name) for name in sums})
        )

    with transaction.atomic(using=using):
        for model, _, _ in shapes:
            model.objects.using(using).filter(in_days).delete()
        _insert_select(SessionTally, session_columns, session_days, using=using)
        _insert_select(StepTally, step_columns, steps, using=using)
        _insert_select(AnswerTally, answer_columns, answers, using=using)
        # The rows of all trees from the rows per tree, day by day.
        for model, columns, keys in shapes[:2]:
            every = summed(
                model, columns, keys, Span.DAY.value, F("day"), Value(ALL_TREES),
                tree_key__gt=ALL_TREES,
            )  # fmt: skip
            _insert_select(model, columns, every, using=using)
        for row in handoffs:
            # Few (a hand-off is an exception): each added to its day, per tree and in all.
            keys = {"day": as_date(row["day"]), "tree_key": row["tid"], "engineer": row["eid"]}
            _upsert(StepTally, keys, {"handoffs": row["n"]}, using=using, months=False)
        # The month rows from the day rows just written.
        for model, columns, keys in shapes:
            tree = F(columns[2])
            months = summed(model, columns, keys, Span.MONTH.value, TruncMonth("day"), tree)
            _insert_select(model, columns, months, using=using)
    return first_day, last_day


def as_date(value: date | str) -> date:
    """A day from the database: SQLite hands back a date computed in a statement as text."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
