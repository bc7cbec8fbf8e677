from django.urls import path

from sessions import views

app_name = "sessions"

urlpatterns = [
    path("", views.history, name="history"),
    path("prepare/", views.prepare, name="prepare"),
    path("<uuid:session_id>/", views.detail, name="detail"),
    path("<uuid:session_id>/run/", views.run, name="run"),
    path("<uuid:session_id>/complete", views.complete, name="complete"),
]
