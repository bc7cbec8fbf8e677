"""Sessions recorded before pauses existed: active time is their wall-clock time.

No pause was recorded for the past, so every closed step's `active_seconds`
is its `duration_seconds`, every completed session's is its total, each step
was taken by the session's engineer (nobody could hand off), and an active
session's last action is when its open step opened. Each is one set-based
UPDATE (no Python loop over rows): about what 0007 costs on a large database.
"""

from django.db import migrations
from django.db.models import F, OuterRef, Subquery


def backfill(apps, schema_editor):
    Session = apps.get_model("flow_sessions", "Session")
    Decision = apps.get_model("flow_sessions", "Decision")
    db = schema_editor.connection.alias
    Decision.objects.using(db).filter(exited_at__isnull=False).update(
        active_seconds=F("duration_seconds"),
        engineer=Subquery(Session.objects.filter(pk=OuterRef("session")).values("engineer")[:1]),
    )
    Decision.objects.using(db).filter(exited_at__isnull=True).update(
        engineer=Subquery(Session.objects.filter(pk=OuterRef("session")).values("engineer")[:1]),
    )
    Session.objects.using(db).filter(completed_at__isnull=False).update(active_seconds=F("duration_seconds"))
    Session.objects.using(db).filter(started_at__isnull=False, completed_at__isnull=True).update(
        last_activity_at=Subquery(
            Decision.objects.using(db).filter(session=OuterRef("pk"), exited_at__isnull=True).values(
                "entered_at"
            )[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("flow_sessions", "0013_lifecycle"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False)]
