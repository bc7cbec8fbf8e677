"""Floor 1: the least a signed-in page can cost here (Django + PostgreSQL itself).

One primary-key query and a tiny template, behind the same middleware as every
page (session, authentication, CSRF, messages, htmx). The template is rendered
without the request, so no context processor adds its own queries.
"""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from sessions.models import Session


@require_GET
def floor(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = get_object_or_404(Session, pk=session_id)
    return HttpResponse(render_to_string("bench/floor.html", {"session": session}))
