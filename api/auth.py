"""Who is calling the API: a personal access token, or the browser's session.

- `Authorization: Bearer <token>` (`TokenAuth`): the token's user, with that
  user's permissions. A revoked or expired token, or a deactivated user, is a
  401 like a wrong one.
- The session cookie (`SessionCsrfAuth`), so the interactive docs work for a
  signed-in person: reads as for the pages; a write needs the CSRF token, as
  every form of the app does, or it is a 403.

Every authenticated request counts against a per-caller rate limit held in
Django's cache (`RATE_LIMIT` requests a minute, a fixed one-minute window);
past it the API answers 429 with `Retry-After`.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from ninja.security import HttpBearer
from ninja.security.apikey import APIKeyCookie

from api.models import ApiToken
from api.services import token_authenticate

WINDOW_SECONDS = 60


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class CsrfFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def rate_limit(key: str) -> None:
    """Count one request for `key`; raise RateLimited past the limit of this minute."""
    limit = settings.API_RATE_LIMIT
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    cache_key = f"api-rate:{key}:{window}"
    # add() is atomic on every cache backend: the first request of the window
    # creates the counter, the others increment it.
    if cache.add(cache_key, 1, timeout=WINDOW_SECONDS + 5):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add() and incr()
            cache.add(cache_key, 1, timeout=WINDOW_SECONDS + 5)
            count = 1
    if count > limit:
        raise RateLimited(retry_after=max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999)))


class TokenAuth(HttpBearer):
    """`Authorization: Bearer rf_…`."""

    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        api_token = token_authenticate(token)
        if api_token is None:
            return None
        request.user = api_token.user
        rate_limit(f"token:{api_token.pk}")
        return api_token


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):  # noqa: D401 - Django's hook
        raise CsrfFailed(reason)


class SessionCsrfAuth(APIKeyCookie):
    """The signed-in browser session; unsafe methods must pass Django's CSRF check."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        # csrf=True tells the docs page to send X-CSRFToken with "Try it out";
        # the check itself is made in `authenticate`, once a session is found,
        # so a request without one is a 401, not a CSRF failure.
        super().__init__(csrf=True)

    def _get_key(self, request: HttpRequest) -> str | None:
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None):
        user = getattr(request, "user", None)
        if not key or user is None or not user.is_authenticated:
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
            check = _CsrfCheck(lambda r: None)
            request.csrf_processing_done = False
            check.process_request(request)
            check.process_view(request, _view, (), {})
        rate_limit(f"user:{user.pk}")
        return user


def _view(request):  # the view the CSRF check is told it protects
    return None
