"""The profile page: who you are, and your personal access tokens (SPEC §11).

A new token's secret is shown once: the create form redirects to the profile
page (post/redirect/get, so a reload never makes a second token), which pops
the secret from the session it was parked in for that one page. A form sent
twice (double click) is recognised by its `form_id` and makes one token. The
list shows each token's name, prefix, created, last used,
expiry and state. Revoking is a POST; revoking an already revoked token
changes nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from api.forms import TokenForm
from api.models import ApiToken
from api.services import token_create, token_revoke
from resolutionflow.http import HtmxHttpRequest

PROFILE_TEMPLATE = "api/profile.html"


class HttpResponseSeeOther(HttpResponseRedirect):
    status_code = 303


NEW_TOKEN_KEY = "api_new_token"
USED_FORMS_KEY = "api_token_forms"


def _render(request, *, form=None, status: int = 200) -> HttpResponse:
    new = request.session.pop(NEW_TOKEN_KEY, None)
    tokens = list(ApiToken.objects.filter(user=request.user).order_by("-created_at", "-pk"))
    identities = list(request.user.oidc_identities.order_by("issuer"))
    response = render(
        request,
        PROFILE_TEMPLATE,
        {
            "form": form or TokenForm(),
            "tokens": tokens,
            "new": new,
            "identities": identities,
            "api_docs": reverse("api:openapi-view"),
            "sso_provider": settings.OIDC_PROVIDER_NAME,
        },
        status=status,
    )
    return response


@require_GET
@login_required
@never_cache
def profile(request: HtmxHttpRequest) -> HttpResponse:
    """`/accounts/profile/` (never cached: it may carry a new token's secret)."""
    response = _render(request)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def token_new(request: HtmxHttpRequest) -> HttpResponse:
    """Create a token, then show its secret once on the profile page."""
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _render(request, form=form, status=422)
    form_id = str(form.cleaned_data["form_id"])
    used = request.session.get(USED_FORMS_KEY, [])
    if form_id not in used:
        new = token_create(
            user=request.user, name=form.cleaned_data["name"], days=form.cleaned_data["days"]
        )
        request.session[USED_FORMS_KEY] = [*used[-19:], form_id]
        request.session[NEW_TOKEN_KEY] = {
            "id": new.token.pk,
            "name": new.token.name,
            "secret": new.secret,
            "expires_at": new.token.expires_at.isoformat(),
        }
    return HttpResponseSeeOther(reverse("profile"))


@require_POST
@login_required
def token_revoke_view(request: HtmxHttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of one's own tokens; anyone else's is a 404."""
    token = ApiToken.objects.filter(pk=token_id, user=request.user).first()
    if token is None:
        raise Http404("No such token.")
    already = token.revoked_at is not None
    token_revoke(token=token)
    if not already:
        messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
    return HttpResponseSeeOther(reverse("profile"))
