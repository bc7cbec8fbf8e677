"""Pauses, hand-offs, one audit of every field change, active time and who took each step (SPEC §9).

The new columns are added empty here; 0014 fills them for the sessions
already recorded, 0015 moves the outcome audit over, and 0016 adds the
constraints that need the filled columns.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("flow_sessions", "0012_outcome_label_unique_ci"),
        ("trees", "0003_pg_trgm"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Handoff",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField()),
                ("note", models.TextField(max_length=5000)),
            ],
            options={
                "ordering": ["session", "at", "id"],
            },
        ),
        migrations.CreateModel(
            name="Pause",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[("manual", "Paused"), ("idle", "Idle")], max_length=6
                    ),
                ),
                ("started_at", models.DateTimeField()),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "ordering": ["session", "started_at", "id"],
            },
        ),
        migrations.CreateModel(
            name="SessionChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "field",
                    models.CharField(
                        choices=[
                            ("ticket_ref", "Ticket"),
                            ("client", "Client"),
                            ("summary", "Summary"),
                            ("outcome", "Outcome"),
                            ("outcome_notes", "Outcome notes"),
                            ("next_steps", "Next steps"),
                        ],
                        max_length=16,
                    ),
                ),
                ("old_value", models.TextField(blank=True)),
                ("new_value", models.TextField(blank=True)),
                ("changed_at", models.DateTimeField()),
                (
                    "source",
                    models.CharField(
                        choices=[
                            ("navigation", "Navigation"),
                            ("history", "History"),
                            ("admin", "Admin"),
                            ("detail", "Detail page"),
                        ],
                        max_length=12,
                    ),
                ),
            ],
            options={
                "ordering": ["session", "changed_at", "id"],
            },
        ),
        migrations.AddField(
            model_name="decision",
            name="active_seconds",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="decision",
            name="engineer",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="session",
            name="active_seconds",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="session",
            name="handed_off_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="session",
            name="last_activity_at",
            field=models.DateTimeField(
                blank=True, help_text="The last action on the session (for idle time).", null=True
            ),
        ),
        migrations.AddField(
            model_name="session",
            name="paused_at",
            field=models.DateTimeField(
                blank=True, help_text="Start of the pause in progress, if any.", null=True
            ),
        ),
        migrations.AddField(
            model_name="session",
            name="paused_seconds",
            field=models.FloatField(
                default=0, help_text="Seconds of the pauses that have ended (manual and idle)."
            ),
        ),
        migrations.AlterField(
            model_name="decision",
            name="exit",
            field=models.CharField(
                blank=True,
                choices=[
                    ("answered", "Answered"),
                    ("backtracked", "Backtracked"),
                    ("session_closed", "Session closed"),
                    ("handed_off", "Handed off"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="handoff",
            name="by",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="handoff",
            name="from_engineer",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="handoff",
            name="session",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="handoffs",
                to="flow_sessions.session",
            ),
        ),
        migrations.AddField(
            model_name="handoff",
            name="to_engineer",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="pause",
            name="by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="pause",
            name="decision",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="pauses",
                to="flow_sessions.decision",
            ),
        ),
        migrations.AddField(
            model_name="pause",
            name="session",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="pauses",
                to="flow_sessions.session",
            ),
        ),
        migrations.AddField(
            model_name="sessionchange",
            name="changed_by",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="sessionchange",
            name="session",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="changes",
                to="flow_sessions.session",
            ),
        ),
        migrations.AddIndex(
            model_name="handoff",
            index=models.Index(fields=["at"], name="handoff_at"),
        ),
        migrations.AddIndex(
            model_name="handoff",
            index=models.Index(fields=["from_engineer", "session"], name="handoff_from_engineer"),
        ),
        migrations.AddConstraint(
            model_name="handoff",
            constraint=models.CheckConstraint(
                condition=models.Q(("from_engineer", models.F("to_engineer")), _negated=True),
                name="handoff_to_someone_else",
            ),
        ),
        migrations.AddConstraint(
            model_name="handoff",
            constraint=models.CheckConstraint(
                condition=models.Q(("note", ""), _negated=True), name="handoff_has_note"
            ),
        ),
        migrations.AddConstraint(
            model_name="pause",
            constraint=models.UniqueConstraint(
                condition=models.Q(("ended_at__isnull", True)),
                fields=("session",),
                name="pause_one_open_per_session",
            ),
        ),
        migrations.AddConstraint(
            model_name="pause",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("ended_at__isnull", True),
                    ("ended_at__gte", models.F("started_at")),
                    _connector="OR",
                ),
                name="pause_ends_after_start",
            ),
        ),
        migrations.AddConstraint(
            model_name="pause",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("kind", "manual"), ("ended_at__isnull", False), _connector="OR"
                ),
                name="pause_idle_is_closed",
            ),
        ),
        migrations.AddIndex(
            model_name="sessionchange",
            index=models.Index(
                condition=models.Q(("field", "outcome")),
                fields=["old_value"],
                name="sessionchange_old_outcome",
            ),
        ),
        migrations.AddIndex(
            model_name="sessionchange",
            index=models.Index(
                condition=models.Q(("field", "outcome")),
                fields=["new_value"],
                name="sessionchange_new_outcome",
            ),
        ),
        migrations.AddConstraint(
            model_name="sessionchange",
            constraint=models.CheckConstraint(
                condition=models.Q(("old_value", models.F("new_value")), _negated=True),
                name="sessionchange_changes_something",
            ),
        ),
    ]
