"""Troubleshooting sessions, their timed decisions and outcomes (SPEC §3).

Writes go through `sessions.services`, which keeps the timing rules; the
models hold the invariants the database can enforce itself.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Lower
from django.db.models.lookups import In
from django.urls import reverse

from resolutionflow import clock
from trees.models import Choice, Node, Tree, TreeVersion


class OutcomeQuerySet(models.QuerySet):
    def active(self) -> OutcomeQuerySet:
        return self.filter(is_active=True)


class Outcome(models.Model):
    class Kind(models.TextChoices):
        SUCCESS = "success", "Success"
        PARTIAL = "partial", "Partial"
        FAILURE = "failure", "Failure"
        NEUTRAL = "neutral", "Neutral"

    BUILTIN_CODES = (
        "resolved",
        "escalated",
        "workaround",
        "unresolved",
        "cancelled",
        "resolved_externally",
    )

    code = models.SlugField(max_length=20, unique=True)
    label = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    colour = models.CharField(
        max_length=7, default="#64748b", help_text="Hex colour of the badge, e.g. #16a34a."
    )
    order = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    is_builtin = models.BooleanField(default=False, editable=False)

    objects = OutcomeQuerySet.as_manager()

    class Meta:
        ordering = ["order", "label"]
        constraints = [
            models.CheckConstraint(
                condition=Q(colour__regex=r"^#[0-9A-Fa-f]{6}$"), name="outcome_colour_hex"
            ),
            # Two outcomes an engineer cannot tell apart in a menu or a report.
            models.UniqueConstraint(
                Lower("label"),
                name="outcome_label_unique_ci",
                violation_error_message="Another outcome already has this label "
                "(labels are compared ignoring case).",
            ),
        ]

    def __str__(self) -> str:
        return self.label


class ClosedFrom(models.TextChoices):
    NAVIGATION = "navigation", "Navigation"
    HISTORY = "history", "History"
    ADMIN = "admin", "Admin"


class ChangeSource(models.TextChoices):
    """Where a change of a session field after the start was made (SPEC §9)."""

    NAVIGATION = "navigation", "Navigation"
    HISTORY = "history", "History"
    ADMIN = "admin", "Admin"
    DETAIL = "detail", "Detail page"


# The columns the reports read from a session, carried by its covering indexes.
REPORT_COLUMNS = [
    "id",
    "completed_at",
    "active_seconds",
    "step_count",
    "outcome",
    "tree",
    "engineer",
]


class InArray(In):
    """`column IN (subquery)`, which PostgreSQL is told as `column = ANY(ARRAY(subquery))`.

    Against an `IN (subquery)` in an OR the planner can only test every row it
    walks (a hashed subplan); the array is computed once, before the plan runs,
    so both sides of the OR can be index probes joined in a bitmap: an
    engineer's history count of 100,000 sessions goes from 19 to 2.6 ms
    (docs/PERFORMANCE.md). SQLite keeps the plain `IN`.
    """

    def get_prep_lookup(self):
        # As `pk__in=queryset` does: a subquery's order is of no use here.
        if isinstance(self.rhs, models.QuerySet):
            self.rhs = self.rhs.order_by()
        return super().get_prep_lookup()

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY(ARRAY{rhs})", (*lhs_params, *rhs_params)


class SessionQuerySet(models.QuerySet):
    def prepared(self) -> SessionQuerySet:
        return self.filter(started_at__isnull=True)

    def active(self) -> SessionQuerySet:
        return self.filter(started_at__isnull=False, completed_at__isnull=True)

    def active_for(self, user) -> SessionQuerySet:
        """`user`'s own sessions in progress, newest first (the home page, the library's banner)."""
        return self.active().filter(engineer=user).order_by("-started_at")

    def completed(self) -> SessionQuerySet:
        return self.filter(completed_at__isnull=False)

    def with_status(self, status: str) -> SessionQuerySet:
        return {
            Session.Status.PREPARED: self.prepared,
            Session.Status.ACTIVE: self.active,
            Session.Status.COMPLETED: self.completed,
        }[Session.Status(status)]()

    def handed_to(self, user) -> SessionQuerySet:
        """Active sessions handed to `user` that they have not stepped in since (home page)."""
        # The reopened step (or a later one) left by them: they have picked it up.
        took_step_since = Decision.objects.filter(
            session=OuterRef("pk"),
            engineer=user,
            entered_at__gte=OuterRef("handed_off_at"),
            exited_at__isnull=False,
        )
        return (
            self.active()
            .filter(engineer=user, handed_off_at__isnull=False)
            .exclude(Exists(took_step_since))
            .order_by("-handed_off_at")
        )

    def waiting_for(self, user) -> SessionQuerySet:
        """Sessions prepared for `user` (by a manager), oldest first: they wait for Start."""
        return self.prepared().filter(engineer=user).order_by("created_at")

    def visible_to(self, user) -> SessionQuerySet:
        """Who sees a session (SPEC §1, §9), the one rule every view and export uses.

        Managers (`view_all_sessions`) see every session; anyone else sees the
        sessions they own now and, read-only, those they took a step in before
        they were handed on. A session changes hands only by a hand-off, and
        only its owner takes steps, so "took a step and is no longer the owner"
        is "handed it off": the small hand-off table answers it, not the steps.
        """
        if user.has_perm("flow_sessions.view_all_sessions"):
            return self
        handed_on = Handoff.objects.filter(from_engineer=user).values("session_id")
        return self.filter(Q(engineer=user) | InArray(F("pk"), handed_on))

    def owned_by(self, user) -> SessionQuerySet:
        """The sessions `user` may change: their own, or any for `close_any_session`."""
        if user.has_perm("flow_sessions.close_any_session"):
            return self
        return self.filter(engineer=user)


class Session(models.Model):
    class Status(models.TextChoices):
        PREPARED = "prepared", "Prepared"
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    engineer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="flow_sessions"
    )
    tree = models.ForeignKey(Tree, on_delete=models.PROTECT, related_name="sessions")
    version = models.ForeignKey(TreeVersion, on_delete=models.PROTECT, related_name="sessions")
    ticket_ref = models.CharField("ticket", max_length=64, blank=True)
    client = models.CharField(max_length=200, blank=True)
    summary = models.TextField(max_length=2_000, blank=True)
    scratchpad = models.TextField(max_length=20_000, blank=True)
    outcome = models.ForeignKey(
        Outcome, on_delete=models.PROTECT, null=True, blank=True, related_name="sessions"
    )
    outcome_notes = models.TextField(max_length=5_000, blank=True)
    next_steps = models.TextField(max_length=5_000, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    closed_from = models.CharField(max_length=12, choices=ClosedFrom.choices, blank=True)
    # Denormalised by the services so lists and reports need no per-row joins.
    step_count = models.PositiveIntegerField(
        default=0, help_text="Steps on the path (answered and not undone, plus the current one)."
    )
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Active time (SPEC §9): wall-clock time less every pause, manual or idle.
    active_seconds = models.PositiveIntegerField(null=True, blank=True)
    paused_seconds = models.FloatField(
        default=0, help_text="Seconds of the pauses that have ended (manual and idle)."
    )
    paused_at = models.DateTimeField(
        null=True, blank=True, help_text="Start of the pause in progress, if any."
    )
    last_activity_at = models.DateTimeField(
        null=True, blank=True, help_text="The last action on the session (for idle time)."
    )
    handed_off_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every save (`save` below): the version a history card is cached
    # under (sessions.cards), so a changed session never shows a stale card.
    revision = models.PositiveIntegerField(default=0, editable=False)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("view_all_sessions", "Can see every engineer's sessions"),
            ("close_any_session", "Can close any engineer's session"),
            ("prepare_session", "Can prepare sessions for engineers"),
            ("view_reports", "Can view manager reports"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True)
                | Q(started_at__isnull=False, outcome__isnull=False),
                name="session_completed_has_start_and_outcome",
            ),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True) | Q(completed_at__gte=F("started_at")),
                name="session_completed_after_start",
            ),
            # A completed session is not paused and has its active time; active
            # time never exceeds the wall-clock total.
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True)
                | Q(paused_at__isnull=True, active_seconds__isnull=False),
                name="session_completed_not_paused",
            ),
            models.CheckConstraint(
                condition=Q(active_seconds__isnull=True)
                | Q(duration_seconds__isnull=False, active_seconds__lte=F("duration_seconds")),
                name="session_active_within_total",
            ),
            models.CheckConstraint(
                condition=Q(paused_at__isnull=True) | Q(paused_at__gte=F("started_at")),
                name="session_paused_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["engineer", "-created_at"], name="session_engineer_created"),
            models.Index(fields=["tree", "-created_at"], name="session_tree_created"),
            # The history's order, with what its page of (id, revision) pairs and
            # an engineer's own history filter need: index-only scans (a deep page
            # skips thousands of rows without touching the table).
            models.Index(
                fields=["-created_at", "-id"],
                include=["revision", "engineer"],
                name="session_created_covering",
            ),
            # Reports read sessions by start date (and tree) through these
            # covering indexes alone: see docs/PERFORMANCE.md.
            models.Index(
                fields=["started_at"],
                include=REPORT_COLUMNS,
                name="session_started_covering",
            ),
            models.Index(
                fields=["tree", "started_at"],
                include=[c for c in REPORT_COLUMNS if c != "tree"],
                name="session_tree_started",
            ),
            models.Index(fields=["outcome", "-created_at"], name="session_outcome_created"),
            # History filter "Active" (a small share of all sessions).
            models.Index(
                fields=["-created_at"],
                condition=Q(started_at__isnull=False, completed_at__isnull=True),
                name="session_active_created",
            ),
            # An engineer's date range (history, reports), and the reports' table
            # per engineer: read in engineer order from the index alone.
            models.Index(
                fields=["engineer", "started_at"],
                include=[c for c in REPORT_COLUMNS if c != "engineer"],
                name="session_engineer_covering",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tree} · {self.ticket_ref or 'no ticket'}"

    def save(self, *args, **kwargs) -> None:
        """Save, and count the change in `revision`, whichever fields are saved.

        Every writer saves through here (the services under a row lock, the admin),
        so a row's revision differs from any it had before: the history's cached
        card of the old revision is simply never asked for again.
        """
        self.revision += 1
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "revision"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("sessions:detail", args=[self.pk])

    def may_change(self, user) -> bool:
        """Whether `user` may step, pause, hand off, edit or post this session (not only
        read it): its engineer, or someone who sees every session."""
        return self.engineer_id == user.pk or user.has_perm("flow_sessions.view_all_sessions")

    @classmethod
    def status_of(
        cls, started_at: datetime | None, completed_at: datetime | None
    ) -> Session.Status:
        """The status the timestamps make (SPEC §3), for rows read without a model
        (the history CSV's `values_list`) as well as for `Session.status`."""
        if started_at is None:
            return cls.Status.PREPARED
        if completed_at is None:
            return cls.Status.ACTIVE
        return cls.Status.COMPLETED

    @property
    def status(self) -> Session.Status:
        return self.status_of(self.started_at, self.completed_at)

    def get_status_display(self) -> str:
        return self.Status(self.status).label

    @property
    def is_prepared(self) -> bool:
        return self.status == self.Status.PREPARED

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def is_completed(self) -> bool:
        return self.status == self.Status.COMPLETED

    @property
    def elapsed(self) -> timedelta | None:
        """Total duration when completed, time so far when active (SPEC §3 rule 5)."""
        if self.started_at is None:
            return None
        end = self.completed_at or clock.now()
        return end - self.started_at

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    def active_elapsed(self, now: datetime | None = None) -> timedelta | None:
        """Active time (SPEC §9): the total when completed, so far when active
        (wall-clock time less the ended pauses and the one in progress)."""
        if self.started_at is None:
            return None
        if self.completed_at is not None and self.active_seconds is not None:
            return timedelta(seconds=self.active_seconds)
        now = now or clock.now()
        end = self.completed_at or self.paused_at or now
        return max(timedelta(0), end - self.clock_origin)

    @property
    def clock_origin(self) -> datetime | None:
        """The start moved on by the ended pauses: while the session runs, its active
        time so far is the time since then (what a cached card's counter is filled from)."""
        if self.started_at is None:
            return None
        return self.started_at + timedelta(seconds=self.paused_seconds)

    def active_since(self, now: datetime | None = None) -> datetime | None:
        """The moment a clock started now would show the active time so far:
        what the page's live counter counts from while the session runs."""
        now = now or clock.now()
        elapsed = self.active_elapsed(now)
        return None if elapsed is None else now - elapsed


# The columns the tree drill-down reads from a step, carried by its covering index.
DRILL_DOWN_COLUMNS = [
    "node_key",
    "node_kind",
    "active_seconds",
    "exit",
    "answer_label",
    "choice",
]


class DecisionQuerySet(models.QuerySet):
    def open(self) -> DecisionQuerySet:
        return self.filter(exited_at__isnull=True)

    def on_path(self) -> DecisionQuerySet:
        """The steps that make up the session's path: not undone, not left with
        Back, not the half of a step that a hand-off closed (it reopens)."""
        return self.filter(undone=False).exclude(
            exit__in=[Decision.Exit.BACKTRACKED, Decision.Exit.HANDED_OFF]
        )


class Decision(models.Model):
    class Exit(models.TextChoices):
        ANSWERED = "answered", "Answered"
        BACKTRACKED = "backtracked", "Backtracked"
        SESSION_CLOSED = "session_closed", "Session closed"
        HANDED_OFF = "handed_off", "Handed off"

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="decisions")
    seq = models.PositiveIntegerField()
    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="+")
    node_key = models.CharField(max_length=100)
    node_kind = models.CharField(max_length=10, choices=Node.Kind.choices)
    node_title = models.CharField(max_length=200)
    choice = models.ForeignKey(
        Choice, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answer_label = models.CharField(max_length=200, blank=True)
    notes = models.TextField(max_length=5_000, blank=True)
    entered_at = models.DateTimeField()
    exited_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    # The step's wall-clock span less the pauses inside it (SPEC §9).
    active_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Who took the step: the session's engineer when it was opened (hand-offs).
    engineer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    exit = models.CharField(max_length=16, choices=Exit.choices, blank=True)
    undone = models.BooleanField(default=False)
    # Copied from the session when the step is written (neither ever changes), so
    # a tree's steps over a date range are one index range with no join to sessions.
    tree = models.ForeignKey(Tree, on_delete=models.PROTECT, related_name="+", db_index=False)
    session_started_at = models.DateTimeField()

    objects = DecisionQuerySet.as_manager()

    class Meta:
        ordering = ["session", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["session", "seq"], name="decision_unique_seq"),
            models.UniqueConstraint(
                fields=["session"],
                condition=Q(exited_at__isnull=True),
                name="decision_one_open_per_session",
            ),
            models.CheckConstraint(
                condition=Q(exited_at__isnull=True) | Q(exited_at__gte=F("entered_at")),
                name="decision_exit_after_entry",
            ),
            models.CheckConstraint(
                condition=Q(exited_at__isnull=True, exit="", duration_seconds__isnull=True)
                | Q(exited_at__isnull=False, duration_seconds__isnull=False) & ~Q(exit=""),
                name="decision_exit_consistent",
            ),
            models.CheckConstraint(
                condition=Q(exited_at__isnull=True, active_seconds__isnull=True)
                | Q(
                    exited_at__isnull=False,
                    active_seconds__isnull=False,
                    active_seconds__lte=F("duration_seconds"),
                ),
                name="decision_active_within_span",
            ),
        ]
        indexes = [
            models.Index(fields=["node_key", "session"], name="decision_node_key"),
            # The tree drill-down: a tree's steps over a date range, index-only.
            models.Index(
                fields=["tree", "session_started_at"],
                include=DRILL_DOWN_COLUMNS,
                name="decision_tree_started",
            ),
            # The drill-down's counts and dwell percentiles per step over a long
            # period: a tree's steps in key and dwell order, index-only, so grouping
            # them needs no sort (issue 20: the busiest tree's year, 150,000 steps).
            models.Index(
                fields=["tree", "node_key", "active_seconds"],
                include=["session_started_at", "exit", "node_kind"],
                name="decision_tree_node_dwell",
            ),
            # Completed sessions whose last step is not a solution (drop-offs), by
            # the session's start, with its tree: no join to sessions.
            models.Index(
                fields=["session_started_at"],
                include=["tree"],
                condition=Q(exit="session_closed") & ~Q(node_kind="solution"),
                name="decision_dropoff_started",
            ),
            # The reports' step time per engineer who took the step (SPEC §9): a
            # period's steps by their session's start, read from the index alone.
            models.Index(
                fields=["session_started_at"],
                include=["engineer", "active_seconds"],
                name="decision_started_engineer",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.node_key}"

    @property
    def is_open(self) -> bool:
        return self.exited_at is None


class Pause(models.Model):
    """A stretch of a session's wall-clock time that is not work (SPEC §9).

    `manual`: Pause … Resume on the navigation page. `idle`: written when the
    next action came more than `IDLE_AFTER_MINUTES` after the previous one; it
    covers the time beyond that threshold and has no `by`. Never deleted.
    Every pause lies inside one step: an action that leaves a step ends the
    pause first.
    """

    class Kind(models.TextChoices):
        MANUAL = "manual", "Paused"
        IDLE = "idle", "Idle"

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="pauses")
    # The step the pause lies in: its active time leaves the pause out.
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="pauses")
    kind = models.CharField(max_length=6, choices=Kind.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["session", "started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session"],
                condition=Q(ended_at__isnull=True),
                name="pause_one_open_per_session",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="pause_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(kind="manual") | Q(ended_at__isnull=False),
                name="pause_idle_is_closed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


class Handoff(models.Model):
    """A session passed from one engineer to another, with what was tried (SPEC §9)."""

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="handoffs")
    from_engineer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    to_engineer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField()
    note = models.TextField(max_length=5_000)

    class Meta:
        ordering = ["session", "at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_engineer=F("to_engineer")), name="handoff_to_someone_else"
            ),
            models.CheckConstraint(condition=~Q(note=""), name="handoff_has_note"),
        ]
        indexes = [
            models.Index(fields=["at"], name="handoff_at"),
            models.Index(fields=["from_engineer", "session"], name="handoff_from_engineer"),
        ]

    def __str__(self) -> str:
        return f"{self.from_engineer} → {self.to_engineer}"


class SessionChange(models.Model):
    """Audit trail: every change of a session field after the start (SPEC §3, §9).

    One row per field and change, with the old and new value as text (an
    outcome by its code), who, when and from where, so nothing is overwritten
    without its old value kept. Completing a session records its outcome (and
    notes, next steps when they changed) with an empty old value.
    """

    class Field(models.TextChoices):
        TICKET_REF = "ticket_ref", "Ticket"
        CLIENT = "client", "Client"
        SUMMARY = "summary", "Summary"
        OUTCOME = "outcome", "Outcome"
        OUTCOME_NOTES = "outcome_notes", "Outcome notes"
        NEXT_STEPS = "next_steps", "Next steps"

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="changes")
    field = models.CharField(max_length=16, choices=Field.choices)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    changed_at = models.DateTimeField()
    source = models.CharField(max_length=12, choices=ChangeSource.choices)

    class Meta:
        ordering = ["session", "changed_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(old_value=F("new_value")), name="sessionchange_changes_something"
            ),
        ]
        indexes = [
            models.Index(
                fields=["old_value"], condition=Q(field="outcome"), name="sessionchange_old_outcome"
            ),
            models.Index(
                fields=["new_value"], condition=Q(field="outcome"), name="sessionchange_new_outcome"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_field_display()}: {self.old_value or '—'} → {self.new_value or '—'}"
