"""The API's request and response documents (pydantic, through django-ninja).

The OpenAPI schema at /api/v1/openapi.json is generated from these classes.
The session document is SPEC §5's JSON export as `sessions.exports` builds
it; its models allow extra keys, so fields the export gains later (pause and
hand-off figures, say) pass through before the schema names them.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from ninja import Field, Schema
from pydantic import ConfigDict


class Error(Schema):
    detail: str = Field(description="What went wrong, in words.")


class ValidationErrorItem(Schema):
    model_config = ConfigDict(extra="allow")
    loc: list[str | int] = []
    msg: str = ""


class ValidationErrors(Schema):
    detail: list[ValidationErrorItem] | str


# --- trees ---------------------------------------------------------------------------


class TreeSummary(Schema):
    slug: str
    name: str
    description: str
    category: str
    tags: list[str]
    baseline_minutes: int | None
    version: int = Field(description="The published version's number.")
    published_at: datetime | None
    url: str = Field(description="The tree's page in the app.")


class TreeList(Schema):
    items: list[TreeSummary]


class TreeChoice(Schema):
    model_config = ConfigDict(extra="allow")
    label: str
    next: str


class TreeNode(Schema):
    model_config = ConfigDict(extra="allow")
    key: str
    kind: str
    title: str


class TreeDocument(Schema):
    """The published version as the tree interchange format (SPEC §2.1)."""

    model_config = ConfigDict(extra="allow")
    format: str
    slug: str
    name: str
    start: str | None
    nodes: list[TreeNode]


class TreeDetail(TreeSummary):
    document: TreeDocument


# --- sessions ------------------------------------------------------------------------


class SessionTree(Schema):
    model_config = ConfigDict(extra="allow")
    slug: str
    name: str
    version: int


class SessionOutcome(Schema):
    model_config = ConfigDict(extra="allow")
    code: str
    label: str
    kind: Literal["success", "partial", "failure", "neutral"]


class SessionItem(Schema):
    id: uuid.UUID
    url: str = Field(description="This session's document in the API.")
    tree: SessionTree
    engineer: str
    ticket_ref: str
    client: str
    summary: str
    status: Literal["prepared", "active", "completed"]
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration_seconds: int | None
    active_seconds: int | None = Field(
        description="Time worked, pauses and idle time left out; null until completed."
    )
    outcome: SessionOutcome | None


class SessionPage(Schema):
    items: list[SessionItem]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class SessionPause(Schema):
    started_at: str
    ended_at: str | None = Field(description="null while the session is paused.")
    kind: Literal["manual", "idle"]
    by: str | None = Field(description="Who paused (username); null for idle time.")


class SessionHandoff(Schema):
    from_: str = Field(alias="from", description="Username of the engineer who handed it on.")
    to: str = Field(description="Username of the colleague who took it.")
    at: str
    note: str


class SessionChange(Schema):
    field: str = Field(
        description="ticket_ref, client, summary, outcome, outcome_notes or next_steps."
    )
    old: str | None
    new: str | None
    by: str | None
    at: str
    source: str


class SessionStep(Schema):
    model_config = ConfigDict(extra="allow")
    seq: int
    node_key: str
    node_kind: str
    title: str
    answer: str
    notes: str
    entered_at: str
    exited_at: str | None
    duration_seconds: int | None
    active_seconds: int | None = Field(description="Time on the step less pauses.")
    engineer: str = Field(description="Username of the engineer who took the step.")
    exit: str | None
    undone: bool


class SessionDocument(Schema):
    """SPEC §5's `resolutionflow/session@1` document."""

    model_config = ConfigDict(extra="allow")
    format: str
    id: str
    tree: SessionTree
    engineer: str
    ticket_ref: str
    client: str
    summary: str
    status: Literal["prepared", "active", "completed"]
    started_at: str | None
    completed_at: str | None
    duration_seconds: int | None
    active_seconds: int | None = Field(
        description="Time worked, pauses and idle time left out (so far, for an active one)."
    )
    outcome: SessionOutcome | None
    outcome_notes: str
    next_steps: str
    scratchpad: str
    pauses: list[SessionPause]
    handoffs: list[SessionHandoff]
    changes: list[SessionChange]
    steps: list[SessionStep]


class SessionStart(Schema):
    """Start a session on a published tree, as the Start form on its page does."""

    tree: str = Field(description="The tree's slug.", max_length=200)
    ticket_ref: str = Field("", max_length=64)
    client: str = Field("", max_length=200)
    summary: str = Field("", max_length=2000)
    session_id: uuid.UUID | None = Field(
        None,
        description="Optional idempotency key: sending the same id again returns the "
        "session the first request started instead of starting another.",
    )


# --- reports -------------------------------------------------------------------------


class ReportFilters(Schema):
    from_: date = Field(alias="from")
    to: date
    tree: str | None
    engineer: str | None


class SummaryRow(Schema):
    sessions_started: int
    sessions_completed: int
    sessions_active: int
    resolution_rate: float | None
    escalation_rate: float | None
    median_duration_seconds: float | None
    p90_duration_seconds: float | None
    time_saved_seconds: int


class TreeRow(Schema):
    tree: str
    tree_name: str
    sessions: int
    completed: int
    resolution_rate: float | None
    escalation_rate: float | None
    median_duration_seconds: float | None
    median_steps: float | None
    dropoff_rate: float | None


class ChoiceShare(Schema):
    label: str
    answers: int
    share: float


class NodeRow(Schema):
    node_key: str
    node_title: str
    node_kind: str
    visits: int
    median_dwell_seconds: float | None
    p90_dwell_seconds: float | None
    dropoffs: int
    backtracks: int
    choice_shares: list[ChoiceShare]


class EngineerRow(Schema):
    engineer: str
    engineer_name: str
    sessions: int
    resolution_rate: float | None
    median_duration_seconds: float | None
    escalations: int
    handoffs: int = Field(description="Hand-offs this engineer gave in the period's sessions.")
    step_seconds: int = Field(
        description="Active time of the steps this engineer took, whoever owns the session now."
    )


class DayRow(Schema):
    day: date
    sessions: int
    success: int
    partial: int
    failure: int
    neutral: int
    active: int


class OutcomeRow(Schema):
    outcome: str
    outcome_label: str
    outcome_kind: str
    sessions: int
    share: float | None


class SummaryReport(Schema):
    filters: ReportFilters
    row: SummaryRow


class TreesReport(Schema):
    filters: ReportFilters
    rows: list[TreeRow]


class NodesReport(Schema):
    filters: ReportFilters
    rows: list[NodeRow]


class EngineersReport(Schema):
    filters: ReportFilters
    rows: list[EngineerRow]


class DailyReport(Schema):
    filters: ReportFilters
    rows: list[DayRow]


class OutcomesReport(Schema):
    filters: ReportFilters
    rows: list[OutcomeRow]
