from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations import receivers
        from sessions import signals as session_signals
        from trees import signals as tree_signals

        session_signals.session_completed.connect(
            receivers.on_session_completed, dispatch_uid="integrations.session_completed"
        )
        session_signals.session_handed_off.connect(
            receivers.on_session_handed_off, dispatch_uid="integrations.session_handed_off"
        )
        tree_signals.tree_published.connect(
            receivers.on_tree_published, dispatch_uid="integrations.tree_published"
        )
