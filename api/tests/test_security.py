"""Tokens never reach the logs; CSRF still guards every write made with the session cookie."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from api.services import token_create
from sessions.models import Session
from sessions.tests.factories import build_version

pytestmark = pytest.mark.django_db


def test_it_never_logs_a_token(alice, caplog, capfd):
    build_version()
    caplog.set_level(logging.DEBUG)
    new = token_create(user=alice, name="PSA sync")
    good = Client(HTTP_AUTHORIZATION=f"Bearer {new.secret}")
    bad_secret = new.secret[:-4] + "abcd"
    bad = Client(HTTP_AUTHORIZATION=f"Bearer {bad_secret}")
    good.get(reverse("api:trees"))
    good.get(reverse("api:session", args=[uuid.uuid4()]))  # a 404, logged as a failure
    good.post(reverse("api:sessions"), "{", content_type="application/json")
    bad.get(reverse("api:trees"))  # a 401, logged
    browser = Client()
    browser.force_login(alice)
    browser.post(reverse("token-new"), {"name": "CI", "days": 30, "form_id": str(uuid.uuid4())})
    shown = browser.get(reverse("profile")).context["new"]["secret"]
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert "request failed" in logged  # the failures were logged...
    for secret in (new.secret, bad_secret, shown):
        assert secret not in logged  # ...without the token
        assert secret[3:20] not in logged


def test_the_api_refuses_session_writes_without_csrf_but_not_token_writes(alice):
    build_version()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    url = reverse("api:sessions")
    body = json.dumps({"tree": "vpn", "ticket_ref": "T-1"})

    refused = browser.post(url, body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    wrong = browser.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN="x" * 32)
    assert wrong.status_code == 403
    assert not Session.objects.exists()
    assert browser.get(url).status_code == 200  # reads need no token

    browser.get(reverse("home"))
    csrf = browser.cookies[settings.CSRF_COOKIE_NAME].value
    accepted = browser.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 201

    token = token_create(user=alice, name="PSA sync").secret
    integration = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert integration.post(url, body, content_type="application/json").status_code == 201
    assert Session.objects.count() == 2


def test_the_token_forms_still_need_csrf(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    response = browser.post(
        reverse("token-new"), {"name": "x", "days": 90, "form_id": str(uuid.uuid4())}
    )
    assert response.status_code == 403
    assert not alice.api_tokens.exists()


def test_the_login_page_offers_sso_and_can_keep_passwords_to_staff(alice, admin_user, settings):
    from resolutionflow.tests.factories import DEFAULT_PASSWORD

    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Microsoft"
    page = Client().get(reverse("login") + "?next=/sessions/").content.decode()
    assert f'href="{reverse("oidc-login")}?next=/sessions/"' in page
    assert "Sign in with Microsoft" in page and "or with your password" in page

    settings.PASSWORD_LOGIN_FOR_NON_STAFF = False
    refused = Client().post(reverse("login"), {"username": "alice", "password": DEFAULT_PASSWORD})
    assert refused.status_code == 200
    assert "Sign in with Microsoft instead" in refused.content.decode()
    assert "_auth_user_id" not in refused.wsgi_request.session
    staff = Client().post(reverse("login"), {"username": "admin", "password": DEFAULT_PASSWORD})
    assert staff.status_code == 302


def test_single_sign_on_is_a_404_while_it_is_not_configured(client):
    assert client.get(reverse("oidc-login")).status_code == 404
    assert client.get(reverse("oidc-callback"), {"code": "x", "state": "y"}).status_code == 404
    assert "Sign in with" not in client.get(reverse("login")).content.decode()
