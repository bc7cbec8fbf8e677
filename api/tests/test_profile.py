"""The profile page: tokens listed with their last use, created (the secret shown once)
and revoked; one's own only."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from api.models import ApiToken
from api.services import token_create
from resolutionflow import clock as clock_module

pytestmark = pytest.mark.django_db


def create(client, **fields):
    body = {"name": "PSA sync", "days": 90, "form_id": str(uuid.uuid4())} | fields
    return client.post(reverse("token-new"), body)


def test_it_shows_a_new_tokens_secret_once(alice_client, alice):
    response = create(alice_client)
    assert response.status_code == 303
    assert response.url == reverse("profile")
    token = ApiToken.objects.get(user=alice)
    page = alice_client.get(reverse("profile"))
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("no-store") or "no-store" in page["Cache-Control"]
    assert "api/profile.html" in [t.name for t in page.templates]
    secret = page.context["new"]["secret"]
    assert secret.startswith(token.prefix)
    assert secret in page.content.decode()
    again = alice_client.get(reverse("profile")).content.decode()
    assert secret not in again
    assert token.prefix in again  # still listed, without its secret
    assert "never" in again  # last used


def test_it_makes_one_token_from_a_form_sent_twice(alice_client, alice):
    form_id = str(uuid.uuid4())
    create(alice_client, form_id=form_id)
    create(alice_client, form_id=form_id)
    assert ApiToken.objects.filter(user=alice).count() == 1


def test_it_refuses_a_bad_token_form_and_changes_nothing(alice_client):
    for fields in ({"name": "  "}, {"days": 9999}, {"name": "x" * 101}, {"name": "a\x00b"}):
        response = create(alice_client, **fields)
        assert response.status_code == 422, fields
        assert response.context["form"].errors
    assert not ApiToken.objects.exists()


def test_it_revokes_ones_own_token_only(alice_client, bob_client, alice, clock):
    token = token_create(user=alice, name="PSA sync").token
    url = reverse("token-revoke", args=[token.pk])
    assert bob_client.post(url).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    response = alice_client.post(url)
    assert response.status_code == 303
    token.refresh_from_db()
    assert token.revoked_at == clock_module.now()
    assert alice_client.post(url).status_code == 303  # twice: no change, no error
    page = alice_client.get(reverse("profile")).content.decode()
    assert "Revoked" in page
    assert alice_client.get(url).status_code == 405


def test_it_links_the_profile_from_the_account_menu(alice_client):
    page = alice_client.get(reverse("home")).content.decode()
    assert f'href="{reverse("profile")}"' in page
