"""The home page: what waits for the engineer, then their active sessions (SPEC §4, §9)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Subquery
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from resolutionflow.http import HtmxHttpRequest
from sessions.models import Handoff, Session


@require_GET
@login_required
def home(request: HtmxHttpRequest) -> HttpResponse:
    """The landing page: "Waiting for you" (prepared for me), "Handed to you"
    (with the note), then my other active sessions. Managers' report KPIs come
    from the reports app's `{% home_kpis %}` tag: sessions never imports reports."""
    user = request.user
    last_handoff = Handoff.objects.filter(session=OuterRef("pk")).order_by("-at", "-pk")
    handed = list(
        Session.objects.handed_to(user)
        .select_related("tree")
        .annotate(
            handoff_note=Subquery(last_handoff.values("note")[:1]),
            handoff_from=Subquery(last_handoff.values("from_engineer")[:1]),
        )
    )
    handed_ids = {s.pk for s in handed}
    senders = {}
    if handed:
        senders = get_user_model().objects.in_bulk({s.handoff_from for s in handed})
    for s in handed:
        s.handoff_sender = senders.get(s.handoff_from)
    context = {
        "waiting_sessions": Session.objects.waiting_for(user).select_related("tree", "created_by"),
        "handed_sessions": handed,
        "active_sessions": [
            s
            for s in Session.objects.active_for(user).select_related("tree")
            if s.pk not in handed_ids
        ],
    }
    return render(request, "sessions/home.html", context)
