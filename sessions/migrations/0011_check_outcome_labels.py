"""Refuse to go on while two outcomes share a label, ignoring case (before 0012).

Renaming one of them here would change what past sessions, reports and exports
show without anyone deciding it, so the migration stops instead and names the
outcomes to rename (Admin › Outcomes) before migrating again.
"""

from django.db import migrations
from django.db.models import Count
from django.db.models.functions import Lower


def check_labels(apps, schema_editor):
    Outcome = apps.get_model("flow_sessions", "Outcome")
    clashes = (
        Outcome.objects.annotate(folded=Lower("label"))
        .values("folded")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("folded", flat=True)
    )
    groups = []
    for folded in sorted(clashes):
        rows = Outcome.objects.annotate(folded=Lower("label")).filter(folded=folded)
        groups.append(", ".join(f"“{o.label}” (code {o.code})" for o in rows.order_by("code")))
    if groups:
        raise RuntimeError(
            "Two or more outcomes share a label (ignoring case): "
            + "; ".join(groups)
            + ". Give each a different label in the admin (Outcomes), then run migrate again. "
            "Nothing was changed."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("flow_sessions", "0010_outcomechange_notes"),
    ]

    operations = [
        migrations.RunPython(check_labels, migrations.RunPython.noop, elidable=True),
    ]
