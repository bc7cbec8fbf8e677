"""Project-wide views: the home page, the health check and the 500 page."""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required, login_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from reports.presentation import home_kpis
from resolutionflow.http import HtmxHttpRequest
from sessions.models import Session

logger = logging.getLogger(__name__)


@require_GET
@login_required
def home(request: HtmxHttpRequest) -> HttpResponse:
    """The landing page: the engineer's active sessions, a way into the library."""
    active_sessions = (
        Session.objects.active_for(request.user).select_related("tree").order_by("-started_at")
    )
    context = {"active_sessions": active_sessions}
    if request.user.has_perm("flow_sessions.view_reports"):
        # Managers land on last week's figures against the week before.
        context["report_kpis"] = home_kpis()
    return render(request, "home.html", context)


@require_GET
@login_not_required
@never_cache
def healthz(request: HtmxHttpRequest) -> JsonResponse:
    """Liveness and database reachability for load balancers and monitors."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.warning("healthz: database unavailable", exc_info=True)
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


def server_error(request: HttpRequest) -> HttpResponse:
    """`handler500`: the friendly error page, with the request id to quote.

    Rendered with a plain context, never the request's: context processors
    would read the user and their permissions, and the database may be what
    failed. No stack trace or exception text ever reaches the page.
    """
    template = loader.get_template("500.html")
    return HttpResponseServerError(template.render({"request_id": getattr(request, "id", "")}))
