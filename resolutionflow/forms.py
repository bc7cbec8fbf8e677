"""Sign-in forms: Django's, with the username's length actually enforced.

Django's AuthenticationForm sets `max_length` on its username field after the
field was built, so no MaxLengthValidator runs and a username of any length
reaches `authenticate()`. django-axes then records the failed attempt in a
255-character column, and PostgreSQL refuses the longer value: a 500 that
anyone could trigger from the login page. Here an over-long username is an
ordinary form error and never reaches the authentication backends.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator


class _UsernameLengthMixin:
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        username = self.fields["username"]
        username.validators.append(MaxLengthValidator(username.max_length))


class LoginForm(_UsernameLengthMixin, AuthenticationForm):
    """The app's sign-in form (`/accounts/login/`).

    With PASSWORD_LOGIN_FOR_NON_STAFF off (single sign-on in use), only staff
    sign in with a password; everyone else is pointed at the SSO button.
    """

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not settings.PASSWORD_LOGIN_FOR_NON_STAFF and not user.is_staff:
            raise ValidationError(
                f"Sign in with {settings.OIDC_PROVIDER_NAME} instead: password sign-in "
                "is for administrators only.",
                code="password_login_off",
            )


class AdminLoginForm(_UsernameLengthMixin, AdminAuthenticationForm):
    """The admin's sign-in form (`/admin/login/`)."""
