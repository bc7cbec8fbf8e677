"""Connections, deliveries and PSA member ids in the admin; credentials at rest."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from integrations import crypto
from integrations.models import Connection, Delivery, PsaMember
from integrations.tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db

ADD = "admin:integrations_connection_add"


def connectwise_form(cw_server, **overrides) -> dict:
    return {
        "name": "ConnectWise",
        "kind": "connectwise",
        "base_url": cw_server.base_url,
        "is_active": "on",
        "is_default": "on",
        "events": ["session.completed"],
        "cw_company_id": "acme",
        "cw_public_key": "pub-key",
        "cw_private_key": "priv-key-9876",
        "cw_client_id": "client-123",
        **overrides,
    }


def test_it_keeps_credentials_encrypted_and_never_shows_a_secret(admin_client_logged_in, cw_server):
    response = admin_client_logged_in.post(reverse(ADD), connectwise_form(cw_server))
    assert response.status_code == 302, response.content.decode()[:2000]
    connection = Connection.objects.get()
    assert "priv-key-9876" not in connection.credentials_token
    assert connection.credentials["private_key"] == "priv-key-9876"
    change = reverse("admin:integrations_connection_change", args=[connection.pk])
    page = admin_client_logged_in.get(change).content.decode()
    assert "priv-key-9876" not in page and "Stored: ••••9876" in page
    assert 'value="acme"' in page  # identifiers are shown

    # Saving with the secret left blank keeps it; a new one replaces it.
    kept = connectwise_form(cw_server, cw_private_key="")
    assert admin_client_logged_in.post(change, kept).status_code == 302
    connection.refresh_from_db()
    assert connection.credentials["private_key"] == "priv-key-9876"


def test_it_refuses_a_connection_missing_what_its_kind_needs(admin_client_logged_in, cw_server):
    form = connectwise_form(cw_server, cw_private_key="", events=["tree.published"])
    response = admin_client_logged_in.post(reverse(ADD), form)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Required for ConnectWise PSA." in html
    assert "A PSA connection only takes the note on Session completed." in html
    assert not Connection.objects.exists()


def test_the_test_action_reports_what_the_psa_answered(admin_client_logged_in, cw, cw_server):
    broken = ConnectionFactory(name="Broken", base_url=cw_server.base_url, credentials={})
    response = admin_client_logged_in.post(
        reverse("admin:integrations_connection_changelist"),
        {"action": "test_connection", "_selected_action": [cw.pk, broken.pk]},
        follow=True,
    )
    html = response.content.decode()
    assert "Connectwise: Connected to ConnectWise PSA (v2025.1.12345)." in html
    assert "Broken: ConnectWise refused the credentials (401)." in html


def test_failed_deliveries_are_listed_and_retried(admin_client_logged_in, alice, cw, complete):
    session = complete(alice)
    (delivery,) = session.deliveries.all()
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", error="ConnectWise failed")
    changelist = reverse("admin:integrations_delivery_changelist")
    page = admin_client_logged_in.get(changelist, {"status__exact": "failed"}).content.decode()
    assert "ConnectWise failed" in page
    response = admin_client_logged_in.post(
        changelist, {"action": "retry", "_selected_action": [delivery.pk]}, follow=True
    )
    assert "1 delivery queued again." in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING


def test_an_engineers_psa_id_is_edited_on_their_user_page(admin_client_logged_in, alice):
    url = reverse("admin:auth_user_change", args=[alice.pk])
    page = admin_client_logged_in.get(url).content.decode()
    assert "PSA member ids" in page and "psa_members-0-member_id" in page
    User = get_user_model()
    assert PsaMember._meta.get_field("user").related_model is User


def test_rotating_keys_keeps_every_credential_readable(settings, cw):
    old = settings.INTEGRATIONS_KEYS = [crypto.Fernet.generate_key().decode()]
    cw.set_credentials({"private_key": "s3cret"})
    cw.save()
    settings.INTEGRATIONS_KEYS = [crypto.Fernet.generate_key().decode(), *old]
    from django.core.management import call_command

    call_command("rotate_integration_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.INTEGRATIONS_KEYS = settings.INTEGRATIONS_KEYS[:1]  # the old key is dropped
    cw.refresh_from_db()
    assert cw.credentials == {"private_key": "s3cret"}
    settings.INTEGRATIONS_KEYS = old
    with pytest.raises(crypto.CredentialsUnreadable):
        cw.credentials  # noqa: B018
