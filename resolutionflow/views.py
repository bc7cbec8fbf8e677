"""Project-wide views: the home page and the health check."""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required, login_required
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from resolutionflow.http import HtmxHttpRequest
from sessions.models import Session

logger = logging.getLogger(__name__)


@require_GET
@login_required
def home(request: HtmxHttpRequest) -> HttpResponse:
    """The landing page: the engineer's active sessions, a way into the library."""
    active_sessions = (
        Session.objects.active()
        .filter(engineer=request.user)
        .select_related("tree")
        .order_by("-started_at")
    )
    return render(request, "home.html", {"active_sessions": active_sessions})


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
