"""Troubleshooting sessions, their timed decisions and outcomes (SPEC §3).

Writes go through `sessions.services`, which keeps the timing rules; the
models hold the invariants the database can enforce itself.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
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


# The columns the reports read from a session, carried by its covering indexes.
REPORT_COLUMNS = [
    "id",
    "completed_at",
    "duration_seconds",
    "step_count",
    "outcome",
    "tree",
    "engineer",
]


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

    def visible_to(self, user) -> SessionQuerySet:
        """Every session for managers, only their own for everyone else."""
        if user.has_perm("flow_sessions.view_all_sessions"):
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
        ]
        indexes = [
            models.Index(fields=["engineer", "-created_at"], name="session_engineer_created"),
            models.Index(fields=["tree", "-created_at"], name="session_tree_created"),
            models.Index(fields=["-created_at"], name="session_created"),
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

    def get_absolute_url(self) -> str:
        return reverse("sessions:detail", args=[self.pk])

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


# The columns the tree drill-down reads from a step, carried by its covering index.
DRILL_DOWN_COLUMNS = [
    "node_key",
    "node_kind",
    "duration_seconds",
    "exit",
    "answer_label",
    "choice",
]


class DecisionQuerySet(models.QuerySet):
    def open(self) -> DecisionQuerySet:
        return self.filter(exited_at__isnull=True)

    def on_path(self) -> DecisionQuerySet:
        """The steps that make up the session's path: not undone, not left with Back."""
        return self.filter(undone=False).exclude(exit=Decision.Exit.BACKTRACKED)


class Decision(models.Model):
    class Exit(models.TextChoices):
        ANSWERED = "answered", "Answered"
        BACKTRACKED = "backtracked", "Backtracked"
        SESSION_CLOSED = "session_closed", "Session closed"

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
        ]
        indexes = [
            models.Index(fields=["node_key", "session"], name="decision_node_key"),
            # The tree drill-down: a tree's steps over a date range, index-only.
            models.Index(
                fields=["tree", "session_started_at"],
                include=DRILL_DOWN_COLUMNS,
                name="decision_tree_started",
            ),
            # Completed sessions whose last step is not a solution (drop-offs), by
            # the session's start, with its tree: no join to sessions.
            models.Index(
                fields=["session_started_at"],
                include=["tree"],
                condition=Q(exit="session_closed") & ~Q(node_kind="solution"),
                name="decision_dropoff_started",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.node_key}"

    @property
    def is_open(self) -> bool:
        return self.exited_at is None


class OutcomeChange(models.Model):
    """Audit trail: every change of a session's outcome, its notes or next steps (SPEC §3).

    Each row keeps the outcome, notes and next steps before and after the
    change, so nothing an admin corrects is lost. A notes-only correction has
    `old_outcome == new_outcome`. Rows written before the notes were audited
    have empty notes and next steps on both sides.
    """

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="outcome_changes")
    old_outcome = models.ForeignKey(
        Outcome, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    new_outcome = models.ForeignKey(Outcome, on_delete=models.PROTECT, related_name="+")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    changed_at = models.DateTimeField()
    source = models.CharField(max_length=12, choices=ClosedFrom.choices)
    old_outcome_notes = models.TextField(blank=True, default="")
    new_outcome_notes = models.TextField(blank=True, default="")
    old_next_steps = models.TextField(blank=True, default="")
    new_next_steps = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["session", "changed_at", "id"]

    def __str__(self) -> str:
        if not self.outcome_changed:
            return f"{self.new_outcome}: {', '.join(self.changed_texts) or 'unchanged'}"
        return f"{self.old_outcome or '—'} → {self.new_outcome}"

    @property
    def outcome_changed(self) -> bool:
        return self.old_outcome_id != self.new_outcome_id

    @property
    def notes_changed(self) -> bool:
        return self.old_outcome_notes != self.new_outcome_notes

    @property
    def next_steps_changed(self) -> bool:
        return self.old_next_steps != self.new_next_steps

    @property
    def changed_texts(self) -> list[str]:
        """Which texts this change rewrote: "notes", "next steps"."""
        return [
            name
            for name, changed in (
                ("notes", self.notes_changed),
                ("next steps", self.next_steps_changed),
            )
            if changed
        ]
