"""Project-wide views: the health check and the 500 page."""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.template import loader
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from resolutionflow.http import HtmxHttpRequest

logger = logging.getLogger(__name__)


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
