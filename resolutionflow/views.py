"""Project-wide views: the health check, the favicon and the 400, 500 and 503 pages."""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
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
    if isinstance(sys.exc_info()[1], (OperationalError, InterfaceError)):
        return service_unavailable(request)
    template = loader.get_template("500.html")
    return HttpResponseServerError(template.render({"request_id": getattr(request, "id", "")}))


# Long enough for a restart or a failover, short enough that nobody waits for nothing.
RETRY_AFTER_SECONDS = 10


def service_unavailable(request: HttpRequest) -> HttpResponse:
    """503 while the database cannot be reached (a restart, a failover): try again soon.

    `server_error` hands over when the exception in flight is a lost or refused
    database connection, wherever it was raised: in a view, or in the session
    and sign-in middleware that read the session table before any view runs.
    handler500 is the one place that sees both (Django turns an exception in
    any middleware into a response before an outer middleware could catch it).
    Nothing here touches the database; the connection that failed is closed at
    the end of the request and the next one reconnects (CONN_HEALTH_CHECKS).
    """
    template = loader.get_template("503.html")
    context = {
        "request_id": getattr(request, "id", ""),
        # A GET can simply be asked again; a form post is better re-sent from its page.
        "retry_url": request.get_full_path() if request.method == "GET" else "",
    }
    response = HttpResponse(template.render(context), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """`handler400`: the 400 page (a malformed, oversize or non-UTF-8 request).

    Django's own handler is wrapped in `requires_csrf_token`, whose CSRF step
    reads the POST body again: a body Django has just refused (a form declared
    `charset=latin-1`) raised a second time, from inside the handler, and the
    400 became a 500. The page has no form and needs no token, and like the 500
    page it renders with a plain context (no user, no database).
    """
    template = loader.get_template("400.html")
    return HttpResponseBadRequest(template.render({"request_id": getattr(request, "id", "")}))


class SsoContext:
    """What the login page says about single sign-on, read from the settings when shown."""

    @property
    def enabled(self) -> bool:
        return settings.OIDC_ENABLED

    @property
    def provider(self) -> str:
        return settings.OIDC_PROVIDER_NAME

    @property
    def password_for_all(self) -> bool:
        return settings.PASSWORD_LOGIN_FOR_NON_STAFF
