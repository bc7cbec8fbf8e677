"""The Start form's ticket lookup and deep link; the detail page's Ticket card."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from integrations import services
from integrations.models import Delivery, Kind
from integrations.tests.conftest import connection_for
from sessions import services as session_services
from sessions.models import Outcome

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def lookup(http, **query):
    return http.get(reverse("integrations:ticket-lookup"), query, headers=HTMX)


def test_the_lookup_fills_client_and_summary_only_while_they_are_empty(alice_client, cw):
    response = lookup(alice_client, ticket_ref="1042", client="", summary="")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "ConnectWise PSA ticket 1042: VPN drops · Acme" in html
    assert '<div id="start-client" hx-swap-oob="true">' in html
    assert 'value="Acme"' in html and ">\nVPN drops</textarea>" in html

    typed = lookup(alice_client, ticket_ref="1042", client="Mine", summary="").content.decode()
    assert 'id="start-client"' not in typed and 'id="start-summary"' in typed


def test_the_lookup_says_when_the_ticket_is_missing_or_the_psa_fails(alice_client, cw, cw_server):
    html = lookup(alice_client, ticket_ref="999").content.decode()
    assert "There is no ticket 999 in ConnectWise. You can still start the session." in html
    assert "hx-swap-oob" not in html
    cw_server.fail(500)
    html = lookup(alice_client, ticket_ref="1042").content.decode()
    assert "Could not look the ticket up: ConnectWise failed with 500." in html


def test_the_lookup_is_quiet_without_a_default_connection(alice_client, version):
    response = lookup(alice_client, ticket_ref="1042")
    assert response.status_code == 200 and response.content.strip() == b""
    page = alice_client.get(version.tree.get_absolute_url()).content.decode()
    assert "ticket-lookup" not in page


def test_the_start_form_looks_tickets_up_and_takes_the_deep_link(alice_client, cw, version):
    url = version.tree.get_absolute_url()
    page = alice_client.get(url, {"ticket": "1042", "client": "Acme", "summary": "VPN <b>"})
    html = page.content.decode()
    assert f'hx-get="{reverse("integrations:ticket-lookup")}"' in html
    assert 'hx-trigger="input changed delay:600ms from:#id_ticket_ref"' in html
    assert 'name="ticket_ref" value="1042"' in html
    assert 'value="Acme"' in html and "VPN &lt;b&gt;</textarea>" in html


def test_the_ticket_card_shows_posted_to_ticket(alice, alice_client, cw, complete):
    session = complete(alice)
    (delivery,) = session.deliveries.all()
    html = alice_client.get(session.get_absolute_url()).content.decode()
    assert "Queued" in html and 'hx-trigger="every 2s"' in html  # polls while open

    services.delivery_attempt(delivery_id=delivery.pk)
    html = alice_client.get(reverse("integrations:deliveries", args=[session.pk])).content.decode()
    assert "<html" not in html and "Posted to ticket" in html
    assert "every 2s" not in html and "HTTP 201" in html
    assert "Retry" not in html and "Post to ticket" not in html  # nothing left to post


def test_post_to_ticket_and_retry_answer_htmx_and_plain_posts(alice, alice_client, cw, complete):
    session = complete(alice)
    (delivery,) = session.deliveries.all()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.FAILED, attempts=6, error="ConnectWise failed with 500."
    )
    card = alice_client.get(session.get_absolute_url()).content.decode()
    assert "Failed" in card and "ConnectWise failed with 500." in card and "Retry" in card

    url = reverse("integrations:retry", args=[session.pk])
    response = alice_client.post(url, headers=HTMX)
    assert response.status_code == 200 and "<html" not in response.content.decode()
    assert '"toast": {"message": "Trying again."' in response["HX-Trigger"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.PENDING, 0)

    again = alice_client.post(url)  # a second click: nothing failed any more
    assert again.status_code == 303 and again["Location"] == session.get_absolute_url()
    assert DBTaskResult.objects.count() == 2

    post = alice_client.post(reverse("integrations:post", args=[session.pk]), headers=HTMX)
    assert "already posted or on its way" in post["HX-Trigger"]
    assert session.deliveries.count() == 1
    assert alice_client.get(reverse("integrations:post", args=[session.pk])).status_code == 405


def test_another_engineers_session_is_a_404(bob_client, alice, cw, complete):
    session = complete(alice)
    for name in ("integrations:post", "integrations:retry"):
        assert bob_client.post(reverse(name, args=[session.pk])).status_code == 404
    url = reverse("integrations:deliveries", args=[session.pk])
    assert bob_client.get(url).status_code == 404
    assert session.deliveries.count() == 1


def test_post_to_ticket_explains_a_refusal(alice, alice_client, cw, version):
    session = session_services.session_create(tree=version.tree, engineer=alice, ticket_ref="")
    response = alice_client.post(reverse("integrations:post", args=[session.pk]), follow=True)
    assert "Only a completed session can be posted to its ticket." in response.content.decode()
    assert not Delivery.objects.exists()


def test_post_to_ticket_sends_a_session_completed_before_the_connection(
    alice, alice_client, cw_server, complete
):
    session = complete(alice)  # no connection yet: nothing queued
    assert not session.deliveries.exists()
    connection_for(cw_server, Kind.CONNECTWISE)
    html = alice_client.get(session.get_absolute_url()).content.decode()
    assert "Not posted to the ticket yet." in html and "Post to ticket" in html

    url = reverse("integrations:post", args=[session.pk])
    response = alice_client.post(url, headers=HTMX)
    assert "The note is on its way to the ticket." in response["HX-Trigger"]
    assert "Queued" in response.content.decode()
    alice_client.post(url, headers=HTMX)  # a double click
    assert session.deliveries.count() == 1


def test_who_only_handed_the_session_on_reads_its_ticket_card_but_cannot_post(
    alice, bob, alice_client, bob_client, cw, version, clock
):
    session = session_services.session_create(tree=version.tree, engineer=alice, ticket_ref="77")
    session_services.session_hand_off(session=session, to=bob, by=alice, note="Yours now")
    clock.advance(minutes=5)
    session_services.session_complete(
        session=session, outcome=Outcome.objects.get(code="resolved"), by=bob
    )
    Delivery.objects.update(status=Delivery.Status.FAILED)

    html = alice_client.get(session.get_absolute_url()).content.decode()
    assert 'id="ticket-panel"' in html
    assert "Retry" not in html and "Post to ticket</button>" not in html
    for name in ("integrations:post", "integrations:retry"):
        assert alice_client.post(reverse(name, args=[session.pk])).status_code == 404
    assert Delivery.objects.filter(status=Delivery.Status.FAILED).count() == 1
    assert "Retry" in bob_client.get(session.get_absolute_url()).content.decode()
