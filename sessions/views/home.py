"""The home page: the engineer's active sessions and a way into the library (SPEC §4)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from resolutionflow.http import HtmxHttpRequest
from sessions.models import Session


@require_GET
@login_required
def home(request: HtmxHttpRequest) -> HttpResponse:
    """The landing page. Managers' report KPIs come from the reports app's
    `{% home_kpis %}` tag in the template: sessions never imports reports."""
    context = {"active_sessions": Session.objects.active_for(request.user).select_related("tree")}
    return render(request, "sessions/home.html", context)
