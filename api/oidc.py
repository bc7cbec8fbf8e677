"""Single sign-on with OpenID Connect (SPEC §11), on mozilla-django-oidc.

The library runs the authorization-code flow and checks what it checks
(state, nonce, PKCE S256, the ID token's signature against the provider's
keys). On top of it, here:

- configuration from environment variables (settings.py): the provider's
  endpoints come from its discovery document, `<OIDC_ISSUER>/.well-known/
  openid-configuration`, fetched once and cached, unless set one by one;
- the ID token's `iss` must be OIDC_ISSUER and its `aud` must name our
  client (the library checks neither);
- the user is found by (issuer, `sub`), else linked by email on the first
  sign-in, else created with their name and email (and no usable password);
- on every sign-in the groups `Engineers` and `Managers` are set from the
  OIDC_GROUPS_CLAIM claim (OIDC_ENGINEER_GROUPS / OIDC_MANAGER_GROUPS name
  the provider's values); other groups are left alone;
- someone in neither group (and not staff) is not signed in: they get a page
  that says to ask their administrator.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import render
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from api.models import OidcIdentity
from resolutionflow import clock

logger = logging.getLogger(__name__)

ENGINEERS, MANAGERS = "Engineers", "Managers"
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
DISCOVERY_CACHE_SECONDS = 60 * 60


def discovery(issuer: str) -> dict[str, Any]:
    """The provider's discovery document (cached for an hour)."""
    key = f"oidc-discovery:{issuer}"
    document = cache.get(key)
    if document is None:
        url = f"{issuer}/.well-known/openid-configuration"
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
        if document.get("issuer", "").rstrip("/") != issuer:
            # OpenID Connect Discovery §4.3: the document must be the issuer's own.
            raise ImproperlyConfigured(
                f"{url} names the issuer {document.get('issuer')!r}, not {issuer!r}."
            )
        cache.set(key, document, DISCOVERY_CACHE_SECONDS)
    return document


def oidc_setting(attr: str, *default: Any) -> Any:
    """A setting of mozilla-django-oidc, the endpoints discovered when not set."""
    if attr in DISCOVERED and not hasattr(settings, attr):
        return discovery(settings.OIDC_ISSUER)[DISCOVERED[attr]]
    if default:
        return getattr(settings, attr, default[0])
    return getattr(settings, attr)


def _require_enabled() -> None:
    if not settings.OIDC_ENABLED:
        raise Http404("Single sign-on is not configured.")


def has_access(user) -> bool:
    """Whether `user` may use the app: staff, or in Engineers or Managers."""
    return user.is_staff or user.groups.filter(name__in=[ENGINEERS, MANAGERS]).exists()


class Backend(OIDCAuthenticationBackend):
    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs) -> None:
        # The library reads (and here, discovers) its settings on construction;
        # Django builds the backends for every sign-in of any kind, so that waits
        # for an actual OpenID Connect callback (`authenticate`).
        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        if not settings.OIDC_ENABLED or request is None or "nonce" not in kwargs:
            return None
        super().__init__()
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        issuer = settings.OIDC_ISSUER
        if str(payload.get("iss", "")).rstrip("/") != issuer:
            raise SuspiciousOperation(f"ID token from issuer {payload.get('iss')!r}, not {issuer}.")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token not issued for this client.")
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        """The userinfo claims over the ID token's (Entra ID sends groups in the ID token)."""
        claims = dict(payload)
        claims.update(super().get_userinfo(access_token, id_token, payload))
        claims["sub"] = payload["sub"]  # the ID token's subject is the one that counts
        return claims

    def verify_claims(self, claims) -> bool:
        return bool(claims.get("sub"))

    def filter_users_by_claims(self, claims):
        identity = OidcIdentity.objects.filter(
            issuer=settings.OIDC_ISSUER, subject=claims["sub"]
        ).select_related("user")
        users = self.UserModel.objects.filter(pk__in=identity.values("user"))
        if users.exists():
            return users
        email = (claims.get("email") or "").strip()
        if not email or claims.get("email_verified") is False:
            return self.UserModel.objects.none()
        # An account made by an administrator beforehand is linked on its first sign-in.
        return self.UserModel.objects.filter(email__iexact=email, oidc_identities__isnull=True)

    def _username(self, claims) -> str:
        base = (claims.get("preferred_username") or claims.get("email") or claims["sub"])[:140]
        username, n = base, 1
        while self.UserModel.objects.filter(username__iexact=username).exists():
            n += 1
            username = f"{base}-{n}"
        return username

    @transaction.atomic
    def create_user(self, claims):
        user = self.UserModel(username=self._username(claims), email=claims.get("email", ""))
        user.set_unusable_password()
        self._copy_claims(user, claims)
        user.save()
        self._refresh(user, claims)
        return user

    @transaction.atomic
    def update_user(self, user, claims):
        self._copy_claims(user, claims)
        user.save(update_fields=["first_name", "last_name", "email"])
        self._refresh(user, claims)
        return user

    @staticmethod
    def _copy_claims(user, claims) -> None:
        first = claims.get("given_name") or ""
        last = claims.get("family_name") or ""
        if not (first or last) and claims.get("name"):
            first, _, last = str(claims["name"]).partition(" ")
        user.first_name, user.last_name = str(first)[:150], str(last)[:150]
        if claims.get("email"):
            user.email = str(claims["email"])[:254]

    def _refresh(self, user, claims) -> None:
        """The identity recorded; Engineers and Managers set from the groups claim."""
        now = clock.now()
        OidcIdentity.objects.update_or_create(
            issuer=settings.OIDC_ISSUER,
            subject=claims["sub"],
            defaults={"user": user, "last_login_at": now},
            create_defaults={"user": user, "last_login_at": now, "created_at": now},
        )
        values = claims.get(settings.OIDC_GROUPS_CLAIM) or []
        if isinstance(values, str):
            values = [values]
        values = {str(v) for v in values}
        wanted = {
            ENGINEERS: bool(values & set(settings.OIDC_ENGINEER_GROUPS)),
            MANAGERS: bool(values & set(settings.OIDC_MANAGER_GROUPS)),
        }
        for group in Group.objects.filter(name__in=wanted):
            if wanted[group.name]:
                user.groups.add(group)
            else:
                user.groups.remove(group)


class AuthenticationRequestView(OIDCAuthenticationRequestView):
    """`/oidc/login/`: off to the provider, with state, nonce and a PKCE challenge."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs) -> None:
        self._kwargs = kwargs

    def get(self, request):
        _require_enabled()
        super().__init__(**self._kwargs)
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """`/oidc/callback/`: back from the provider."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request):
        _require_enabled()
        return super().get(request)

    def login_success(self) -> HttpResponse:
        if not has_access(self.user):
            logger.info("SSO sign-in refused: user %s is in no ResolutionFlow group", self.user.pk)
            return render(
                self.request,
                "registration/no_access.html",
                {"person": self.user, "provider": settings.OIDC_PROVIDER_NAME},
                status=403,
            )
        return super().login_success()
