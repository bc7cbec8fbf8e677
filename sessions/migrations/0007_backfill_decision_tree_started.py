"""Fill the steps' copy of their session's tree and start (0006) for existing rows."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def backfill(apps, schema_editor):
    Decision = apps.get_model("flow_sessions", "Decision")
    Session = apps.get_model("flow_sessions", "Session")
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        # One join instead of two correlated subqueries per row: a million steps
        # take seconds rather than minutes.
        quote = connection.ops.quote_name
        schema_editor.execute(
            f"UPDATE {quote(Decision._meta.db_table)} AS d "
            f"SET tree_id = s.tree_id, session_started_at = s.started_at "
            f"FROM {quote(Session._meta.db_table)} AS s "
            f"WHERE s.id = d.session_id AND d.tree_id IS NULL"
        )
        return
    session = Session.objects.filter(pk=OuterRef("session_id"))
    Decision.objects.filter(tree__isnull=True).update(
        tree_id=Subquery(session.values("tree_id")[:1]),
        session_started_at=Subquery(session.values("started_at")[:1]),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("flow_sessions", "0006_decision_tree_started"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
