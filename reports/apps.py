from __future__ import annotations

from django.apps import AppConfig
from django.db.backends.signals import connection_created

from reports.aggregates import on_connection_created


class ReportsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reports"

    def ready(self) -> None:
        # SQLite lacks percentile_cont: each new connection gets ours.
        connection_created.connect(on_connection_created, dispatch_uid="reports.percentile_cont")
