from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("trees/<slug:slug>/", views.tree_report, name="tree"),
    path("<slug:table>.csv", views.csv_table, name="csv"),
]
