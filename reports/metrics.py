"""Manager reports (SPEC §6): one function per table, every figure computed in the database.

Each table function takes a `ReportFilter` and runs one SQL statement (two for
the node drill-down: its figures and its choice shares). The filtered rows are
selected with the ORM (so date, tree and engineer filtering, joins and
time-zone handling are Django's), then aggregated in hand-written SQL that runs
unchanged on PostgreSQL and SQLite.

Medians and percentiles are continuous, exactly like PostgreSQL's
`percentile_cont`: for a fraction p of n ordered values the position is
pos = p × (n − 1); the result is the value at floor(pos) plus (pos − floor(pos))
× the difference to the value at ceil(pos). PostgreSQL runs percentile_cont
itself (an ordered-set aggregate: one sort, no window passes); SQLite has none,
so it runs a window-function formulation (`_percentile_ctes`) written to perform
the very same IEEE double operations as PostgreSQL's C implementation
(`float8_lerp`). Tests run the window formulation on both databases against a
step-by-step reference, and on PostgreSQL bit for bit against percentile_cont.

Rates are None, never 0, when their denominator is empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import F, IntegerField, Q, QuerySet, Value
from django.db.models.functions import TruncDate

from resolutionflow import clock
from sessions.models import Decision, Outcome, Session
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


# --- the filter -----------------------------------------------------------------


def local_today() -> date:
    """Today as a calendar day in the configured TIME_ZONE."""
    return clock.now().astimezone(ZoneInfo(settings.TIME_ZONE)).date()


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
        if self.tree is not None:
            q &= Q(**{f"{prefix}tree": self.tree})
        if self.engineer is not None:
            q &= Q(**{f"{prefix}engineer": self.engineer})
        if self.version is not None:
            q &= Q(**{f"{prefix}version__number": self.version})
        return q

    def sessions(self) -> QuerySet[Session]:
        return Session.objects.filter(self.session_q())

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


# --- SQL building blocks ------------------------------------------------------------


def _sql(queryset: QuerySet, **columns: Any) -> tuple[str, list]:
    """The SQL (and its parameters) selecting `columns` from `queryset`.

    Every column is an explicit alias, so the statements below can name them
    whatever order Django chooses to select them in.
    """
    sql, params = queryset.order_by().values(**columns).query.sql_with_params()
    return sql, list(params)


def _sessions_sql(filters: Sequence[ReportFilter], **extra: Any) -> tuple[str, list]:
    """The filtered sessions, one row per (period, session); period = index in `filters`.

    Columns: period, sid, fin (completed_at), dur, steps, oid (the outcome), plus
    `extra`. Rows stay narrow and join nothing: outcomes and names are joined
    after grouping (`_tallies_ctes`), so each statement reads the covering index
    or the table once per use and the sorts behind the percentiles stay small.
    """
    parts, params = [], []
    for period, report_filter in enumerate(filters):
        sql, part_params = _sql(
            report_filter.sessions(),
            period=Value(period, output_field=IntegerField()),
            sid=F("id"),
            fin=F("completed_at"),
            dur=F("duration_seconds"),
            steps=F("step_count"),
            oid=F("outcome_id"),
            **extra,
        )
        parts.append(sql)
        params += part_params
    return " UNION ALL ".join(parts), params


def _dropoffs_sql(report_filter: ReportFilter) -> tuple[str, list]:
    """The completed sessions of the filter that ended away from a solution: their
    closing step record (exit session_closed) is at a question or an action.
    Columns: tid (the session's tree)."""
    return _sql(
        Decision.objects.filter(report_filter.decision_q(), exit=SESSION_CLOSED).exclude(
            node_kind=SOLUTION
        ),
        tid=F("tree_id"),
    )


def _percentile_cont(value: str, where: str) -> str:
    """PostgreSQL's own continuous percentile of `value` over the rows matching
    `where`, as one column of an aggregate (the fraction is a parameter)."""
    return (
        f"percentile_cont(CAST(%s AS DOUBLE PRECISION)) WITHIN GROUP (ORDER BY {value}) "
        f"FILTER (WHERE {where})"
    )


def _percentile_ctes(
    name: str,
    *,
    source: str,
    group: str,
    value: str,
    where: str,
    fractions: dict[str, float],
) -> tuple[str, list]:
    """CTEs ending in `{name}`: one row per `group` (as `grp`), a column per fraction,
    without percentile_cont (SQLite; PostgreSQL uses `_percentile_cont` in its
    aggregates).

    The portable formulation: number each group's ordered non-null
    values (rn, from 1), compute pos = p × (n − 1) in double precision, pick the
    rows at floor(pos) and ceil(pos) by comparing rn − 1 with pos (no FLOOR or
    CEIL function needed), and interpolate lo + (pos − floor(pos)) × (hi − lo):
    the very arithmetic of percentile_cont (float8_lerp), so both give the same
    doubles, which tests check bit for bit on PostgreSQL.
    """
    positions = ",\n".join(
        f"CAST(%s AS DOUBLE PRECISION) * (COUNT(*) OVER (PARTITION BY {group}) - 1) AS pos_{alias}"
        for alias in fractions
    )
    picks = []
    for alias in fractions:
        pos = f"pos_{alias}"
        at_floor = f"rn - 1 <= {pos} AND {pos} < rn"
        at_ceil = f"rn - 1 >= {pos} AND rn - 2 < {pos}"
        lo = f"MAX(CASE WHEN {at_floor} THEN v END)"
        hi = f"MAX(CASE WHEN {at_ceil} THEN v END)"
        floor_index = f"MAX(CASE WHEN {at_floor} THEN rn - 1 END)"
        picks.append(f"{lo} + ((MAX({pos}) - {floor_index}) * ({hi} - {lo})) AS {alias}")
    sql = f"""
    {name}_ranked AS (
        SELECT {group} AS grp, {value} AS v,
               ROW_NUMBER() OVER (PARTITION BY {group} ORDER BY {value}) AS rn,
               {positions}
        FROM {source}
        WHERE {value} IS NOT NULL AND ({where})
    ),
    {name} AS (
        SELECT grp, {", ".join(picks)}
        FROM {name}_ranked
        GROUP BY grp
    )"""
    return sql, list(fractions.values())


def _rate(numerator: str, denominator: str) -> str:
    """A fraction in double precision; NULL (undefined) when the denominator is 0."""
    return f"CAST({numerator} AS DOUBLE PRECISION) / NULLIF({denominator}, 0)"


def _count_if(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _with_sessions(sessions_sql: str) -> str:
    """`WITH s AS (…)` for the filtered sessions.

    PostgreSQL materialises a CTE used more than once; these rows come straight
    from a covering index (or a scan of the narrow table), so reading them again
    for each use is cheaper than writing 100,000 rows aside and reading them back.
    """
    inline = "NOT MATERIALIZED " if connection.vendor == "postgresql" else ""
    return f"WITH s AS {inline}({sessions_sql})"


def _figures_ctes(
    group: str,
    *,
    percentiles: dict[str, tuple[str, float]],
    sums: dict[str, str] | None = None,
    join: str = "",
    groups: Sequence[int] | None = None,
) -> tuple[str, list]:
    """CTEs ending in `figures`: per `group` of the sessions CTE `s` (as `grp`),
    started, completed, success, judged (success, partial or failure) and
    escalated (completed as escalated); a column per `sums` (alias: a
    per-session expression over `s` and what `join` adds to it, summed); and a
    column per `percentiles` (alias: (a column of `s`, a fraction)) over the
    completed sessions.

    On PostgreSQL one aggregate computes every column in a single
    read of the sessions (percentile_cont takes a FILTER like any aggregate):
    reading the year's 98,000 rows is most of a statement's cost, and the two
    reads this replaced (counts per outcome id, then the medians) made each
    statement a third slower. With
    `groups` (the periods of the summary), each group is its own aggregate over
    its own rows (no sort of every row by its group). Elsewhere the counts and
    the portable percentile CTEs (`_percentile_ctes`) are joined.

    Outcomes are matched by id against the six outcomes (`outcomes` CTE, joined
    to nothing per session).
    """
    native = connection.vendor == "postgresql"
    sums = sums or {}
    outcomes_sql, params = _sql(
        Outcome.objects.all(), oid=F("id"), okind=F("kind"), ocode=F("code")
    )

    def outcome_in(condition: str) -> str:
        # PostgreSQL: the ids as an array computed once (an init plan); a hashed
        # IN (…) subplan probed per row cost a third of the statement.
        if native:
            return f"oid = ANY(ARRAY(SELECT oid FROM outcomes WHERE {condition}))"
        return f"oid IN (SELECT oid FROM outcomes WHERE {condition})"

    success = outcome_in(f"okind = '{SUCCESS}'")
    judged = outcome_in(f"okind IN ('{SUCCESS}', '{PARTIAL}', '{FAILURE}')")
    escalated = "fin IS NOT NULL AND " + outcome_in(f"ocode = '{ESCALATED}'")
    tallies = ",\n".join(
        [
            "COUNT(*) AS started",
            "COUNT(fin) AS completed",
            f"{_count_if(success)} AS success",
            f"{_count_if(judged)} AS judged",
            f"{_count_if(escalated)} AS escalated",
        ]
        + [f"CAST(SUM({expression}) AS BIGINT) AS {alias}" for alias, expression in sums.items()]
    )
    ctes = [f"outcomes AS ({outcomes_sql})"]
    if native:
        columns = tallies + "".join(
            f",\n{_percentile_cont(value, f'{value} IS NOT NULL AND fin IS NOT NULL')} AS {alias}"
            for alias, (value, _) in percentiles.items()
        )
        fractions = [fraction for _, fraction in percentiles.values()]
        if groups is not None:
            # A group without rows still gets its row (counts 0, NULL medians).
            parts = [
                f"SELECT {int(grp):d} AS grp, {columns} FROM s {join} WHERE {group} = {int(grp):d}"
                for grp in groups
            ]
            ctes.append(f"figures AS ({' UNION ALL '.join(parts)})")
            return ",\n".join(ctes), params + fractions * len(parts)
        ctes.append(f"figures AS (SELECT {group} AS grp, {columns} FROM s {join} GROUP BY {group})")
        return ",\n".join(ctes), params + fractions

    ctes.append(f"tallies AS (SELECT {group} AS grp, {tallies} FROM s {join} GROUP BY {group})")
    by_value: dict[str, dict[str, float]] = {}
    for alias, (value, fraction) in percentiles.items():
        by_value.setdefault(value, {})[alias] = fraction
    joins = []
    for value, fractions_of_value in by_value.items():
        pct_sql, pct_params = _percentile_ctes(
            f"pct_{value}",
            source="s",
            group=group,
            value=value,
            where="fin IS NOT NULL",
            fractions=fractions_of_value,
        )
        ctes.append(pct_sql.strip())
        params += pct_params
        joins.append(f"LEFT JOIN pct_{value} ON pct_{value}.grp = t.grp")
    picked = "".join(f", {alias}" for alias in percentiles)
    ctes.append(f"figures AS (SELECT t.*{picked} FROM tallies t {' '.join(joins)})")
    return ",\n".join(ctes), params


def _fetch(sql: str, params: Sequence) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0].lower() for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _as_date(value: date | str) -> date:
    # SQLite hands back TruncDate as text, PostgreSQL as a date.
    return value if isinstance(value, date) else date.fromisoformat(value)


# --- the tables ---------------------------------------------------------------------


def summaries(filters: Sequence[ReportFilter]) -> list[SummaryRow]:
    """The summary figures for several periods in one statement (the overview compares
    the chosen period with the one before it)."""
    sessions_sql, params = _sessions_sql(filters, tid=F("tree_id"))
    baselines_sql, baselines_params = _sql(
        Tree.objects.all(), btid=F("id"), baseline=F("baseline_minutes")
    )
    figures_sql, figures_params = _figures_ctes(
        "period",
        percentiles={"median": ("dur", MEDIAN), "p90": ("dur", P90)},
        sums={
            "saved": "CASE WHEN fin IS NOT NULL AND baseline IS NOT NULL AND baseline * 60 > dur "
            "THEN baseline * 60 - dur ELSE 0 END"
        },
        join="LEFT JOIN baselines ON baselines.btid = s.tid",
        groups=range(len(filters)),
    )
    periods = ", ".join(f"({index})" for index in range(len(filters)))
    sql = f"""
    {_with_sessions(sessions_sql)},
    periods (period) AS (VALUES {periods}),
    baselines AS ({baselines_sql}),
    {figures_sql}
    SELECT COALESCE(f.started, 0) AS sessions_started,
           COALESCE(f.completed, 0) AS sessions_completed,
           COALESCE(f.started - f.completed, 0) AS sessions_active,
           {_rate("f.success", "f.judged")} AS resolution_rate,
           {_rate("f.escalated", "f.judged")} AS escalation_rate,
           f.median AS median_duration_seconds,
           f.p90 AS p90_duration_seconds,
           COALESCE(f.saved, 0) AS time_saved_seconds
    FROM periods p
    LEFT JOIN figures f ON f.grp = p.period
    ORDER BY p.period"""
    all_params = params + baselines_params + figures_params
    return [SummaryRow(**row) for row in _fetch(sql, all_params)]


def summary(report_filter: ReportFilter) -> SummaryRow:
    """Sessions started, completed and active; resolution and escalation rates;
    median and p90 duration of completed sessions; time saved against the baselines."""
    return summaries([report_filter])[0]


TREE_SORTS = {
    "name": "n.tname",
    "sessions": "t.started",
    "completed": "t.completed",
    "resolution_rate": "resolution_rate",
    "escalation_rate": "escalation_rate",
    "median_duration_seconds": "median_duration_seconds",
    "median_steps": "median_steps",
    "dropoff_rate": "dropoff_rate",
}


def trees(report_filter: ReportFilter, *, sort: str = "-sessions") -> list[TreeRow]:
    """Per tree with sessions in the period; `sort` is a TREE_SORTS key, "-" for descending."""
    descending = sort.startswith("-")
    order = TREE_SORTS.get(sort.lstrip("-"), TREE_SORTS["sessions"])
    direction = "DESC" if descending else "ASC"
    sessions_sql, params = _sessions_sql([report_filter], tid=F("tree_id"))
    dropoffs_sql, dropoffs_params = _dropoffs_sql(report_filter)
    names_sql, names_params = _sql(
        Tree.objects.all(), tid=F("id"), tslug=F("slug"), tname=F("name")
    )
    figures_sql, figures_params = _figures_ctes(
        "tid", percentiles={"median": ("dur", MEDIAN), "steps_median": ("steps", MEDIAN)}
    )
    sql = f"""
    {_with_sessions(sessions_sql)},
    dropoffs AS (SELECT tid, COUNT(*) AS dropped FROM ({dropoffs_sql}) x GROUP BY tid),
    names AS ({names_sql}),
    {figures_sql}
    SELECT n.tslug AS tree, n.tname AS tree_name,
           t.started AS sessions, t.completed AS completed,
           {_rate("t.success", "t.judged")} AS resolution_rate,
           {_rate("t.escalated", "t.judged")} AS escalation_rate,
           t.median AS median_duration_seconds,
           t.steps_median AS median_steps,
           {_rate("COALESCE(x.dropped, 0)", "t.completed")} AS dropoff_rate
    FROM figures t
    JOIN names n ON n.tid = t.grp
    LEFT JOIN dropoffs x ON x.tid = t.grp
    ORDER BY {order} {direction} NULLS LAST, n.tname ASC, n.tslug ASC"""
    all_params = params + dropoffs_params + names_params + figures_params
    return [TreeRow(**row) for row in _fetch(sql, all_params)]


def outline_version(tree: Tree, number: int | None = None) -> TreeVersion | None:
    """The version whose outline orders the drill-down: the chosen one, else the
    published one, else the newest."""
    versions = tree.versions.all()
    if number is not None:
        return versions.filter(number=number).first()
    return (
        versions.filter(status=TreeVersion.Status.PUBLISHED).first()
        or versions.order_by("-number").first()
    )


def nodes(report_filter: ReportFilter) -> list[NodeRow]:
    """Per node key of the filter's tree (all its versions, or the filter's version),
    in the order of the tree's outline; keys no longer in it come last.

    visits: every step record at the node (backtracked, undone and open ones too);
    dwell: duration of its closed step records; drop-offs: completed sessions whose
    last step record (closed by completing) is there and it is not a solution;
    backtracks: its step records left with Back; choices: the share of each answer
    among the records answered there (question nodes).
    The slowest step (highest median dwell, solutions aside: their dwell is the fix
    itself) and the most abandoned one (most drop-offs) are flagged.

    One statement: a row per (node, answer), folded into NodeRow.choices here.
    """
    tree = report_filter.tree
    if tree is None:
        raise ValueError("The nodes table needs a tree.")
    decisions_sql, params = _sql(
        Decision.objects.filter(report_filter.decision_q()),
        nkey=F("node_key"),
        nkind=F("node_kind"),
        dur=F("duration_seconds"),
        nexit=F("exit"),
        label=F("answer_label"),
        cid=F("choice_id"),
    )
    outline = outline_version(tree, report_filter.version)
    # Every node the tree ever had: titles for keys the outline no longer has.
    known_sql, known_params = _sql(
        Node.objects.filter(version__tree=tree),
        kkey=F("key"),
        ktitle=F("title"),
        kkind=F("kind"),
        kpos=F("position"),
        kversion=F("version__number"),
        koutline=Value(outline.pk if outline else 0, output_field=IntegerField()),
        kversion_id=F("version_id"),
    )
    # Choice positions, joined once answers are counted (not per step record).
    choices_sql, choices_params = _sql(
        Choice.objects.filter(node__version__tree=tree), chid=F("id"), chpos=F("position")
    )
    postgresql = connection.vendor == "postgresql"
    dropped = _count_if(f"nexit = '{SESSION_CLOSED}' AND nkind <> '{SOLUTION}'")
    backtracked = _count_if(f"nexit = '{BACKTRACKED}'")
    counts = f"COUNT(*) AS visits, {dropped} AS dropoffs, {backtracked} AS backtracks"
    if postgresql:
        # One aggregate for the counts and the dwell percentiles (one read of `d`
        # fewer), grouped by the key in the "C" collation: grouping needs only
        # equality, and sorting 150,000 keys byte by byte rather than by the
        # database's collation takes a third less time.
        dwell = _percentile_cont("dur", "dur IS NOT NULL")
        tallies_sql = f"""
    tallies AS (
        SELECT nkey COLLATE "C" AS nkey, {counts},
               {dwell} AS median,
               {dwell} AS p90
        FROM d GROUP BY nkey COLLATE "C"
    )"""
        tallies_params = [MEDIAN, P90]
        outline_key = 'l.kkey COLLATE "C"'
    else:
        dwell_sql, tallies_params = _percentile_ctes(
            "dwell",
            source="d",
            group="nkey",
            value="dur",
            where="1 = 1",
            fractions={"median": MEDIAN, "p90": P90},
        )
        tallies_sql = f"""{dwell_sql},
    tallies AS (
        SELECT c.*, w.median, w.p90
        FROM (SELECT nkey, {counts} FROM d GROUP BY nkey) c
        LEFT JOIN dwell w ON w.grp = c.nkey
    )"""
        outline_key = "l.kkey"
    inline = "NOT MATERIALIZED " if postgresql else ""
    materialized = "MATERIALIZED " if postgresql else ""
    sql = f"""
    WITH d AS {inline}({decisions_sql}),
    known AS ({known_sql}),
    choices AS ({choices_sql}),
    {tallies_sql},
    answered AS (
        SELECT nkey, label, MIN(cid) AS cid, COUNT(*) AS answers,
               CAST(COUNT(*) AS DOUBLE PRECISION)
                   / CAST(SUM(COUNT(*)) OVER (PARTITION BY nkey) AS DOUBLE PRECISION) AS share
        FROM d
        WHERE nexit = '{ANSWERED}' AND nkind = '{QUESTION}'
        GROUP BY nkey, label
    ),
    answers AS {materialized}(
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
                         AND t.median = MAX(CASE WHEN l.kkind <> '{SOLUTION}'
                                                 THEN t.median END) OVER ()
                    THEN 1 ELSE 0 END AS is_slowest,
               CASE WHEN t.dropoffs > 0 AND t.dropoffs = MAX(t.dropoffs) OVER ()
                    THEN 1 ELSE 0 END AS is_most_abandoned
        FROM latest l
        LEFT JOIN tallies t ON t.nkey = {outline_key}
        WHERE l.rn = 1 AND (l.opos IS NOT NULL OR t.nkey IS NOT NULL)
    )
    SELECT s.*, a.label, a.answers, a.share
    FROM steps s LEFT JOIN answers a ON a.nkey = s.node_key
    ORDER BY CASE WHEN s.opos IS NULL THEN 1 ELSE 0 END, s.opos, s.node_key, a.cpos, a.label"""
    rows: dict[str, NodeRow] = {}
    for row in _fetch(sql, params + known_params + choices_params + tallies_params):
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


def engineers(report_filter: ReportFilter) -> list[EngineerRow]:
    """Per engineer with sessions in the period: sessions, resolution rate, median
    duration of completed sessions, escalations."""
    User = get_user_model()
    sessions_sql, params = _sessions_sql([report_filter], eid=F("engineer_id"))
    names_sql, names_params = _sql(
        User.objects.all(),
        eid=F("pk"),
        uname=F(User.USERNAME_FIELD),
        ufirst=F("first_name"),
        ulast=F("last_name"),
    )
    figures_sql, figures_params = _figures_ctes("eid", percentiles={"median": ("dur", MEDIAN)})
    sql = f"""
    {_with_sessions(sessions_sql)},
    names AS ({names_sql}),
    {figures_sql}
    SELECT n.uname AS engineer,
           TRIM(n.ufirst || ' ' || n.ulast) AS engineer_name,
           t.started AS sessions,
           {_rate("t.success", "t.judged")} AS resolution_rate,
           t.median AS median_duration_seconds,
           t.escalated AS escalations
    FROM figures t
    JOIN names n ON n.eid = t.grp
    ORDER BY t.started DESC, n.uname ASC"""
    all_params = params + names_params + figures_params
    return [EngineerRow(**row) for row in _fetch(sql, all_params)]


def daily(report_filter: ReportFilter) -> list[DayRow]:
    """Sessions started per calendar day (TIME_ZONE) by outcome kind; `active` for those
    not completed yet. Only days with sessions: `daily_series` fills in the rest."""
    sessions_sql, params = _sessions_sql(
        [report_filter],
        day=TruncDate("started_at", tzinfo=ZoneInfo(settings.TIME_ZONE)),
    )
    outcomes_sql, outcomes_params = _sql(Outcome.objects.all(), oid=F("id"), okind=F("kind"))
    by_kind = ",\n".join(
        f"CAST(SUM(CASE WHEN o.okind = '{kind}' THEN b.n ELSE 0 END) AS BIGINT) AS {kind}"
        for kind in KINDS
    )
    # Counted per day and outcome id, then the outcomes joined: no per-session join.
    sql = f"""
    WITH s AS ({sessions_sql}),
    outcomes AS ({outcomes_sql}),
    by_outcome AS (SELECT day, oid, COUNT(*) AS n, COUNT(fin) AS done FROM s GROUP BY day, oid)
    SELECT b.day, CAST(SUM(b.n) AS BIGINT) AS sessions,
           {by_kind},
           CAST(SUM(b.n - b.done) AS BIGINT) AS active
    FROM by_outcome b LEFT JOIN outcomes o ON o.oid = b.oid
    GROUP BY b.day ORDER BY b.day"""
    rows = _fetch(sql, params + outcomes_params)
    return [DayRow(**{**row, "day": _as_date(row["day"])}) for row in rows]


def daily_series(report_filter: ReportFilter) -> list[DayRow]:
    """`daily` with a row for every day of the period, zeros where nothing started."""
    found = {row.day: row for row in daily(report_filter)}
    return [
        found.get(day) or DayRow(day, 0, 0, 0, 0, 0, 0)
        for day in (report_filter.date_from + timedelta(days=n) for n in range(report_filter.days))
    ]


def outcomes(report_filter: ReportFilter) -> list[OutcomeRow]:
    """Completed sessions per outcome, with each outcome's share of them."""
    sessions_sql, params = _sessions_sql([report_filter])
    outcomes_sql, outcomes_params = _sql(
        Outcome.objects.all(),
        oid=F("id"),
        ocode=F("code"),
        olabel=F("label"),
        okind=F("kind"),
        oorder=F("order"),
    )
    # Counted per outcome id, then the outcomes joined: no per-session join.
    sql = f"""
    WITH s AS ({sessions_sql}),
    outcomes AS ({outcomes_sql}),
    counted AS (SELECT oid, COUNT(*) AS n FROM s WHERE fin IS NOT NULL GROUP BY oid)
    SELECT o.ocode AS outcome, o.olabel AS outcome_label, o.okind AS outcome_kind,
           c.n AS sessions,
           CAST(c.n AS DOUBLE PRECISION)
               / CAST(SUM(c.n) OVER () AS DOUBLE PRECISION) AS share
    FROM counted c JOIN outcomes o ON o.oid = c.oid
    ORDER BY o.oorder, o.olabel"""
    return [OutcomeRow(**row) for row in _fetch(sql, params + outcomes_params)]
