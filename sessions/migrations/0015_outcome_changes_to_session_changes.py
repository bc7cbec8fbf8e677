"""The outcome audit becomes part of the one audit of field changes (SPEC §9).

Each `OutcomeChange` row becomes one `SessionChange` per value it changed:
the outcome (by code; a completion's old value is empty), the outcome notes
and the next steps, with the same who, when and from where. Rows written
before the notes were audited changed only the outcome. Nothing is lost:
0016 drops the old table only after this copy.
"""

from django.db import migrations


def copy_changes(apps, schema_editor):
    OutcomeChange = apps.get_model("flow_sessions", "OutcomeChange")
    SessionChange = apps.get_model("flow_sessions", "SessionChange")
    db = schema_editor.connection.alias
    rows = (
        OutcomeChange.objects.using(db).order_by("pk")
        .values(
            "session_id",
            "old_outcome__code",
            "new_outcome__code",
            "old_outcome_notes",
            "new_outcome_notes",
            "old_next_steps",
            "new_next_steps",
            "changed_by_id",
            "changed_at",
            "source",
        )
        .iterator(chunk_size=2_000)
    )
    batch = []
    for row in rows:
        for field, old, new in (
            ("outcome", row["old_outcome__code"] or "", row["new_outcome__code"]),
            ("outcome_notes", row["old_outcome_notes"], row["new_outcome_notes"]),
            ("next_steps", row["old_next_steps"], row["new_next_steps"]),
        ):
            if old != new:
                batch.append(
                    SessionChange(
                        session_id=row["session_id"],
                        field=field,
                        old_value=old,
                        new_value=new,
                        changed_by_id=row["changed_by_id"],
                        changed_at=row["changed_at"],
                        source=row["source"],
                    )
                )
        if len(batch) >= 2_000:
            SessionChange.objects.using(db).bulk_create(batch)
            batch = []
    SessionChange.objects.using(db).bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("flow_sessions", "0014_backfill_active_time"),
    ]

    operations = [migrations.RunPython(copy_changes, migrations.RunPython.noop, elidable=False)]
