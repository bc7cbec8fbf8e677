"""The project's URLs plus the benchmark's floor view (only under bench.settings)."""

from django.urls import include, path

from bench import views

urlpatterns = [
    path("bench/floor/<uuid:session_id>", views.floor, name="bench-floor"),
    path("", include("resolutionflow.urls")),
]
