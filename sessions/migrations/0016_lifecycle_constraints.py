"""The constraints and covering indexes of active time, once 0014 filled it,
and the end of the old outcome audit, once 0015 copied its rows.

The reports read `active_seconds` instead of `duration_seconds` from the
covering indexes, so the three session indexes and the drill-down's step
index are rebuilt with the new column.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("flow_sessions", "0015_outcome_changes_to_session_changes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveField(
            model_name="outcomechange",
            name="changed_by",
        ),
        migrations.RemoveField(
            model_name="outcomechange",
            name="new_outcome",
        ),
        migrations.RemoveField(
            model_name="outcomechange",
            name="old_outcome",
        ),
        migrations.RemoveField(
            model_name="outcomechange",
            name="session",
        ),
        migrations.RemoveIndex(
            model_name="decision",
            name="decision_tree_started",
        ),
        migrations.RemoveIndex(
            model_name="session",
            name="session_started_covering",
        ),
        migrations.RemoveIndex(
            model_name="session",
            name="session_tree_started",
        ),
        migrations.RemoveIndex(
            model_name="session",
            name="session_engineer_covering",
        ),
        migrations.AddIndex(
            model_name="decision",
            index=models.Index(
                fields=["tree", "session_started_at"],
                include=(
                    "node_key",
                    "node_kind",
                    "active_seconds",
                    "exit",
                    "answer_label",
                    "choice",
                ),
                name="decision_tree_started",
            ),
        ),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(
                fields=["started_at"],
                include=(
                    "id",
                    "completed_at",
                    "active_seconds",
                    "step_count",
                    "outcome",
                    "tree",
                    "engineer",
                ),
                name="session_started_covering",
            ),
        ),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(
                fields=["tree", "started_at"],
                include=(
                    "id",
                    "completed_at",
                    "active_seconds",
                    "step_count",
                    "outcome",
                    "engineer",
                ),
                name="session_tree_started",
            ),
        ),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(
                fields=["engineer", "started_at"],
                include=("id", "completed_at", "active_seconds", "step_count", "outcome", "tree"),
                name="session_engineer_covering",
            ),
        ),
        migrations.AddConstraint(
            model_name="decision",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("active_seconds__isnull", True), ("exited_at__isnull", True)),
                    models.Q(
                        ("active_seconds__isnull", False),
                        ("active_seconds__lte", models.F("duration_seconds")),
                        ("exited_at__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="decision_active_within_span",
            ),
        ),
        migrations.AddConstraint(
            model_name="session",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("completed_at__isnull", True),
                    models.Q(("active_seconds__isnull", False), ("paused_at__isnull", True)),
                    _connector="OR",
                ),
                name="session_completed_not_paused",
            ),
        ),
        migrations.AddConstraint(
            model_name="session",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("active_seconds__isnull", True),
                    models.Q(
                        ("active_seconds__lte", models.F("duration_seconds")),
                        ("duration_seconds__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="session_active_within_total",
            ),
        ),
        migrations.AddConstraint(
            model_name="session",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("paused_at__isnull", True),
                    ("paused_at__gte", models.F("started_at")),
                    _connector="OR",
                ),
                name="session_paused_after_start",
            ),
        ),
        migrations.DeleteModel(
            name="OutcomeChange",
        ),
    ]
