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
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

TIMEOUT = 7 * 24 * 3600

logger = logging.getLogger(__name__)


def quietly(call: Callable, *args, default: Any = None) -> Any:
    """`call(*args)` on the shared cache; `default` and a warning when the cache is down."""
    try:
        return call(*args)
    except Exception:  # the Redis client's errors, whatever their class
        logger.warning("shared cache unavailable: going without it", exc_info=True)
        return default


def token(name: str) -> str:
    """The current token of generation `name` (one is made on first use)."""
    key = f"generation:{name}"
    current = cache.get(key)
    if current is None:
        current = uuid.uuid4().hex
        # Another process may have set one meanwhile: theirs wins, so both agree.
        if not cache.add(key, current, TIMEOUT):
            current = cache.get(key) or current
    return current


def _renew_now(name: str) -> None:
    quietly(cache.set, f"generation:{name}", uuid.uuid4().hex, TIMEOUT)


def renew(name: str) -> None:
    """Everything cached under generation `name` is stale: now, and after the commit."""
    if settings.SHARED_CACHE:
        _renew_now(name)
        transaction.on_commit(lambda: _renew_now(name))


def cached(name: str, scope: str, compute: Callable[[], Any]) -> Any:
    """`compute()`, cached per `scope` until generation `name` is renewed."""
    if not settings.SHARED_CACHE:
        return compute()
    try:
        key = f"{name}:{scope}:{token(name)}"
        value = cache.get(key)
    except Exception:
        logger.warning("shared cache unavailable: going without it", exc_info=True)
        return compute()
    if value is None:
        value = compute()
        quietly(cache.set, key, value, TIMEOUT)
    return value
