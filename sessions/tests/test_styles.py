"""Outcome badge colours from the server: the ink maths and the outcomes' stylesheet."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sessions.colours import _mix, _rgb, badge_ink, contrast
from sessions.models import Outcome
from sessions.tests.factories import outcome

URL = reverse("sessions:outcome-styles")


@pytest.mark.parametrize(
    ("colour", "ink"),
    [
        # What app.js computed for these, before the maths moved here.
        ("#15803d", "#137337"),
        ("#b45309", "#a24b08"),
        ("#0369a1", "#0369a1"),
        ("#fde047", "#7f7024"),
        ("#64748b", "#5a687d"),
    ],
    ids=["resolved", "escalated", "workaround", "pale-yellow", "slate"],
)
def test_it_darkens_the_ink_only_as_far_as_needed(colour, ink):
    assert badge_ink(colour) == ink


@pytest.mark.parametrize("colour", ["#ffffff", "#fde047", "#00ff00", "#000000", "#7dd3fc"])
def test_it_keeps_any_colour_legible_on_its_tint(colour):
    tint = _mix(_rgb(colour), (255, 255, 255), 0.12)

    assert contrast(_rgb(badge_ink(colour)), tint) >= 4.5


@pytest.mark.django_db
def test_it_serves_every_outcomes_colour_and_ink(alice_client):
    Outcome.objects.create(code="on_hold", label="On hold", kind="neutral", colour="#fde047")

    response = alice_client.get(URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/css; charset=utf-8"
    css = response.content.decode()
    assert (
        '.badge.badge-outcome[data-outcome="on_hold"] '
        "{ --badge-colour: #fde047; --badge-ink: #7f7024; }" in css
    )
    assert '[data-outcome="resolved"] { --badge-colour: #15803d;' in css
    assert css.count("--badge-ink") == Outcome.objects.count()


@pytest.mark.django_db
def test_it_lets_the_browser_revalidate_the_stylesheet(alice_client):
    first = alice_client.get(URL)
    assert "no-cache" in first["Cache-Control"] and "private" in first["Cache-Control"]

    again = alice_client.get(URL, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304

    changed = outcome("escalated")
    changed.colour = "#123456"
    changed.save()
    assert alice_client.get(URL, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["history", "detail", "run"])
def test_it_links_the_stylesheet_from_the_pages_with_badges(alice_client, alice, page):
    from sessions import services
    from sessions.tests.factories import build_version

    session = services.session_create(tree=build_version().tree, engineer=alice)
    url = reverse(f"sessions:{page}", args=[] if page == "history" else [session.pk])

    assert f'<link rel="stylesheet" href="{URL}">' in alice_client.get(url).text
