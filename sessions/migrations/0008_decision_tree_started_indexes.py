"""Require the steps' tree and session start (filled by 0007) and index them.

- decision_tree_started: (tree, session start) including every column the tree
  drill-down reads, so a tree's period is an index-only range scan.
- decision_dropoff_started (replaces decision_dropoff): the closing steps away
  from a solution by session start, with their tree: the per-tree drop-off
  rate no longer joins sessions.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("flow_sessions", "0007_backfill_decision_tree_started"),
        ("trees", "0002_node_and_tree_help_texts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="decision",
            name="session_started_at",
            field=models.DateTimeField(),
        ),
        migrations.AlterField(
            model_name="decision",
            name="tree",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="trees.tree",
            ),
        ),
        migrations.RemoveIndex(
            model_name="decision",
            name="decision_dropoff",
        ),
        migrations.AddIndex(
            model_name="decision",
            index=models.Index(
                fields=["tree", "session_started_at"],
                include=(
                    "node_key",
                    "node_kind",
                    "duration_seconds",
                    "exit",
                    "answer_label",
                    "choice",
                ),
                name="decision_tree_started",
            ),
        ),
        migrations.AddIndex(
            model_name="decision",
            index=models.Index(
                condition=models.Q(
                    ("exit", "session_closed"),
                    models.Q(("node_kind", "solution"), _negated=True),
                ),
                fields=["session_started_at"],
                include=("tree",),
                name="decision_dropoff_started",
            ),
        ),
    ]
