"""Manager reports (SPEC §6): one function per table, every figure computed in the database.

Each table function takes a `ReportFilter` (and the database alias to read) and
runs one statement, the same on PostgreSQL and SQLite. Its aggregates are the
ORM's: filtered aggregates (`Count(filter=…)`, `PercentileCont(filter=…)`) give a
table's counts and medians in one read of the period's rows. Where a table joins
names, outcomes or drop-offs to its groups, a short written-out statement joins
the ORM-built aggregates after grouping (the ORM cannot join aggregated
querysets, and a name looked up per row would be grouped on per row).

Medians and percentiles are continuous, exactly like PostgreSQL's
`percentile_cont` (`reports.aggregates.PercentileCont`, which SQLite gets as a
registered aggregate doing the same arithmetic).

Rates are None, never 0, when their denominator is empty.

Counts and sums that need no row of their own (sessions per day and outcome, per
outcome, drop-offs per tree, step time and hand-offs per engineer, answers per
step) come from the rollups (`reports.models`, kept by `reports.rollups`) when the
filter has no engineer or version (`ReportFilter.rolls_up`: the rollups are per
tree only); otherwise, and for every median, from the rows. Both ways give the
same figures (reports/tests/test_rollups.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connections, router
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    F,
    FloatField,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import Combinable, RawSQL
from django.db.models.functions import Cast, NullIf, TruncDate
from django.db.models.lookups import GreaterThan, IsNull

from reports import rollups
from reports.aggregates import InSubquery, PercentileCont
from reports.models import ALL_TREES, AnswerTally, SessionTally, Span, StepTally
from resolutionflow import clock
from sessions.models import Decision, Handoff, Outcome, Session
from trees.models import Choice, Node, Tree, TreeVersion

SUCCESS = Outcome.Kind.SUCCESS.value
PARTIAL = Outcome.Kind.PARTIAL.value
FAILURE = Outcome.Kind.FAILURE.value
NEUTRAL = Outcome.Kind.NEUTRAL.value
KINDS = (SUCCESS, PARTIAL, FAILURE, NEUTRAL)
ESCALATED = "escalated"
SOLUTION = Node.Kind.SOLUTION.value
QUESTION = Node.Kind.QUESTION.value
ANSWERED = Decision.Exit.ANSWERED.value
BACKTRACKED = Decision.Exit.BACKTRACKED.value
SESSION_CLOSED = Decision.Exit.SESSION_CLOSED.value

MEDIAN = 0.5
P90 = 0.9
# The drill-down names the slowest and the most abandoned step only among steps
# visited at least this often: a step visited once says nothing about the tree.
FINDING_MIN_VISITS = 5


# --- the filter -----------------------------------------------------------------


def local_today() -> date:
    """Today as a calendar day in the configured TIME_ZONE."""
    return rollups.local_day(clock.now())


@dataclass(frozen=True)
class ReportFilter:
    """Which sessions a report covers: started on `date_from`..`date_to` (inclusive
    calendar days in settings.TIME_ZONE), optionally one tree (and one version of
    it) and one engineer.

    Prepared sessions (never started) have no `started_at` and so never match.
    """

    date_from: date
    date_to: date
    tree: Tree | None = None
    engineer: AbstractBaseUser | None = None
    version: int | None = None  # a version number of `tree`

    def __post_init__(self) -> None:
        if self.date_from > self.date_to:
            raise ValueError("date_from is after date_to")
        if self.version is not None and self.tree is None:
            raise ValueError("a version needs a tree")

    @classmethod
    def last_days(
        cls,
        days: int,
        *,
        tree: Tree | None = None,
        engineer: AbstractBaseUser | None = None,
        today: date | None = None,
    ) -> ReportFilter:
        """The last `days` calendar days, today included."""
        today = today or local_today()
        return cls(today - timedelta(days=days - 1), today, tree, engineer)

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def previous(self) -> ReportFilter:
        """The period of equal length just before this one, same tree and engineer."""
        return replace(
            self,
            date_from=self.date_from - timedelta(days=self.days),
            date_to=self.date_from - timedelta(days=1),
        )

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) instants: local midnight of date_from to local midnight after date_to."""
        zone = ZoneInfo(settings.TIME_ZONE)
        start = datetime.combine(self.date_from, time.min, tzinfo=zone)
        end = datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=zone)
        return start, end

    def session_q(self, prefix: str = "") -> Q:
        """The filter as a Q on Session, or on a model reaching it through `prefix`."""
        start, end = self.bounds()
        q = Q(**{f"{prefix}started_at__gte": start, f"{prefix}started_at__lt": end})
        return q & self.scope_q(prefix)

    def scope_q(self, prefix: str = "") -> Q:
        """The tree, version and engineer parts of the filter, without the dates: what
        a figure of this moment (sessions active now) is counted over."""
        q = Q()
        if self.tree is not None:
            q &= Q(**{f"{prefix}tree": self.tree})
        if self.engineer is not None:
            q &= Q(**{f"{prefix}engineer": self.engineer})
        if self.version is not None:
            q &= Q(**{f"{prefix}version__number": self.version})
        return q

    def is_future(self, today: date | None = None) -> bool:
        """The whole range is after today: nothing can have started in it yet."""
        return self.date_from > (today or local_today())

    def sessions(self) -> QuerySet[Session]:
        return Session.objects.filter(self.session_q())

    @property
    def rolls_up(self) -> bool:
        """Its counts and sums can come from the rollups (`reports.models`), which are
        per tree but not per engineer or version."""
        return self.engineer is None and self.version is None

    def tally_q(self, *, per_tree: bool = False, days: bool = False) -> Q:
        """The filter as a Q on SessionTally and StepTally: the month and day rows adding
        up to its days (`days`: the day rows alone), of its tree, else of all trees
        (`per_tree`: of each tree)."""
        if days:
            q = Q(span=Span.DAY, day__gte=self.date_from, day__lte=self.date_to)
        else:
            q = rollups.period_q(self.date_from, self.date_to)
        if self.tree is not None:
            return q & Q(tree_key=self.tree.pk)
        return q & (Q(tree_key__gt=ALL_TREES) if per_tree else Q(tree_key=ALL_TREES))

    def decision_q(self) -> Q:
        """The filter as a Q on Decision: the session's start and tree copied onto each
        step, so a tree's period needs no join; only an engineer or a version joins."""
        start, end = self.bounds()
        q = Q(session_started_at__gte=start, session_started_at__lt=end)
        if self.tree is not None:
            q &= Q(tree=self.tree)
        if self.engineer is not None:
            q &= Q(session__engineer=self.engineer)
        if self.version is not None:
            q &= Q(session__version__number=self.version)
        return q


# --- rows -------------------------------------------------------------------------


@dataclass
class SummaryRow:
    sessions_started: int
    sessions_completed: int
    sessions_active: int
    resolution_rate: float | None
    escalation_rate: float | None
    median_duration_seconds: float | None
    p90_duration_seconds: float | None
    time_saved_seconds: int


@dataclass
class TreeRow:
    tree: str  # slug
    tree_name: str
    sessions: int
    completed: int
    resolution_rate: float | None
    escalation_rate: float | None
    median_duration_seconds: float | None
    median_steps: float | None
    dropoff_rate: float | None


@dataclass
class ChoiceShare:
    label: str
    answers: int
    share: float


@dataclass
class NodeRow:
    node_key: str
    node_title: str
    node_kind: str
    in_outline: bool
    visits: int
    median_dwell_seconds: float | None
    p90_dwell_seconds: float | None
    dropoffs: int
    backtracks: int
    is_slowest: bool
    is_most_abandoned: bool
    choices: list[ChoiceShare] = field(default_factory=list)

    @property
    def choice_shares(self) -> list[ChoiceShare]:
        return self.choices


@dataclass
class EngineerRow:
    engineer: str  # username
    engineer_name: str
    sessions: int
    resolution_rate: float | None
    median_duration_seconds: float | None
    escalations: int
    # SPEC §9: hand-offs the engineer gave, and the active time of the steps
    # they took (whoever owns the session now), in the period's sessions.
    handoffs: int = 0
    step_seconds: int = 0


@dataclass
class DayRow:
    day: date
    sessions: int
    success: int
    partial: int
    failure: int
    neutral: int
    active: int


@dataclass
class OutcomeRow:
    outcome: str  # code
    outcome_label: str
    outcome_kind: str
    sessions: int
    share: float


# --- building blocks ------------------------------------------------------------------


def _sql(queryset: QuerySet) -> tuple[str, list]:
    """The SQL (and its parameters) of `queryset`, to use as a part of a statement the
    ORM cannot say (joining aggregated querysets), compiled for the queryset's own
    database."""
    queryset = queryset.order_by()
    sql, params = queryset.query.get_compiler(queryset.db).as_sql()
    return sql, list(params)


def _fetch(sql: str, params: Sequence, *, using: str) -> list[dict[str, Any]]:
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0].lower() for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# Conditions as lookup expressions rather than keyword lookups: the ORM resolves
# them without looking the field names up again in every aggregate.
COMPLETED = Q(IsNull(F("completed_at"), False))


def _outcome_is(using: str, **lookups: Any) -> Q:
    """Sessions whose outcome matches `lookups`, by id against the ids of those
    outcomes (run once per statement): no session row is joined to its outcome.

    A Q, not the bare lookup: an aggregate compiles a bare expression filter with
    its generic SQL, a Q with each database's own (see `InSubquery`)."""
    return Q(InSubquery(F("outcome_id"), _outcome_ids(using, **lookups)))


@cache
def _outcome_ids(using: str, **lookups: Any) -> RawSQL:
    """The SQL selecting the ids of the outcomes matching `lookups`, compiled once:
    a report statement tests a session against three such sets, and resolving the
    same small subquery in every aggregate would take longer than running the
    statement. (Cached per database alias: compiled for that database.)"""
    sql, params = _sql(Outcome.objects.using(using).filter(**lookups).values("pk"))
    return RawSQL(sql, params)


def _rate(numerator: Combinable, denominator: Combinable) -> Combinable:
    """A fraction in double precision; None (undefined) when the denominator is 0."""
    return Cast(numerator, FloatField()) / NullIf(denominator, Value(0))


def _figures(using: str, **percentiles: tuple[str, float]) -> dict[str, Any]:
    """Aggregates over a query's sessions: started, completed, escalated (completed
    as escalated), resolution_rate and escalation_rate, and a `PercentileCont` per
    `percentiles` (alias: (field, fraction)) over the completed sessions.

    Every figure is an aggregate over the same rows (filtered aggregates: FILTER
    (WHERE …)), so a table's counts and medians come from one read of the period's
    sessions, whose covering indexes hold every column read here: reading the rows
    is most of a statement's cost.
    """
    judged = Count("pk", filter=_outcome_is(using, kind__in=(SUCCESS, PARTIAL, FAILURE)))
    escalated = Count("pk", filter=COMPLETED & _outcome_is(using, code=ESCALATED))
    return {
        "started": Count("pk"),
        "completed": Count("completed_at"),
        "escalated": escalated,
        "resolution_rate": _rate(Count("pk", filter=_outcome_is(using, kind=SUCCESS)), judged),
        "escalation_rate": _rate(escalated, judged),
        **{
            alias: PercentileCont(value, fraction, filter=COMPLETED)
            for alias, (value, fraction) in percentiles.items()
        },
    }


def _null(fraction: bool) -> Max:
    """A typed NULL (a fraction's, else a count's) for a UNION ALL column that a part
    does not fill: PostgreSQL will not match an untyped NULL with a number. Inside an
    aggregate, or the part would be grouped by it and have no row over no rows."""
    return Max(Cast(Value(None), FloatField() if fraction else BigIntegerField()))


def _tally_figures(using: str) -> dict[str, Any]:
    """`_figures`' counts and rates from SessionTally rows: sums of their counts, each
    0 rather than NULL over no rows, as a count is (so the rates are None exactly
    when the row-based ones are)."""

    def among(**lookups: Any) -> Q:
        return Q(InSubquery(F("outcome_key"), _outcome_ids(using, **lookups)))

    judged = Sum("started", filter=among(kind__in=(SUCCESS, PARTIAL, FAILURE)), default=0)
    escalated = Sum("completed", filter=among(code=ESCALATED), default=0)
    # Prefixed: an alias may not be a field of the model it aggregates.
    return {
        "t_started": Sum("started", default=0),
        "t_completed": Sum("completed", default=0),
        "t_escalated": escalated,
        "t_resolution_rate": _rate(Sum("started", filter=among(kind=SUCCESS), default=0), judged),
        "t_escalation_rate": _rate(escalated, judged),
    }


# --- the tables ---------------------------------------------------------------------


def summaries(filters: Sequence[ReportFilter], *, using: str | None = None) -> list[SummaryRow]:
    """The summary figures for several periods in one statement (the overview compares
    the chosen period with the one before it).

    `sessions_active` is a figure of this moment, not of a period: the sessions
    started and not completed now, in the filter's tree, version and engineer,
    whatever its dates (the same for every period of the same scope)."""
    using = using or router.db_for_read(Session)
    baseline = F("tree__baseline_minutes") * 60
    saved = Case(
        When(
            GreaterThan(baseline, F("active_seconds")),
            completed_at__isnull=False,
            then=baseline - F("active_seconds"),
        ),
        default=0,
    )
    # With the rollups, the rows give only what needs them (the percentiles and the
    # time saved against each tree's baseline now), read for completed sessions only;
    # the counts and rates come from SessionTally in a second, small statement.
    rolled = all(report_filter.rolls_up for report_filter in filters)
    counts = _tally_figures(using)
    if rolled:
        # The columns of the tallies' parts are NULL here and the other way round, so
        # that both join one UNION ALL: one statement still.
        figures = {
            "started": Count("pk"),
            "median": PercentileCont("active_seconds", MEDIAN, filter=COMPLETED),
            "p90": PercentileCont("active_seconds", P90, filter=COMPLETED),
            "saved": Sum(saved, default=0),
            **{name: _null(name.endswith("_rate")) for name in counts},
        }
        blanks = {
            name: _null(name in ("median", "p90"))
            for name in ("n_started", "median", "p90", "saved")
        }
    else:
        figures = {
            **_figures(using, median=("active_seconds", MEDIAN), p90=("active_seconds", P90)),
            "saved": Sum(saved, default=0),
        }
    # The sessions active now, once per scope (tree, version, engineer): their
    # figures are computed like a period's, so they join the same UNION ALL, and
    # only their count is used.
    scoped = {_scope(report_filter): report_filter for report_filter in filters}
    scopes = {scope: len(filters) + n for n, scope in enumerate(scoped)}
    # Each period is its own aggregate (no GROUP BY: a row even for a period
    # without sessions) over its own index range, the periods joined by UNION ALL:
    # one statement, and no sort of every row by its period.
    sources = [
        report_filter.sessions().filter(COMPLETED) if rolled else report_filter.sessions()
        for report_filter in filters
    ] + [
        Session.objects.active().filter(report_filter.scope_q())
        for report_filter in scoped.values()
    ]
    parts = [
        sessions.using(using)
        .order_by()
        .values(period=Value(index, output_field=IntegerField()))
        .annotate(**figures)
        for index, sessions in enumerate(sources)
    ]
    if rolled:
        # Numbered after the rows' parts; "n_started" stands in for the field name.
        tallied = len(sources)
        parts += [
            SessionTally.objects.using(using)
            .filter(report_filter.tally_q())
            .order_by()
            .values(period=Value(tallied + index, output_field=IntegerField()))
            .annotate(**blanks, **counts)
            for index, report_filter in enumerate(filters)
        ]
    found = {row["period"]: row for row in parts[0].union(*parts[1:], all=True)}
    if rolled:
        for index in range(len(filters)):
            tally = found[tallied + index]
            found[index].update((name.removeprefix("t_"), tally[name]) for name in counts)
    return [
        SummaryRow(
            sessions_started=found[index]["started"],
            sessions_completed=found[index]["completed"],
            sessions_active=found[scopes[_scope(report_filter)]]["started"],
            resolution_rate=found[index]["resolution_rate"],
            escalation_rate=found[index]["escalation_rate"],
            median_duration_seconds=found[index]["median"],
            p90_duration_seconds=found[index]["p90"],
            time_saved_seconds=found[index]["saved"],
        )
        for index, report_filter in enumerate(filters)
    ]


def _scope(report_filter: ReportFilter) -> tuple:
    engineer = report_filter.engineer
    tree = report_filter.tree
    return (
        tree.pk if tree else None,
        report_filter.version,
        engineer.pk if engineer else None,
    )


def summary(report_filter: ReportFilter, *, using: str | None = None) -> SummaryRow:
    """Sessions started, completed and active now; resolution and escalation rates;
    median and p90 duration of completed sessions; time saved against the baselines."""
    using = using or router.db_for_read(Session)
    return summaries([report_filter], using=using)[0]


TREE_SORTS = {
    "name": "n.tname",
    "sessions": "t.started",
    "completed": "t.completed",
    "resolution_rate": "t.resolution_rate",
    "escalation_rate": "t.escalation_rate",
    "median_duration_seconds": "t.median",
    "median_steps": "t.steps_median",
    "dropoff_rate": "dropoff_rate",
}


def trees(
    report_filter: ReportFilter, *, sort: str = "-sessions", using: str | None = None
) -> list[TreeRow]:
    """Per tree with sessions in the period; `sort` is a TREE_SORTS key, "-" for descending.

    The figures per tree and the drop-offs per tree are ORM querysets, joined (with
    the trees' names, after grouping) in a written-out statement: the drop-offs are
    one read of a partial index, where a subquery per tree would read it once per tree.
    """
    using = using or router.db_for_read(Session)
    order = TREE_SORTS.get(sort.lstrip("-"), TREE_SORTS["sessions"])
    direction = "DESC" if sort.startswith("-") else "ASC"
    if report_filter.rolls_up:
        # The counts and rates per tree from the rollups, the medians from the
        # completed sessions' rows: `figures` has the same columns either way.
        counts_sql, counts_params = _sql(
            SessionTally.objects.using(using)
            .filter(report_filter.tally_q(per_tree=True))
            .values(tid=F("tree_key"))
            .annotate(**_tally_figures(using))
            .filter(t_started__gt=0)
        )
        medians_sql, medians_params = _sql(
            report_filter.sessions()
            .using(using)
            .filter(COMPLETED)
            .values(tid=F("tree_id"))
            .annotate(
                median=PercentileCont("active_seconds", MEDIAN),
                steps_median=PercentileCont("step_count", MEDIAN),
            )
        )
        figures_sql = f"""
        SELECT c.tid, c.t_started AS started, c.t_completed AS completed,
               c.t_resolution_rate AS resolution_rate, c.t_escalation_rate AS escalation_rate,
               m.median, m.steps_median
        FROM ({counts_sql}) c LEFT JOIN ({medians_sql}) m ON m.tid = c.tid"""
        params = counts_params + medians_params
    else:
        figures_sql, params = _sql(
            report_filter.sessions()
            .using(using)
            .values(tid=F("tree_id"))
            .annotate(
                **_figures(
                    using, median=("active_seconds", MEDIAN), steps_median=("step_count", MEDIAN)
                )
            )
        )
    # Completed sessions that ended away from a solution: their closing step record
    # is at a question or an action.
    if report_filter.rolls_up:
        dropoffs = (
            SessionTally.objects.using(using)
            .filter(report_filter.tally_q(per_tree=True))
            .values(tid=F("tree_key"))
            .annotate(dropped=Sum("dropoffs"))
        )
    else:
        dropoffs = (
            Decision.objects.using(using)
            .filter(report_filter.decision_q(), exit=SESSION_CLOSED)
            .exclude(node_kind=SOLUTION)
            .values(tid=F("tree_id"))
            .annotate(dropped=Count("tree"))  # not the id: the partial index holds the tree
        )
    dropoffs_sql, dropoffs_params = _sql(dropoffs)
    names_sql, names_params = _sql(
        Tree.objects.using(using).values(tid=F("id"), tslug=F("slug"), tname=F("name"))
    )
    sql = f"""
    WITH figures AS ({figures_sql}),
    dropoffs AS ({dropoffs_sql}),
    names AS ({names_sql})
    SELECT n.tslug AS tree, n.tname AS tree_name,
           t.started AS sessions, t.completed AS completed,
           t.resolution_rate, t.escalation_rate,
           t.median AS median_duration_seconds,
           t.steps_median AS median_steps,
           CAST(COALESCE(x.dropped, 0) AS DOUBLE PRECISION) / NULLIF(t.completed, 0)
               AS dropoff_rate
    FROM figures t
    JOIN names n ON n.tid = t.tid
    LEFT JOIN dropoffs x ON x.tid = t.tid
    ORDER BY {order} {direction} NULLS LAST, n.tname ASC, n.tslug ASC"""
    rows = _fetch(sql, params + dropoffs_params + names_params, using=using)
    return [TreeRow(**row) for row in rows]


def outline_version(
    tree: Tree, number: int | None = None, *, using: str | None = None
) -> TreeVersion | None:
    """The version whose outline orders the drill-down: the chosen one, else the
    published one, else the newest."""
    using = using or router.db_for_read(Session)
    versions = TreeVersion.objects.using(using).filter(tree=tree)
    if number is not None:
        return versions.filter(number=number).first()
    return (
        versions.filter(status=TreeVersion.Status.PUBLISHED).first()
        or versions.order_by("-number").first()
    )


def nodes(report_filter: ReportFilter, *, using: str | None = None) -> list[NodeRow]:
    """Per node key of the filter's tree (all its versions, or the filter's version),
    in the order of the tree's outline; keys no longer in it come last.

    visits: every step record at the node (backtracked, undone and open ones too);
    dwell: duration of its closed step records; drop-offs: completed sessions whose
    last step record (closed by completing) is there and it is not a solution;
    backtracks: its step records left with Back; choices: the share of each answer
    among the records answered there (question nodes).
    The slowest step (highest median dwell, solutions aside: their dwell is the fix
    itself) and the most abandoned one (most drop-offs) are flagged, among the steps
    with at least FINDING_MIN_VISITS visits.

    One statement: a row per (node, answer), folded into NodeRow.choices here. Its
    parts are ORM querysets; the statement joining them (latest title per key,
    outline order, window flags and shares) is written out, as the ORM cannot join
    aggregated querysets.
    """
    using = using or router.db_for_read(Session)
    tree = report_filter.tree
    if tree is None:
        raise ValueError("The nodes table needs a tree.")
    steps = Decision.objects.using(using).filter(report_filter.decision_q()).order_by()
    # One aggregate for the counts and the dwell percentiles, grouped by the key. On
    # PostgreSQL a long period of a busy tree reads `decision_tree_node_dwell`, in key
    # and dwell order: no sort of 150,000 step records, and each key's dwell already in
    # the order its percentiles need (a short period reads `decision_tree_started`).
    tallies_sql, params = _sql(
        steps.values(nkey=F("node_key")).annotate(
            # Counting the key, not the id: the index holds the key, not the id.
            visits=Count("node_key"),
            dropoffs=Count("node_key", filter=Q(exit=SESSION_CLOSED) & ~Q(node_kind=SOLUTION)),
            backtracks=Count("node_key", filter=Q(exit=BACKTRACKED)),
            median=PercentileCont("active_seconds", MEDIAN),
            p90=PercentileCont("active_seconds", P90),
        )
    )
    if report_filter.rolls_up:
        # Counted per answer already: a few hundred rows, not a second read of the steps.
        answered = (
            AnswerTally.objects.using(using)
            .filter(rollups.period_q(report_filter.date_from, report_filter.date_to), tree=tree)
            .order_by()
            .values(nkey=F("node_key"), label=F("answer_label"), cid=F("choice_key"))
            .annotate(n=Sum("answers"))
        )
    else:
        answered = steps.filter(exit=ANSWERED, node_kind=QUESTION).values(
            nkey=F("node_key"),
            label=F("answer_label"),
            cid=F("choice_id"),
            n=Value(1, output_field=IntegerField()),
        )
    answered_sql, answered_params = _sql(answered)
    outline = outline_version(tree, report_filter.version, using=using)
    # Every node the tree ever had: titles for keys the outline no longer has.
    known_sql, known_params = _sql(
        Node.objects.using(using)
        .filter(version__tree=tree)
        .order_by()
        .values(
            kkey=F("key"),
            ktitle=F("title"),
            kkind=F("kind"),
            kpos=F("position"),
            kversion=F("version__number"),
            koutline=Value(outline.pk if outline else 0, output_field=IntegerField()),
            kversion_id=F("version_id"),
        )
    )
    # Choice positions, joined once answers are counted (not per step record).
    choices_sql, choices_params = _sql(
        Choice.objects.using(using)
        .filter(node__version__tree=tree)
        .order_by()
        .values(chid=F("id"), chpos=F("position"))
    )
    sql = f"""
    WITH tallies AS MATERIALIZED ({tallies_sql}),
    known AS ({known_sql}),
    choices AS ({choices_sql}),
    answered AS (
        SELECT nkey, label, MIN(cid) AS cid, CAST(SUM(n) AS BIGINT) AS answers,
               CAST(SUM(n) AS DOUBLE PRECISION)
                   / CAST(SUM(SUM(n)) OVER (PARTITION BY nkey) AS DOUBLE PRECISION) AS share
        FROM ({answered_sql}) d
        GROUP BY nkey, label
    ),
    answers AS MATERIALIZED (
        SELECT a.nkey, a.label, a.answers, a.share, c.chpos AS cpos
        FROM answered a LEFT JOIN choices c ON c.chid = a.cid
    ),
    latest AS (
        SELECT kkey, ktitle, kkind,
               MAX(CASE WHEN kversion_id = koutline THEN kpos END)
                   OVER (PARTITION BY kkey) AS opos,
               ROW_NUMBER() OVER (
                   PARTITION BY kkey
                   ORDER BY CASE WHEN kversion_id = koutline THEN 0 ELSE 1 END, kversion DESC
               ) AS rn
        FROM known
    ),
    steps AS (
        SELECT l.kkey AS node_key, l.ktitle AS node_title, l.kkind AS node_kind, l.opos,
               COALESCE(t.visits, 0) AS visits,
               t.median AS median_dwell_seconds,
               t.p90 AS p90_dwell_seconds,
               COALESCE(t.dropoffs, 0) AS dropoffs,
               COALESCE(t.backtracks, 0) AS backtracks,
               CASE WHEN l.kkind <> '{SOLUTION}' AND t.median IS NOT NULL
                         AND t.visits >= {FINDING_MIN_VISITS:d}
                         AND t.median = MAX(CASE WHEN l.kkind <> '{SOLUTION}'
                                                  AND t.visits >= {FINDING_MIN_VISITS:d}
                                                 THEN t.median END) OVER ()
                    THEN 1 ELSE 0 END AS is_slowest,
               CASE WHEN t.dropoffs > 0 AND t.visits >= {FINDING_MIN_VISITS:d}
                         AND t.dropoffs = MAX(CASE WHEN t.visits >= {FINDING_MIN_VISITS:d}
                                                   THEN t.dropoffs END) OVER ()
                    THEN 1 ELSE 0 END AS is_most_abandoned
        FROM latest l
        LEFT JOIN tallies t ON t.nkey = l.kkey
        WHERE l.rn = 1 AND (l.opos IS NOT NULL OR t.nkey IS NOT NULL)
    )
    SELECT s.*, a.label, a.answers, a.share
    FROM steps s LEFT JOIN answers a ON a.nkey = s.node_key
    ORDER BY CASE WHEN s.opos IS NULL THEN 1 ELSE 0 END, s.opos, s.node_key, a.cpos, a.label"""
    rows: dict[str, NodeRow] = {}
    all_params = params + known_params + choices_params + answered_params
    for row in _fetch(sql, all_params, using=using):
        key = row["node_key"]
        if key not in rows:
            rows[key] = NodeRow(
                node_key=key,
                node_title=row["node_title"],
                node_kind=row["node_kind"],
                in_outline=row["opos"] is not None,
                visits=row["visits"],
                median_dwell_seconds=row["median_dwell_seconds"],
                p90_dwell_seconds=row["p90_dwell_seconds"],
                dropoffs=row["dropoffs"],
                backtracks=row["backtracks"],
                is_slowest=bool(row["is_slowest"]),
                is_most_abandoned=bool(row["is_most_abandoned"]),
            )
        if row["label"] is not None:
            rows[key].choices.append(ChoiceShare(row["label"], row["answers"], row["share"]))
    return list(rows.values())


def engineers(report_filter: ReportFilter, *, using: str | None = None) -> list[EngineerRow]:
    """Per engineer with sessions in the period: sessions, resolution rate, median
    duration of completed sessions, escalations.

    Grouped by the engineer's id alone (the ORM aggregate), the names joined to
    the groups afterwards in a written-out statement: a name looked up in the
    aggregate would be grouped on, per session.
    """
    using = using or router.db_for_read(Session)
    User = get_user_model()
    figures_sql, params = _sql(
        report_filter.sessions()
        .using(using)
        .values(eid=F("engineer_id"))
        .annotate(**_figures(using, median=("active_seconds", MEDIAN)))
    )
    names_sql, names_params = _sql(
        User.objects.using(using).values(
            eid=F("pk"),
            uname=F(User.USERNAME_FIELD),
            ufirst=F("first_name"),
            ulast=F("last_name"),
        )
    )
    # Step time goes to whoever took the step (SPEC §9), hand-offs to who gave them.
    if report_filter.rolls_up:
        # Step time and hand-offs in one read of the tallies (`handoffs` reads `steps`).
        steps = (
            StepTally.objects.using(using)
            .filter(report_filter.tally_q())
            .order_by()
            .values(eid=F("engineer_id"))
            .annotate(secs=Sum("step_seconds"), n=Sum("handoffs"))
        )
        handoffs = None
    else:
        steps = (
            Decision.objects.using(using)
            .filter(report_filter.decision_q())
            .order_by()
            .values(eid=F("engineer_id"))
            .annotate(secs=Sum("active_seconds", default=0))
        )
        handoffs = (
            Handoff.objects.using(using)
            .filter(session__in=report_filter.sessions().order_by().values("pk"))
            .order_by()
            .values(eid=F("from_engineer_id"))
            .annotate(n=Count("pk"))
        )
    steps_sql, steps_params = _sql(steps)
    handoffs_sql, handoffs_params = (
        ("SELECT eid, n FROM steps", []) if handoffs is None else _sql(handoffs)
    )
    sql = f"""
    WITH figures AS ({figures_sql}),
    names AS ({names_sql}),
    steps AS ({steps_sql}),
    handoffs AS ({handoffs_sql})
    SELECT n.uname AS engineer,
           TRIM(n.ufirst || ' ' || n.ulast) AS engineer_name,
           t.started AS sessions,
           t.resolution_rate,
           t.median AS median_duration_seconds,
           t.escalated AS escalations,
           COALESCE(h.n, 0) AS handoffs,
           CAST(COALESCE(s.secs, 0) AS BIGINT) AS step_seconds
    FROM figures t
    JOIN names n ON n.eid = t.eid
    LEFT JOIN steps s ON s.eid = t.eid
    LEFT JOIN handoffs h ON h.eid = t.eid
    ORDER BY t.started DESC, n.uname ASC"""
    all_params = params + names_params + steps_params + handoffs_params
    return [EngineerRow(**row) for row in _fetch(sql, all_params, using=using)]


def daily(report_filter: ReportFilter, *, using: str | None = None) -> list[DayRow]:
    """Sessions started per calendar day (TIME_ZONE) by outcome kind; `active` for those
    not completed yet. Only days with sessions: `daily_series` fills in the rest.

    Counted per day and outcome id (the ORM aggregate), then the outcomes joined to
    those few rows and folded by kind: no per-session join or outcome test.
    """
    using = using or router.db_for_read(Session)
    if report_filter.rolls_up:
        counted = (
            SessionTally.objects.using(using)
            .filter(report_filter.tally_q(days=True))
            .values("day", oid=F("outcome_key"))
            .annotate(n=Sum("started"), done=Sum("completed"))
        )
    else:
        counted = (
            report_filter.sessions()
            .using(using)
            .values(
                day=TruncDate("started_at", tzinfo=ZoneInfo(settings.TIME_ZONE)),
                oid=F("outcome_id"),
            )
            .annotate(n=Count("pk"), done=Count("completed_at"))
        )
    counted_sql, params = _sql(counted)
    outcomes_sql, outcomes_params = _sql(
        Outcome.objects.using(using).values(oid=F("id"), okind=F("kind"))
    )
    by_kind = ",\n".join(
        f"CAST(SUM(CASE WHEN o.okind = '{kind}' THEN b.n ELSE 0 END) AS BIGINT) AS {kind}"
        for kind in KINDS
    )
    sql = f"""
    WITH by_outcome AS ({counted_sql}),
    outcomes AS ({outcomes_sql})
    SELECT b.day, CAST(SUM(b.n) AS BIGINT) AS sessions,
           {by_kind},
           CAST(SUM(b.n - b.done) AS BIGINT) AS active
    FROM by_outcome b LEFT JOIN outcomes o ON o.oid = b.oid
    GROUP BY b.day ORDER BY b.day"""
    rows = _fetch(sql, params + outcomes_params, using=using)
    return [DayRow(**{**row, "day": rollups.as_date(row["day"])}) for row in rows]


def daily_series(report_filter: ReportFilter, *, using: str | None = None) -> list[DayRow]:
    """`daily` with a row for every day of the period, zeros where nothing started."""
    using = using or router.db_for_read(Session)
    found = {row.day: row for row in daily(report_filter, using=using)}
    return [
        found.get(day) or DayRow(day, 0, 0, 0, 0, 0, 0)
        for day in (report_filter.date_from + timedelta(days=n) for n in range(report_filter.days))
    ]


def outcomes(report_filter: ReportFilter, *, using: str | None = None) -> list[OutcomeRow]:
    """Completed sessions per outcome, with each outcome's share of them.

    Counted per outcome id (the ORM aggregate), then the outcomes joined to those
    few rows in a written-out statement: no per-session join.
    """
    using = using or router.db_for_read(Session)
    if report_filter.rolls_up:
        counted = (
            SessionTally.objects.using(using)
            .filter(report_filter.tally_q())
            .values(oid=F("outcome_key"))
            .annotate(n=Sum("completed"))
            .filter(n__gt=0)
        )
    else:
        counted = (
            report_filter.sessions()
            .using(using)
            .filter(COMPLETED)
            .values(oid=F("outcome_id"))
            .annotate(n=Count("pk"))
        )
    counted_sql, params = _sql(counted)
    outcomes_sql, outcomes_params = _sql(
        Outcome.objects.using(using).values(
            oid=F("id"), ocode=F("code"), olabel=F("label"), okind=F("kind"), oorder=F("order")
        )
    )
    sql = f"""
    WITH counted AS ({counted_sql}),
    outcomes AS ({outcomes_sql})
    SELECT o.ocode AS outcome, o.olabel AS outcome_label, o.okind AS outcome_kind,
           c.n AS sessions,
           CAST(c.n AS DOUBLE PRECISION)
               / CAST(SUM(c.n) OVER () AS DOUBLE PRECISION) AS share
    FROM counted c JOIN outcomes o ON o.oid = c.oid
    ORDER BY o.oorder, o.olabel"""
    return [OutcomeRow(**row) for row in _fetch(sql, params + outcomes_params, using=using)]
