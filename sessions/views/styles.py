"""The outcome badges' stylesheet: each outcome's colour and a legible ink for it.

Outcomes (and their colours) live in the database and a strict CSP forbids
`style=""`, so their colours arrive as a small stylesheet from this site
(`style-src 'self'`), linked by the pages that show outcome badges.
"""

from __future__ import annotations

import hashlib
import re

from django.http import HttpResponse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.views.decorators.http import require_GET

from resolutionflow.http import HtmxHttpRequest
from sessions.colours import HEX_COLOUR, badge_ink
from sessions.models import Outcome

SLUG = re.compile(r"^[-\w]+$")


def _rules() -> str:
    # Codes are slugs and colours hex (both checked by the model), so neither
    # can break out of the selector or the value; the check is kept anyway.
    return "".join(
        f'.badge.badge-outcome[data-outcome="{o.code}"]'
        f" {{ --badge-colour: {o.colour}; --badge-ink: {badge_ink(o.colour)}; }}\n"
        for o in Outcome.objects.all()
        if HEX_COLOUR.match(o.colour) and SLUG.match(o.code)
    )


@require_GET
def outcome_styles(request: HtmxHttpRequest) -> HttpResponse:
    """`/sessions/outcomes.css`: one rule per outcome; revalidated (ETag) on every page."""
    css = _rules()
    etag = '"' + hashlib.sha256(css.encode()).hexdigest()[:32] + '"'
    response = get_conditional_response(request, etag=etag)
    if response is None:
        response = HttpResponse(css, content_type="text/css; charset=utf-8")
        response["ETag"] = etag
    # An admin's new colour shows on the next page load.
    patch_cache_control(response, private=True, no_cache=True)
    return response
