"""Personal access tokens for the REST API, and the sign-in identities of SSO users.

A token's secret is shown once, when it is created; only its SHA-256 digest is
stored (the secret is 256 random bits, so a fast hash is enough: there is
nothing to brute-force). `prefix` — the first characters of the secret — lets
people tell their tokens apart in the list without the secret being kept.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models

from resolutionflow import clock


class ApiTokenQuerySet(models.QuerySet):
    def usable(self, at: datetime | None = None) -> ApiTokenQuerySet:
        """Not revoked and not expired at `at` (now by default)."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=at or clock.now())


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. “PSA sync”.")
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["user", "-created_at"],
                name="api_token_user_created",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, at: datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (at or clock.now())

    @property
    def state(self) -> str:
        """ "active", "expired" or "revoked", for the profile page."""
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.is_usable() else "expired"


class OidcIdentity(models.Model):
    """Which user an OpenID Connect subject (`iss` + `sub`) signs in as.

    `sub` is the provider's stable identifier; an email address can change or
    be reused, so it is only used to link an existing account on its first SSO
    sign-in.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identities"
    )
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    last_login_at = models.DateTimeField()

    class Meta:
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="oidc_identity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
