"""No two outcomes share a label, compared ignoring case (checked first by 0011)."""

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("flow_sessions", "0011_check_outcome_labels"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="outcome",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("label"),
                name="outcome_label_unique_ci",
                violation_error_message="Another outcome already has this label "
                "(labels are compared ignoring case).",
            ),
        ),
    ]
