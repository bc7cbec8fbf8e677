"""`/api/v1/…`: django-ninja's URL patterns, made public to LoginRequiredMiddleware
(the API authenticates by itself and answers 401 in JSON, never a redirect to the
login page) and answering a wrong method or an unknown address in JSON too."""

from __future__ import annotations

import functools
import json

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.csrf import csrf_exempt

from api.api import api

READ_ONLY = {"openapi-json", "openapi-view"}  # ninja serves these to any method


def _method_not_allowed(request, allowed: str) -> JsonResponse:
    response = JsonResponse(
        {"detail": f"Method {request.method} is not allowed here (allowed: {allowed})."},
        status=405,
    )
    response["Allow"] = allowed
    return response


def _json_errors(view, *, read_only: bool = False):
    """Django's plain 405 from ninja becomes `{"detail": …}`."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if read_only and request.method not in ("GET", "HEAD"):
            return _method_not_allowed(request, "GET, HEAD")
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            return _method_not_allowed(request, response.get("Allow", ""))
        return response

    return login_not_required(csrf_exempt(wrapper))


@login_not_required
@csrf_exempt
def not_found(request, rest: str = "") -> HttpResponse:
    body = json.dumps({"detail": "No such API endpoint: see /api/v1/docs."})
    return HttpResponse(body, status=404, content_type="application/json")


@login_not_required
@csrf_exempt
def index(request) -> HttpResponse:
    """`/api/v1/`: where the schema and the docs are."""
    if request.method not in ("GET", "HEAD"):
        return _method_not_allowed(request, "GET, HEAD")
    return JsonResponse(
        {
            "openapi": reverse("api:openapi-json"),
            "docs": reverse("api:openapi-view"),
            "detail": "ResolutionFlow API v1: authenticate with Authorization: Bearer <token>.",
        }
    )


def _patterns():
    patterns, app_name, namespace = api.urls
    wrapped, seen = [], set()
    for pattern in patterns:
        assert isinstance(pattern, URLPattern)
        # ninja lists a path once per operation; its view serves every method.
        if (str(pattern.pattern), pattern.name) in seen or pattern.name == "api-root":
            continue
        seen.add((str(pattern.pattern), pattern.name))
        wrapped.append(
            URLPattern(
                pattern.pattern,
                _json_errors(pattern.callback, read_only=pattern.name in READ_ONLY),
                pattern.default_args,
                pattern.name,
            )
        )
    wrapped.append(path("", index, name="api-root"))
    wrapped.append(path("<path:rest>", not_found, name="not-found"))
    return wrapped, app_name, namespace


urls = _patterns()
