"""The history's count sentences in singular and plural (0, 1, 2 sessions)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from sessions import services
from sessions.tests.factories import build_version, outcome

pytestmark = pytest.mark.django_db

URL = reverse("sessions:history")
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "history-results"}


def results_title(response) -> str:
    html = response.content.decode()
    heading = re.search(r'<h2 id="history-results-title"[^>]*>(.*?)</h2>', html, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", "", heading).split())


@pytest.fixture
def sessions_of(alice, clock):
    tree = build_version().tree

    def make(completed: int, active: int = 1) -> None:
        for _ in range(completed):
            session = services.session_create(tree=tree, engineer=alice)
            services.session_complete(session=session, outcome=outcome("resolved"), by=alice)
        for _ in range(active):
            services.session_create(tree=tree, engineer=alice)

    return make


@pytest.mark.parametrize(
    ("completed", "title"),
    [
        (0, "0 sessions match these filters"),
        (1, "1 session matches these filters"),
        (2, "2 sessions match these filters"),
    ],
    ids=["none", "one", "two"],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_it_counts_the_sessions_matching_the_filters(
    alice_client, sessions_of, completed, title, htmx
):
    sessions_of(completed)
    response = alice_client.get(URL, {"status": "completed"}, **(HTMX if htmx else {}))
    assert response.status_code == 200
    assert ("<html" in response.text) is not htmx
    assert results_title(response) == title


@pytest.mark.parametrize(
    ("active", "title"),
    [(1, "1 session"), (2, "2 sessions")],
    ids=["one", "two"],
)
def test_it_counts_all_sessions_without_filters(alice_client, sessions_of, active, title):
    sessions_of(0, active=active)
    assert results_title(alice_client.get(URL)) == title


def test_it_says_no_session_matches_in_the_empty_state(alice_client, sessions_of):
    sessions_of(0)
    response = alice_client.get(URL, {"status": "completed"})
    assert "No sessions match these filters" in response.text
