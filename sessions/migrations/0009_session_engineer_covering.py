"""session_engineer_covering replaces session_engineer_started.

The same key, (engineer, started_at), now including the columns the reports
read (like session_started_covering and session_tree_started): the table per
engineer reads a year of sessions in engineer order from the index alone, so
its medians need no sort of the rows by engineer and no visit to the table
(76 → 35 ms for the year on the benchmark's data).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("flow_sessions", "0008_decision_tree_started_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="session",
            name="session_engineer_started",
        ),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(
                fields=["engineer", "started_at"],
                include=(
                    "id",
                    "completed_at",
                    "duration_seconds",
                    "step_count",
                    "outcome",
                    "tree",
                ),
                name="session_engineer_covering",
            ),
        ),
    ]
