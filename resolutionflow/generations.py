"""Values cached until something says they changed: generation tokens in the shared cache.

A *generation* is a random token under a name (`history`, `permissions`). A value
computed from the database is cached under `<name>:<scope>:<token>`; whatever
may change it renews the token (`renew`), and the next read computes it again.
Old entries are never deleted, only never read again (they expire).

`renew` renews at once (the writer's own next read sees the change) and again
after the commit: a reader that computed the value between the two, from rows
before the commit, stored it under a token no one reads any more.

This is only correct when every app server shares the cache
(`settings.SHARED_CACHE`: Redis): a process's own memory would never hear of a
renewal made in another process. Without one, `cached` computes every time.
A cache that is down is logged and computed around, never an error.

Within a request (`GenerationsMiddleware`) each token is read once: a page asks
for the same generations several times (the permissions, the history's total,
its lists, its cached page), and each read would be a round trip to Redis. The
request keeps the tokens it read (`tokens` reads several in one round trip) and
the ones it renewed itself; a renewal by another process shows from the next
request on.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

TIMEOUT = 7 * 24 * 3600

logger = logging.getLogger(__name__)

# The tokens this request has read or renewed, by name; None outside a request.
_seen: ContextVar[dict[str, str] | None] = ContextVar("generation_tokens", default=None)


class GenerationsMiddleware:
    """Each generation's token read at most once per request (the module docstring)."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request):
        reset = _seen.set({})
        try:
            return self.get_response(request)
        finally:
            _seen.reset(reset)


def quietly(call: Callable, *args, default: Any = None) -> Any:
    """`call(*args)` on the shared cache; `default` and a warning when the cache is down."""
    try:
        return call(*args)
    except Exception:  # the Redis client's errors, whatever their class
        logger.warning("shared cache unavailable: going without it", exc_info=True)
        return default


def tokens(*names: str) -> dict[str, str]:
    """The current token of each generation in `names` (one is made on first use),
    in one round trip for those this request has not read yet."""
    seen = _seen.get()
    known = {name: seen[name] for name in names if name in seen} if seen else {}
    missing = [name for name in names if name not in known]
    if missing:
        found = cache.get_many([f"generation:{name}" for name in missing])
        for name in missing:
            key = f"generation:{name}"
            current = found.get(key)
            if current is None:
                current = uuid.uuid4().hex
                # Another process may have set one meanwhile: theirs wins, so both agree.
                if not cache.add(key, current, TIMEOUT):
                    current = cache.get(key) or current
            known[name] = current
        if seen is not None:
            seen.update((name, known[name]) for name in missing)
    return known


def token(name: str) -> str:
    """The current token of generation `name` (one is made on first use)."""
    return tokens(name)[name]


def _renew_now(name: str) -> None:
    current = uuid.uuid4().hex
    quietly(cache.set, f"generation:{name}", current, TIMEOUT)
    seen = _seen.get()
    if seen is not None:
        seen[name] = current


def renew(name: str) -> None:
    """Everything cached under generation `name` is stale: now, and after the commit."""
    if settings.SHARED_CACHE:
        _renew_now(name)
        transaction.on_commit(lambda: _renew_now(name))


def cached(name: str, scope: str, compute: Callable[[], Any]) -> Any:
    """`compute()`, cached per `scope` until generation `name` is renewed."""
    return cached_many(name, {scope: compute})[scope]


def cached_many(name: str, computes: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """`cached` for several scopes of one generation, in one round trip: by scope,
    each `compute()`, cached until generation `name` is renewed."""
    if not settings.SHARED_CACHE:
        return {scope: compute() for scope, compute in computes.items()}
    try:
        current = token(name)
        keys = {scope: f"{name}:{scope}:{current}" for scope in computes}
        found = cache.get_many(list(keys.values()))
    except Exception:
        logger.warning("shared cache unavailable: going without it", exc_info=True)
        return {scope: compute() for scope, compute in computes.items()}
    values, fresh = {}, {}
    for scope, key in keys.items():
        if key in found:
            values[scope] = found[key]
        else:
            values[scope] = fresh[key] = computes[scope]()
    if fresh:
        quietly(cache.set_many, fresh, TIMEOUT)
    return values
