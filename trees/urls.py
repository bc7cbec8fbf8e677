from django.urls import path

from trees import views

app_name = "trees"

urlpatterns = [
    path("", views.library, name="library"),
    path("<slug:slug>/", views.detail, name="detail"),
]
