"""Build the rollups of the sessions already in the database (`reports.rollups.rebuild`).

It runs the rebuild of today's code, not historical models: the rollups are derived
data, and the command `manage.py rebuild_rollups` does the same at any time. On a
large database this takes 10–20 s per 100,000 sessions (and their steps), inside the migration's
transaction.
"""

from django.db import migrations


def build(apps, schema_editor):
    from reports.rollups import rebuild

    rebuild(using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_rollups"),
        ("flow_sessions", "0017_decision_started_engineer"),
    ]

    operations = [migrations.RunPython(build, migrations.RunPython.noop)]
