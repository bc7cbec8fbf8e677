from __future__ import annotations

from django.apps import AppConfig
from django.db.backends.signals import connection_created

from reports.aggregates import on_connection_created


class ReportsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reports"

    def ready(self) -> None:
        from reports import rollups
        from sessions import signals

        # SQLite lacks percentile_cont: each new connection gets ours.
        connection_created.connect(on_connection_created, dispatch_uid="reports.percentile_cont")
        # The rollups change in the writer's transaction (reports.rollups).
        for signal, receiver in (
            (signals.session_started, rollups.on_session_started),
            (signals.session_completed, rollups.on_session_completed),
            (signals.session_outcome_changed, rollups.on_session_outcome_changed),
            (signals.session_handed_off, rollups.on_session_handed_off),
            (signals.step_closed, rollups.on_step_closed),
        ):
            signal.connect(receiver, dispatch_uid=f"reports.rollups.{receiver.__name__}")
