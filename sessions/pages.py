"""The history page rendered once per version of what it shows: the outer doll
around the cached cards (sessions.cards; docs/PERFORMANCE.md, "The history cache").

A history page, for one viewer and one query string, shows the page's sessions
(their cards), the total, the filter form with its lists, and the site's chrome
(the viewer's name, the menus of what they may do). Its key is exactly what
decides all that, so a stored page is read only while none of it changed:
- the release (`resolutionflow.release`: a deployment renders afresh);
- the viewer, and the permissions generation (what they may do);
- the history generation: the whole history's total, the filter lists, and every
  user, tree and outcome saved (names, the viewer's own menu);
- the query string, and whether htmx asked for the results region only;
- the total (a filtered one is counted on every load: closing a session moves it
  out of "active" without a new generation) and the page's number;
- each of the page's sessions with its `revision` (Session.save bumps it on every
  change: an answer, a pause, a close);
- the time zone and the language.
What must not be reused is filled in at every load: the viewer's CSRF token (the
page is rendered with a marker in its place) and the running time of active
sessions (clock markers, sessions.cards.fill_clocks). A page with messages to
show, or with a Close popover shown open (`?close=`), is rendered as usual and
not stored.

Like the history's total and lists, this needs a cache every app server shares
(`settings.SHARED_CACHE`): without one every page is rendered.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from datetime import datetime

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import cache as shared_cache
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.utils.crypto import salted_hmac

from resolutionflow import clock, generations, release
from resolutionflow.permissions import GENERATION as PERMISSIONS
from sessions.cards import CLOCK_PATTERN, active_counter, fragment_key
from sessions.cards import GENERATION as HISTORY

PAGE_TIMEOUT = 3600

logger = logging.getLogger(__name__)


def csrf_mark() -> str:
    """What a stored page holds in place of the viewer's CSRF token: letters and digits
    (unchanged by escaping) that no one can type into a page without the secret key."""
    return "csrf" + salted_hmac("sessions.pages.csrf", "mark").hexdigest()[:28]


def read_generations() -> None:
    """The generations a history page's key is made of, read in one round trip (the
    request keeps them: resolutionflow.generations)."""
    if settings.SHARED_CACHE:
        generations.quietly(generations.tokens, HISTORY, PERMISSIONS)


def _has_messages(request: HttpRequest) -> bool:
    # len() loads the messages without marking them shown.
    return len(get_messages(request)) > 0


def page_key(
    request: HttpRequest,
    *,
    template: str,
    total: int,
    number: int,
    revisions: Iterable[tuple[object, int]],
) -> str:
    """The key of the page `template` renders for this request (the module docstring)."""
    tokens = generations.tokens(HISTORY, PERMISSIONS)
    return "page:" + fragment_key(
        release.digest(template.partition("#")[0]),
        template,
        request.user.pk,
        tokens[PERMISSIONS],
        tokens[HISTORY],
        request.META.get("QUERY_STRING", ""),
        total,
        number,
        ",".join(f"{pk}.{revision}" for pk, revision in revisions),
    )


def _split(markup: str) -> list[str]:
    """`markup` as it is stored: its text, with every other item a hole to fill in at
    each load ("" for the CSRF token, else a running clock's origin)."""
    pattern = re.compile(f"{csrf_mark()}|{CLOCK_PATTERN.pattern}")
    return pattern.split(markup)


def _join(parts: list[str], request: HttpRequest) -> str:
    """The stored page with its holes filled in for this request and this moment."""
    now = clock.now()
    token = get_token(request)

    def fill(hole: str) -> str:
        return active_counter(datetime.fromisoformat(hole), now) if hole else token

    return "".join(part if i % 2 == 0 else fill(part) for i, part in enumerate(parts))


def cached_page(
    request: HttpRequest,
    *,
    template: str,
    total: int,
    number: int,
    revisions: Iterable[tuple[object, int]],
    render: Callable[[dict], HttpResponse],
) -> HttpResponse:
    """The page from the shared cache, its CSRF token and running times filled in; else
    `render(extra)` (`extra`: the context that renders it for the cache) stored first.

    `render({})` is the page rendered as usual: no shared cache, messages to show,
    a popover shown open.
    """
    if not settings.SHARED_CACHE or "close" in request.GET or _has_messages(request):
        return render({})
    try:
        key = page_key(request, template=template, total=total, number=number, revisions=revisions)
        parts = shared_cache.get(key)
    except Exception:  # the Redis client's errors, whatever their class
        logger.warning("shared cache unavailable: going without it", exc_info=True)
        return render({})
    if parts is None:
        response = render({"page_cache": True, "csrf_token": csrf_mark()})
        if response.status_code != 200:
            return response
        parts = _split(response.content.decode())
        generations.quietly(shared_cache.set, key, parts, PAGE_TIMEOUT)
    return HttpResponse(_join(parts, request))
