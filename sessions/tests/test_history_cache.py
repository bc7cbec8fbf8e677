"""The history's cached cards, total and filter lists (sessions.cards).

Every test poisons the cached cards after a page load (each entry replaced by a
marker) and then checks two things on the next load: the cards nobody changed
come from the cache (they show the marker), and a card whose session, or whose
tree, outcome or engineer, changed in any way shows the change (not the marker).
"""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.middleware.csrf import _does_token_match
from django.urls import reverse

from sessions import pages, services
from sessions.cards import CLOCK_MARK, card_key, render_cards
from sessions.models import Session
from sessions.pages import csrf_mark
from sessions.tests.factories import build_version, outcome
from trees.models import Choice

pytestmark = pytest.mark.django_db

URL = reverse("sessions:history")
STALE = "STALE-CARD"


@pytest.fixture(autouse=True)
def shared(settings):
    """One test process is one app server: its memory cache stands for Redis here."""
    settings.SHARED_CACHE = True


@pytest.fixture
def vpn(db):
    return build_version().tree


def start(engineer, tree, **fields) -> Session:
    return services.session_create(tree=tree, engineer=engineer, **fields)


def answer(session: Session, label: str) -> None:
    session.refresh_from_db()
    open_step = session.decisions.open().get()
    choice = Choice.objects.get(node=open_step.node, label=label)
    services.decision_answer(session=session, decision_id=open_step.pk, choice_id=choice.pk)


def cached_keys(kind: str) -> list[str]:
    # The local-memory cache's own keys are "<prefix>:<version>:<key>".
    return [key.split(":", 2)[2] for key in list(cache._cache) if f":{kind}:" in key]


def card_keys() -> list[str]:
    return cached_keys("card")


def stale(session_id: str) -> str:
    return f'<article id="session-{session_id}">{STALE}</article>'


ARTICLE = re.compile(r'<article[^>]*id="session-([0-9a-f-]+)".*?</article>', re.S)


def poison() -> int:
    """Replace every cached card with a marker, alone and inside the cached pages
    (sessions.pages); how many cards there were."""
    keys = card_keys()
    # card:<digest>:<session id>:…
    cache.set_many({key: stale(key.split(":")[2]) for key in keys})
    for key in cached_keys("page"):
        # A stored page is its markup split at its holes (sessions.pages._split).
        parts = cache.get(key)
        markup = "".join(
            part if i % 2 == 0 else CLOCK_MARK.format(part) if part else csrf_mark()
            for i, part in enumerate(parts)
        )
        cache.set(key, pages._split(ARTICLE.sub(lambda match: stale(match[1]), markup)))
    return len(keys)


def card(response, session: Session) -> str:
    """The markup of `session`'s card on the page (the marker when it came poisoned from the
    cache)."""
    html = response.content.decode()
    match = re.search(rf'<article[^>]*id="session-{session.pk}".*?</article>', html, re.S)
    return match[0] if match else ""


def test_a_card_is_rendered_once_and_then_read_from_the_cache(charlie_client, alice, vpn):
    done = start(alice, vpn, ticket_ref="T-1")
    services.session_complete(session=done, outcome=outcome("resolved"), by=alice)
    first = charlie_client.get(URL)
    assert "T-1" in first.content.decode()
    assert poison() == 1
    second = charlie_client.get(URL)
    assert STALE in second.content.decode()
    assert "T-1" not in second.content.decode()


def _pause(session, people):
    services.session_pause(session=session, by=session.engineer)


def _resume(session, people):
    services.session_resume(session=session, by=session.engineer)


def _hand_off(session, people):
    services.session_hand_off(session=session, to=people["bob"], by=session.engineer, note="x")


def _close(session, people):
    services.session_complete(session=session, outcome=outcome("escalated"), by=session.engineer)


def _correct(session, people):
    services.session_change_outcome(
        session=session, outcome=outcome("unresolved"), by=people["charlie"]
    )


def _edit(session, people):
    services.session_edit_details(session=session, by=session.engineer, ticket_ref="T-99")


def _back(session, people):
    open_step = session.decisions.open().get()
    services.decision_back(session=session, decision_id=open_step.pk)


def _rename_tree(session, people):
    session.tree.name = "VPN drops every hour"
    session.tree.save()


def _rename_outcome(session, people):
    workaround = outcome("workaround")
    workaround.label = "Worked around"
    workaround.save()


def _rename_engineer(session, people):
    people["alice"].first_name, people["alice"].last_name = "Alice", "Archer"
    people["alice"].save()


# (change, how the session is before it, what its card shows after it)
CHANGES = {
    "answer": (lambda s, p: answer(s, "Yes"), "active", "Reset the VPN credentials"),
    "back": (_back, "answered", "Is the VPN client installed?"),
    "pause": (_pause, "active", "active, paused"),
    "resume": (_resume, "paused", "active so far"),
    "hand-off": (_hand_off, "active", ">bob<"),
    "close": (_close, "active", "Escalated"),
    "outcome correction": (_correct, "completed", "Unresolved"),
    "edit details": (_edit, "active", "T-99"),
    "tree renamed": (_rename_tree, "completed", "VPN drops every hour"),
    "outcome renamed": (_rename_outcome, "completed", "Worked around"),
    "engineer renamed": (_rename_engineer, "completed", "Alice Archer"),
}


@pytest.mark.parametrize("change", CHANGES, ids=list(CHANGES))
def test_every_change_shows_on_the_next_page_load(
    change, charlie_client, alice, bob, charlie, vpn, clock
):
    do, before, expected = CHANGES[change]
    untouched = start(bob, vpn, ticket_ref="OTHER")
    services.session_complete(session=untouched, outcome=outcome("resolved"), by=bob)
    clock.advance(60)
    session = start(alice, vpn, ticket_ref="T-1")
    clock.advance(60)
    if before == "answered":
        answer(session, "Yes")
    elif before == "paused":
        services.session_pause(session=session, by=alice)
    elif before == "completed":
        services.session_complete(session=session, outcome=outcome("workaround"), by=alice)
    clock.advance(60)

    charlie_client.get(URL)
    assert poison() == 2
    assert STALE in card(charlie_client.get(URL), session)  # read from the cache

    session.refresh_from_db()
    do(session, {"alice": alice, "bob": bob, "charlie": charlie})
    response = charlie_client.get(URL)
    shown = card(response, session)
    assert STALE not in shown and expected in shown
    if change not in ("tree renamed", "outcome renamed", "engineer renamed"):
        # Only the changed card was rendered again; the other still comes from the cache.
        assert STALE in response.content.decode()


def test_an_active_card_shows_the_time_so_far_on_every_load(alice_client, alice, vpn, clock):
    session = start(alice, vpn)
    clock.advance(65)
    assert "1m 05s" in card(alice_client.get(URL), session)
    clock.advance(60)
    # The same cached card, the time filled in again.
    assert "2m 05s" in card(alice_client.get(URL), session)


def test_the_close_link_of_a_cached_card_keeps_this_pages_filters(alice_client, alice, vpn):
    session = start(alice, vpn, ticket_ref="T-1")
    alice_client.get(URL)  # cached without filters
    shown = card(alice_client.get(URL, {"status": "active"}), session)
    assert f"?status=active&amp;close={session.pk}" in shown
    assert "next=/sessions/%3Fstatus%3Dactive" in shown


def test_a_cached_start_form_carries_the_viewers_own_csrf_token(vpn, alice, charlie, bob):
    from django.test import Client

    prepared = services.session_prepare(tree=vpn, engineer=alice, by=charlie, ticket_ref="PREP-1")
    tokens = []
    for user in (charlie, alice):
        client = Client()
        client.force_login(user)
        client.get(URL)  # sets the CSRF cookie
        shown = card(client.get(URL), prepared)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', shown)[1]
        assert _does_token_match(token, client.cookies["csrftoken"].value)
        tokens.append(token)
    assert len(card_keys()) == 2  # one per view of it (the manager's shows the engineer)


def test_viewers_get_their_own_version_of_a_card(vpn, alice, bob, charlie, rf):
    session = start(alice, vpn)
    keys = {
        card_key(session, show_engineer=show, may_close=close)
        for show in (True, False)
        for close in (True, False)
    }
    assert len(keys) == 4
    session.refresh_from_db()
    services.session_pause(session=session, by=alice)
    session.refresh_from_db()
    assert card_key(session, show_engineer=True, may_close=True) not in keys


def test_the_popover_shown_open_is_never_cached(alice_client, alice, vpn):
    session = start(alice, vpn)
    response = alice_client.get(URL, {"close": str(session.pk)})
    assert 'name="csrfmiddlewaretoken"' in card(response, session)
    assert card_keys() == []


def test_the_total_and_the_filter_lists_follow_new_sessions_and_renames(
    charlie_client, alice, bob, vpn
):
    start(alice, vpn)
    page = charlie_client.get(URL).content.decode()
    assert "1 session" in page and ">bob<" not in page
    start(bob, vpn)
    page = charlie_client.get(URL).content.decode()
    assert "2 sessions" in page and 'value="bob"' in page
    bob.first_name = "Bobby"
    bob.save()
    assert "Bobby (bob)" in charlie_client.get(URL).content.decode()
    vpn.name = "VPN v2"
    vpn.save()
    assert ">VPN v2</option>" in charlie_client.get(URL).content.decode()


def test_a_hand_off_moves_the_session_into_the_colleagues_total(
    alice_client, bob_client, alice, bob, vpn
):
    session = start(alice, vpn)
    assert "0 sessions" in bob_client.get(URL).content.decode()
    services.session_hand_off(session=session, to=bob, by=alice, note="over to you")
    assert "1 session" in bob_client.get(URL).content.decode()


def tickets(response) -> list[str]:
    return re.findall(r"\bT-\d+\b", "".join(ARTICLE_TEXT.findall(response.content.decode())))


ARTICLE_TEXT = re.compile(r"<article[^>]*>(.*?)</article>", re.S)


def test_a_whole_historys_pages_follow_new_deleted_and_handed_on_sessions(
    charlie_client, bob_client, alice, bob, vpn, clock
):
    # A whole history's pages keep their ids in the cache until its generation changes.
    sessions = []
    for i in range(26):
        sessions.append(start(alice, vpn, ticket_ref=f"T-{i}"))
        clock.advance(60)
    assert tickets(charlie_client.get(URL, {"page": "2"})) == ["T-0"]
    start(bob, vpn, ticket_ref="T-26")
    assert tickets(charlie_client.get(URL, {"page": "2"})) == ["T-1", "T-0"]
    # (Sessions are kept; a deletion in the shell, say, still moves the pages.)
    sessions[0].decisions.all().delete()
    sessions[0].delete()
    assert tickets(charlie_client.get(URL, {"page": "2"})) == ["T-1"]
    assert tickets(bob_client.get(URL)) == ["T-26"]
    services.session_hand_off(session=sessions[5], to=bob, by=alice, note="over to you")
    assert tickets(bob_client.get(URL)) == ["T-26", "T-5"]


def test_a_cached_list_of_ids_never_shows_what_the_viewer_may_not_see(
    alice_client, alice, bob, vpn
):
    own = start(alice, vpn, ticket_ref="T-1")
    theirs = start(bob, vpn, ticket_ref="T-2")
    alice_client.get(URL)
    [key] = [key for key in cache._cache if f":count:{alice.pk}:ids:1:" in key]
    total, number, _ = cache.get(key.split(":", 2)[2])
    cache.set(key.split(":", 2)[2], (total + 1, number, [theirs.pk, own.pk]))
    assert tickets(alice_client.get(URL)) == ["T-1"]


def test_signing_in_does_not_renew_the_generation(alice, vpn):
    from sessions.cards import history_generation

    token = history_generation()
    alice.last_login = None
    alice.save(update_fields=["last_login"])
    assert history_generation() == token
    start(alice, vpn)
    assert history_generation() != token


def test_render_cards_keeps_the_order_and_renders_misses_once(alice, vpn, rf):
    from django.http import QueryDict
    from django.template import Context

    sessions = [start(alice, vpn, ticket_ref=f"T-{i}") for i in range(3)]
    context = Context(
        {
            "user": alice,
            "show_engineer": False,
            "can_close_any": False,
            "page_params": QueryDict(),
            "history_url": URL,
        }
    )
    first = render_cards(context, sessions)
    assert [f"T-{i}" in html for i, html in enumerate(first)] == [True] * 3
    assert len(card_keys()) == 3
    assert render_cards(context, sessions) == first


def test_the_history_works_while_the_shared_cache_is_down(
    alice_client, alice, vpn, settings, caplog
):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "resolutionflow.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    # (Django's test signals drop the cache connections when CACHES changes.)
    session = start(alice, vpn, ticket_ref="T-DOWN")
    response = alice_client.get(URL)
    assert response.status_code == 200
    assert "T-DOWN" in card(response, session)
    assert "shared cache unavailable" in caplog.text


def test_a_completed_sessions_steps_are_rendered_once_and_follow_its_changes(
    alice_client, alice, charlie, vpn
):
    session = start(alice, vpn)
    detail = reverse("sessions:detail", args=[session.pk])
    alice_client.get(detail)
    assert not [key for key in cache._cache if "session-timeline" in key]  # active: live

    services.session_complete(session=session, outcome=outcome("resolved"), by=alice)
    alice_client.get(detail)
    keys = [key.split(":", 2)[2] for key in cache._cache if "session-timeline" in key]
    assert len(keys) == 1
    cache.set_many(dict.fromkeys(keys, f"<ol>{STALE}</ol>"))
    assert STALE in alice_client.get(detail).content.decode()

    session.refresh_from_db()
    services.session_change_outcome(session=session, outcome=outcome("escalated"), by=charlie)
    page = alice_client.get(detail).content.decode()
    assert STALE not in page and "Is the VPN client installed?" in page


def test_without_a_shared_cache_the_total_and_lists_are_not_cached(
    charlie_client, alice, vpn, settings
):
    # Each app server's own memory would not hear of another's renewal: only the
    # cards (keyed by the rows themselves) are cached then.
    settings.SHARED_CACHE = False
    start(alice, vpn)
    assert "1 session" in charlie_client.get(URL).content.decode()
    assert not [
        key for key in cache._cache if ":history:count:" in key or ":history:options:" in key
    ]
    assert card_keys()


# --- whole pages (sessions.pages) ----------------------------------------------------


def page_keys() -> list[str]:
    return cached_keys("page")


def test_a_page_is_stored_once_and_then_read_with_two_queries(
    charlie_client, alice, vpn, django_assert_num_queries
):
    done = start(alice, vpn, ticket_ref="T-1")
    services.session_complete(session=done, outcome=outcome("resolved"), by=alice)
    charlie_client.get(URL)
    assert len(page_keys()) == 1
    poison()
    # The browser's session (production reads it from Redis: SESSION_ENGINE), the
    # signed-in user, and the revisions of the page's sessions (its ids come from
    # the cache): nothing else.
    with django_assert_num_queries(3):
        again = charlie_client.get(URL)
    assert STALE in card(again, done)
    assert len(page_keys()) == 1


def test_the_results_region_and_the_whole_page_are_stored_apart(charlie_client, alice, vpn):
    session = start(alice, vpn, ticket_ref="T-1")
    region = {"HX-Request": "true", "HX-Target": "history-results"}
    for _ in range(2):
        whole = charlie_client.get(URL).content.decode()
        part = charlie_client.get(URL, headers=region).content.decode()
        assert whole.startswith("<!doctype html>") and "T-1" in card_of(whole, session)
        assert part.lstrip().startswith('<section id="history-results"') and "T-1" in part
    assert len(page_keys()) == 2


def card_of(html: str, session: Session) -> str:
    match = re.search(rf'<article[^>]*id="session-{session.pk}".*?</article>', html, re.S)
    return match[0] if match else ""


def test_a_filtered_total_follows_a_change_off_the_page(charlie_client, alice, vpn):
    # 26 active sessions: the first page shows 25; closing the 26th (page 2) changes
    # the total of page 1 but none of its sessions.
    sessions = [start(alice, vpn, ticket_ref=f"T-{i:02d}") for i in range(26)]
    assert "26 sessions" in charlie_client.get(URL, {"status": "active"}).content.decode()
    services.session_complete(session=sessions[0], outcome=outcome("resolved"), by=alice)
    assert "25 sessions" in charlie_client.get(URL, {"status": "active"}).content.decode()


def test_a_permission_granted_shows_on_the_next_load(alice_client, alice, vpn):
    from django.contrib.auth.models import Permission

    start(alice, vpn)
    assert "Prepare a session" not in alice_client.get(URL).content.decode()
    alice.user_permissions.add(Permission.objects.get(codename="prepare_session"))
    assert "Prepare a session" in alice_client.get(URL).content.decode()


def test_each_browser_gets_its_own_csrf_token_in_a_stored_page(alice, vpn):
    from django.test import Client

    services.session_prepare(tree=vpn, engineer=alice, by=alice, ticket_ref="PREP-1")
    for _ in range(2):  # two browsers of one person: one stored page, two tokens
        browser = Client()
        browser.force_login(alice)
        browser.get(URL)  # sets the CSRF cookie
        page = browser.get(URL).content.decode()
        cookie = browser.cookies["csrftoken"].value
        tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        tokens.append(re.search(r'"X-CSRFToken": "([^"]+)"', page)[1])
        assert len(tokens) >= 3  # the Start form, the log-out forms, htmx's header
        assert all(_does_token_match(token, cookie) for token in tokens)
        assert csrf_mark() not in page
    assert len(page_keys()) == 1


def test_a_page_with_messages_shows_them_once_and_is_not_stored(alice_client, alice, vpn):
    session = start(alice, vpn, ticket_ref="T-1")
    alice_client.get(URL)
    close = reverse("sessions:close", args=[session.pk])
    alice_client.post(close, {"outcome": "resolved", "next": URL})
    stored = set(page_keys())
    first = alice_client.get(URL).content.decode()
    assert "Session closed as Resolved." in first
    assert set(page_keys()) == stored  # the page with the message was not kept
    assert "Session closed as Resolved." not in alice_client.get(URL).content.decode()


def test_a_stored_page_counts_the_time_on_from_where_the_pauses_left_it(
    alice_client, alice, vpn, clock
):
    session = start(alice, vpn)
    clock.advance(30)
    services.session_pause(session=session, by=alice)
    clock.advance(600)  # ten minutes paused: not active time
    session.refresh_from_db()
    services.session_resume(session=session, by=alice)
    clock.advance(15)
    assert "45s" in card(alice_client.get(URL), session)
    clock.advance(60)
    shown = card(alice_client.get(URL), session)
    assert ">1m 45s</span>" in shown
    origin = re.search(r'data-elapsed-since="([^"]+)"', shown)[1]
    session.refresh_from_db()
    assert origin == session.clock_origin.isoformat(timespec="milliseconds")
    assert "<!--since:" not in shown


def test_a_deployment_reads_no_page_stored_by_the_release_before(
    charlie_client, alice, vpn, monkeypatch
):
    from resolutionflow import release

    start(alice, vpn)
    charlie_client.get(URL)
    poison()
    assert STALE in charlie_client.get(URL).content.decode()
    monkeypatch.setattr(release, "digest", lambda template_name: "next-release")
    assert STALE not in charlie_client.get(URL).content.decode()
