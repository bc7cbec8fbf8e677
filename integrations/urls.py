from django.urls import path

from integrations import views

app_name = "integrations"

urlpatterns = [
    path("ticket-lookup/", views.ticket_lookup, name="ticket-lookup"),
    path("sessions/<uuid:session_id>/deliveries/", views.deliveries, name="deliveries"),
    path("sessions/<uuid:session_id>/post/", views.post_to_ticket, name="post"),
    path("sessions/<uuid:session_id>/retry/", views.retry, name="retry"),
]
