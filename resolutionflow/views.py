"""Project-wide views: the health check, the favicon and the 500 page."""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    HttpResponseServerError,
    JsonResponse,
)
from django.template import loader
from django.templatetags.static import static
from django.views.decorators.cache import cache_control, never_cache
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


@require_GET
@login_not_required
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """`/favicon.ico`, which browsers ask for where a document names no icon (the
    exports opened as text, Django's debug pages): the logo. A temporary redirect,
    cached for a day, since the logo's hashed static name changes with its content."""
    return HttpResponseRedirect(static("img/logo.svg"))


def server_error(request: HttpRequest) -> HttpResponse:
    """`handler500`: the friendly error page, with the request id to quote.

    Rendered with a plain context, never the request's: context processors
    would read the user and their permissions, and the database may be what
    failed. No stack trace or exception text ever reaches the page.
    """
    template = loader.get_template("500.html")
    return HttpResponseServerError(template.render({"request_id": getattr(request, "id", "")}))
