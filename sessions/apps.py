from django.apps import AppConfig


class FlowSessionsConfig(AppConfig):
    """Troubleshooting sessions. Labelled so it never clashes with django.contrib.sessions."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "sessions"
    label = "flow_sessions"
    verbose_name = "Troubleshooting sessions"

    def ready(self) -> None:
        from sessions.cards import connect_receivers

        connect_receivers()
