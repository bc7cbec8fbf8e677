"""The six built-in outcomes of SPEC §3. They cannot be deleted, only edited."""

from django.db import migrations

BUILTINS = [
    # code, label, kind, colour, order
    ("resolved", "Resolved", "success", "#15803d", 10),
    ("escalated", "Escalated", "failure", "#b45309", 20),
    ("workaround", "Workaround", "partial", "#0369a1", 30),
    ("unresolved", "Unresolved", "failure", "#b91c1c", 40),
    ("cancelled", "Cancelled", "neutral", "#475569", 50),
    ("resolved_externally", "Resolved externally", "neutral", "#6d28d9", 60),
]


def create_outcomes(apps, schema_editor):
    Outcome = apps.get_model("flow_sessions", "Outcome")
    for code, label, kind, colour, order in BUILTINS:
        Outcome.objects.update_or_create(
            code=code,
            defaults={
                "label": label,
                "kind": kind,
                "colour": colour,
                "order": order,
                "is_active": True,
                "is_builtin": True,
            },
        )


def remove_outcomes(apps, schema_editor):
    Outcome = apps.get_model("flow_sessions", "Outcome")
    Outcome.objects.filter(code__in=[b[0] for b in BUILTINS]).delete()


class Migration(migrations.Migration):
    dependencies = [("flow_sessions", "0001_initial")]

    operations = [migrations.RunPython(create_outcomes, remove_outcomes)]
