"""Request ids, security headers Django doesn't set, and logging of failed requests."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger("resolutionflow.requests")

# An id from a trusted proxy is kept only when it looks like one (no log injection).
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Give every request an id (or keep the proxy's `X-Request-ID`), return it in
    the `X-Request-ID` response header and log every 4xx/5xx with it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request.id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        started = time.monotonic()
        response = self.get_response(request)
        response["X-Request-ID"] = request.id
        policy = getattr(settings, "PERMISSIONS_POLICY", "")
        if policy:
            response.setdefault("Permissions-Policy", policy)
        if response.status_code >= 400:
            level = logging.ERROR if response.status_code >= 500 else logging.WARNING
            logger.log(
                level,
                "request failed",
                extra={
                    "request_id": request.id,
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "user_id": _user_id(request),
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
        return response


def _user_id(request: HttpRequest) -> int | None:
    """The signed-in user's id, for the log line. Finding it may load the session
    from the database; when that is what failed (database down), log without it
    rather than fail again and lose the 500 page's headers and this log line."""
    try:
        return getattr(getattr(request, "user", None), "pk", None)
    except DatabaseError:
        return None


class LoginRequiredMiddleware(auth_middleware.LoginRequiredMiddleware):
    """Django's LoginRequiredMiddleware, deciding on public views first.

    Django's looks the user up before it reads `login_not_required`, so a
    public view reached with a session cookie (`/healthz` from a signed-in
    browser) reads the session table: with the database down that is a 500
    instead of the health check's 503.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not getattr(view_func, "login_required", True):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
