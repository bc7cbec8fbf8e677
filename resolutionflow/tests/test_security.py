"""Deployment settings, security headers, login throttling and the sign-in lifetime.

`manage.py check --deploy` runs in a subprocess with exactly the environment
the README's deployment section asks for, so the test fails when either the
settings or the documented configuration drift.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.sessions.models import Session as StoredSession
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from resolutionflow.tests.factories import DEFAULT_PASSWORD

LOGIN_URL = "/accounts/login/"

# What the README's "Production deployment" section tells an operator to set.
PRODUCTION_ENV = {
    "DEBUG": "False",
    "ALLOWED_HOSTS": "flow.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://flow.example.com",
    "USE_X_FORWARDED_PROTO": "True",
    "SECURE_HSTS_PRELOAD": "True",
}


def _production_env(**overrides: str) -> dict[str, str]:
    """A clean environment: only what a deployment sets, nothing the test run added
    (conftest sets DJANGO_ALLOW_ASYNC_UNSAFE, which check --deploy rightly refuses)."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update(
        PRODUCTION_ENV,
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL="postgres://rf@db.example.com:5432/resolutionflow",
        DJANGO_SETTINGS_MODULE="resolutionflow.settings",
    )
    env.update(overrides)
    return env


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- deployment checklist ---------------------------------------------------------


def test_it_passes_check_deploy_with_zero_warnings_in_production_configuration():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_it_fails_check_deploy_without_the_documented_hsts_preload():
    env = _production_env()
    del env["SECURE_HSTS_PRELOAD"]
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "security.W021" in result.stderr + result.stdout


def test_it_switches_on_https_only_behaviour_in_production():
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k, None) for k in ("
        "'SECURE_SSL_REDIRECT', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
        "'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', "
        "'SECURE_PROXY_SSL_HEADER', 'SESSION_COOKIE_HTTPONLY', 'X_FRAME_OPTIONS', "
        "'SECURE_CONTENT_TYPE_NOSNIFF', 'SECURE_REFERRER_POLICY', 'DEBUG')}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values == {
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SESSION_COOKIE_HTTPONLY": True,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "DEBUG": False,
    }


PRODUCTION_TRANSPORT = {
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 31_536_000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_HSTS_PRELOAD": True,
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
}


@pytest.mark.django_db
@override_settings(**PRODUCTION_TRANSPORT)
def test_it_redirects_plain_http_to_https_behind_the_proxy():
    response = Client().get("/accounts/login/", headers={"X-Forwarded-Proto": "http"})
    assert response.status_code == 301
    assert response.url == "https://testserver/accounts/login/"
    assert response["X-Request-ID"]


@pytest.mark.django_db
@override_settings(**PRODUCTION_TRANSPORT)
def test_it_sends_hsts_and_secure_cookies_over_https(alice):
    client = Client(headers={"X-Forwarded-Proto": "https"})
    page = client.get(LOGIN_URL)
    assert page.status_code == 200
    assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert page.cookies["csrftoken"]["secure"] is True

    response = client.post(LOGIN_URL, {"username": "alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


# --- security headers on every kind of response ------------------------------------


def _csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize(
    "path,status",
    [
        ("/", 200),
        (LOGIN_URL, 200),
        ("/healthz", 200),
        ("/trees/", 200),
        ("/no-such-page/", 404),
        ("/reports/", 403),
        ("/accounts/logout/", 405),
    ],
)
def test_it_sends_the_security_headers_on_every_response(alice_client, path, status):
    response = alice_client.get(path)
    assert response.status_code == status
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Permissions-Policy"] == settings.PERMISSIONS_POLICY
    assert "camera=()" in response["Permissions-Policy"]
    assert "Cross-Origin-Opener-Policy" in response
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    csp = _csp_directives(response["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    header = response["Content-Security-Policy"]
    assert "unsafe-inline" not in header
    assert "unsafe-eval" not in header
    assert "Content-Security-Policy-Report-Only" not in response


# --- login throttling ------------------------------------------------------------------


def _fail(client: Client, username: str = "alice", **extra):
    return client.post(LOGIN_URL, {"username": username, "password": "wrong"}, **extra)


def _log_in(client: Client, username: str = "alice", password: str = DEFAULT_PASSWORD):
    return client.post(LOGIN_URL, {"username": username, "password": password})


def test_it_locks_out_after_five_failures_with_a_clear_message(alice):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = _fail(client)
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()

    locked = _fail(client)
    assert locked.status_code == 429
    html = locked.content.decode()
    assert "Too many failed sign-ins" in html
    assert "paused for 15 minutes" in html
    assert "ask an administrator to unlock your account" in html
    assert "PT15M" not in html  # never the raw ISO 8601 duration
    assert '<main id="main"' in html  # in the app layout

    # Even the right password is refused while locked, and nothing is signed in.
    assert _log_in(client).status_code == 429
    assert client.get("/").status_code == 302


def test_it_keeps_other_usernames_signing_in_during_a_lockout(alice, bob):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _fail(client)
    assert _log_in(client).status_code == 429

    other = Client()
    response = _log_in(other, "bob")
    assert response.status_code == 302
    assert other.get("/").status_code == 200


def test_it_ignores_a_spoofed_forwarded_for_header(alice):
    # The address comes from REMOTE_ADDR only: rotating X-Forwarded-For must not
    # buy an attacker five more guesses per made-up address.
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        _fail(client, headers={"X-Forwarded-For": f"203.0.113.{n}"})
    response = client.post(
        LOGIN_URL,
        {"username": "alice", "password": DEFAULT_PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    assert response.status_code == 429


def test_it_counts_failures_per_address(alice):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _fail(attacker)
    assert _log_in(attacker).status_code == 429

    office = Client(REMOTE_ADDR="198.51.100.20")
    assert _log_in(office).status_code == 302


def test_it_lets_an_admin_unlock_in_the_admin(alice, admin_client_logged_in):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _fail(client)
    attempt = AccessAttempt.objects.get(username="alice")
    assert attempt.failures_since_start == settings.AXES_FAILURE_LIMIT

    listing = admin_client_logged_in.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200
    assert "alice" in listing.content.decode()
    delete_url = reverse("admin:axes_accessattempt_delete", args=[attempt.pk])
    response = admin_client_logged_in.post(delete_url, {"post": "yes"})
    assert response.status_code == 302

    assert not AccessAttempt.objects.filter(username="alice").exists()
    assert _log_in(client).status_code == 302


def test_it_unlocks_with_the_management_command(alice):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _fail(client)
    assert _log_in(client).status_code == 429

    call_command("axes_reset_username", "alice", stdout=open(os.devnull, "w"))  # noqa: SIM115

    assert _log_in(client).status_code == 302


def test_it_resets_the_failure_count_after_a_successful_sign_in(alice):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _fail(client)
    assert _log_in(client).status_code == 302
    client.post("/accounts/logout/")

    # A fresh run of four failures is not a lockout: the earlier four were forgotten.
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _fail(client).status_code == 200
    assert _log_in(client).status_code == 302


# --- sign-in lifetime and password changes -------------------------------------------


def test_it_expires_the_sign_in_after_the_session_cookie_age(alice):
    assert settings.SESSION_COOKIE_AGE == 12 * 60 * 60
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is False
    client = Client()
    response = _log_in(client)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) == settings.SESSION_COOKIE_AGE
    stored = StoredSession.objects.get(session_key=cookie.value)
    expected = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert abs((stored.expire_date - expected).total_seconds()) < 60

    # Past its expiry the session no longer signs anyone in, whatever the browser sends.
    StoredSession.objects.filter(pk=stored.pk).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith(LOGIN_URL)


def test_it_signs_out_other_sessions_when_the_password_changes(alice):
    laptop, phone = Client(), Client()
    assert _log_in(laptop).status_code == 302
    assert _log_in(phone).status_code == 302
    assert phone.get("/").status_code == 200

    response = laptop.post(
        reverse("password_change"),
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": "a-much-longer-passphrase-2026",
            "new_password2": "a-much-longer-passphrase-2026",
        },
    )
    assert response.status_code == 302

    # The browser that changed it stays signed in; every other one is signed out.
    assert laptop.get("/").status_code == 200
    response = phone.get("/")
    assert response.status_code == 302
    assert response.url.startswith(LOGIN_URL)
    assert _log_in(phone).status_code == 200  # the old password no longer works
    assert _log_in(phone, password="a-much-longer-passphrase-2026").status_code == 302


def test_it_rotates_the_session_key_at_sign_in(alice):
    client = Client()
    client.get(LOGIN_URL)
    client.cookies[settings.SESSION_COOKIE_NAME] = "attacker-chosen-session-key"
    _log_in(client)
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != "attacker-chosen-session-key"


@pytest.mark.parametrize("url", [LOGIN_URL, "/admin/login/"])
@pytest.mark.parametrize("length", [151, 256, 100_000])
def test_it_refuses_an_over_long_username_as_a_form_error(db, url, length):
    # Django's form never checks the length itself; axes would then store the
    # attempt in a 255-character column and PostgreSQL would refuse it (a 500).
    response = Client().post(url, {"username": "a" * length, "password": "wrong"})
    assert response.status_code == 200
    assert "Ensure this value has at most 150 characters" in response.content.decode()
    assert not AccessAttempt.objects.exists()
