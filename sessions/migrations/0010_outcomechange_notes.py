"""The outcome audit keeps the notes and next steps before and after each change.

Rows written before this keep empty texts on both sides: what the notes said
then was never recorded, and nothing here pretends to know it.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("flow_sessions", "0009_session_engineer_covering"),
    ]

    operations = [
        migrations.AddField(
            model_name="outcomechange",
            name="old_outcome_notes",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="outcomechange",
            name="new_outcome_notes",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="outcomechange",
            name="old_next_steps",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="outcomechange",
            name="new_next_steps",
            field=models.TextField(blank=True, default=""),
        ),
    ]
