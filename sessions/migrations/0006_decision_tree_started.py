"""Copy each step's session tree and start onto the step (nullable until backfilled).

The tree drill-down reads a tree's steps over a date range; with these two
columns (set by the services when a step is written, never changed afterwards)
that is one range of a covering index instead of a join of sessions and a
sequential scan of the steps (docs/PERFORMANCE.md). 0007 fills existing rows,
0008 makes the columns required and adds the indexes.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("flow_sessions", "0005_performance_indexes"),
        ("trees", "0002_node_and_tree_help_texts"),
    ]

    operations = [
        migrations.AddField(
            model_name="decision",
            name="session_started_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="decision",
            name="tree",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="trees.tree",
            ),
        ),
    ]
