"""Migrations 0013–0016 on sessions recorded before SPEC §9.

The database is taken back to 0012, rows are written with the models of then,
and the migrations run forward: active time equals wall-clock time, each step
has its engineer, an active session its last action, and the old outcome audit
is in the new one, field by field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from sessions.models import Decision, Session, SessionChange
from sessions.tests.factories import UserFactory, build_version

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("flow_sessions", "0012_outcome_label_unique_ci")]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_it_gives_old_sessions_active_time_and_moves_the_outcome_audit():
    alice = UserFactory(username="alice")
    version = build_version()
    start = version.nodes.get(is_start=True)
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    OldSession = old.get_model("flow_sessions", "Session")
    OldDecision = old.get_model("flow_sessions", "Decision")
    OldChange = old.get_model("flow_sessions", "OutcomeChange")
    OldOutcome = old.get_model("flow_sessions", "Outcome")
    resolved = OldOutcome.objects.get(code="resolved")
    escalated = OldOutcome.objects.get(code="escalated")
    step = {
        "node_id": start.pk,
        "node_key": start.key,
        "node_kind": start.kind,
        "node_title": start.title,
        "tree_id": version.tree_id,
    }
    done = OldSession.objects.create(
        engineer_id=alice.pk,
        tree_id=version.tree_id,
        version_id=version.pk,
        started_at=T0,
        completed_at=T0 + timedelta(seconds=90),
        duration_seconds=90,
        outcome=resolved,
        step_count=1,
    )
    OldDecision.objects.create(
        session=done,
        seq=1,
        entered_at=T0,
        exited_at=T0 + timedelta(seconds=90),
        duration_seconds=90,
        exit="session_closed",
        session_started_at=T0,
        **step,
    )
    OldChange.objects.create(
        session=done, new_outcome=escalated, changed_at=T0, source="navigation"
    )
    OldChange.objects.create(
        session=done,
        old_outcome=escalated,
        new_outcome=resolved,
        old_outcome_notes="To L3",
        new_outcome_notes="Fixed by L3",
        changed_by_id=alice.pk,
        changed_at=T0 + timedelta(hours=1),
        source="admin",
    )
    running = OldSession.objects.create(
        engineer_id=alice.pk,
        tree_id=version.tree_id,
        version_id=version.pk,
        started_at=T0,
        step_count=1,
    )
    OldDecision.objects.create(session=running, seq=1, entered_at=T0, session_started_at=T0, **step)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    done_now = Session.objects.get(pk=done.pk)
    assert (done_now.duration_seconds, done_now.active_seconds) == (90, 90)
    assert Decision.objects.get(session=done_now).active_seconds == 90
    assert set(Decision.objects.values_list("engineer__username", flat=True)) == {"alice"}
    running_now = Session.objects.get(pk=running.pk)
    assert (running_now.last_activity_at, running_now.paused_seconds) == (T0, 0)
    assert list(
        SessionChange.objects.filter(session=done_now).values_list(
            "field", "old_value", "new_value", "source"
        )
    ) == [
        ("outcome", "", "escalated", "navigation"),
        ("outcome", "escalated", "resolved", "admin"),
        ("outcome_notes", "To L3", "Fixed by L3", "admin"),
    ]
