from django.apps import AppConfig


class ResolutionFlowConfig(AppConfig):
    """The project package as an app: shared templates, tags and the permission cache."""

    name = "resolutionflow"
    verbose_name = "ResolutionFlow"

    def ready(self) -> None:
        from resolutionflow.permissions import connect_receivers

        connect_receivers()
