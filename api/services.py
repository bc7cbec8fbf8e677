"""Creating, using and revoking personal access tokens (SPEC §11)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from api.models import ApiToken
from resolutionflow import clock

# "rf_" + 43 URL-safe characters (32 random bytes): recognisable in a secret scanner.
TOKEN_PREFIX = "rf_"
SHOWN_PREFIX = 8  # characters of the secret after "rf_" kept to tell tokens apart
DEFAULT_DAYS = 90
MAX_DAYS = 366
# `last_used_at` is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


@transaction.atomic
def token_create(*, user: AbstractBaseUser, name: str, days: int = DEFAULT_DAYS) -> NewToken:
    """A new token for `user`, expiring in `days` days; the secret is returned once."""
    name = name.strip()
    if not name:
        raise TokenError("Give the token a name, e.g. “PSA sync”.")
    if not 1 <= days <= MAX_DAYS:
        raise TokenError(f"A token expires after 1 to {MAX_DAYS} days.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + SHOWN_PREFIX],
        digest=token_digest(secret),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    return NewToken(token=token, secret=secret)


@transaction.atomic
def token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke `token` (at once, for every request after this one). Revoking twice is harmless."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        token.save(update_fields=["revoked_at"])
    return token


def token_authenticate(secret: str) -> ApiToken | None:
    """The usable token with this secret, its user active; None otherwise.

    Records the use (at most once a minute per token, so a busy integration
    does not write a row per request).
    """
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    now = clock.now()
    token = (
        ApiToken.objects.usable(now)
        .select_related("user")
        .filter(digest=token_digest(secret))
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
