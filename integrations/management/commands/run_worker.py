"""`manage.py run_worker`: the ticket loop's long-running worker.

django-tasks-db's `db_worker`, after handing back the deliveries whose worker
died mid-delivery (their lease ran out). Every option of `db_worker` applies.
"""

from __future__ import annotations

from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from integrations.services import deliveries_recover


class Command(DbWorkerCommand):
    help = "Deliver ticket notes and webhooks (django-tasks db_worker plus lease recovery)."

    def handle(self, *args, **options) -> None:
        recovered = deliveries_recover()
        if recovered and options.get("verbosity", 1):
            self.stdout.write(f"Handed {recovered} interrupted deliveries back to the queue.")
        super().handle(*args, **options)
