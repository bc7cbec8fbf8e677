"""The history page (SPEC §4): cards, filters in the query string, pagination, budget."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from django.urls import reverse

from resolutionflow.timestamps import html_datetime
from sessions import services
from sessions.models import Session
from sessions.tests.factories import SessionFactory, build_version, outcome

pytestmark = pytest.mark.django_db

URL = reverse("sessions:history")
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "history-results"}

OTHER_TREE = {
    "slug": "printer",
    "name": "Printer offline",
    "start": "plugged",
    "nodes": [
        {
            "key": "plugged",
            "kind": "question",
            "title": "Is it plugged in?",
            "choices": [{"label": "Yes", "next": "driver"}, {"label": "No", "next": "plug"}],
        },
        {"key": "driver", "kind": "solution", "title": "Reinstall the driver"},
        {"key": "plug", "kind": "solution", "title": "Plug it in"},
    ],
}


@pytest.fixture
def vpn(db):
    return build_version().tree


@pytest.fixture
def printer(db):
    return build_version(OTHER_TREE).tree


def start(engineer, tree, **fields) -> Session:
    return services.session_create(tree=tree, engineer=engineer, **fields)


def close(session: Session, code: str = "resolved", *, by=None) -> Session:
    return services.session_complete(
        session=session, outcome=outcome(code), by=by or session.engineer
    )


def cards(response) -> list[str]:
    """The ids of the session cards on the page, in order."""
    return re.findall(
        r'<article class="card session-card" id="session-([0-9a-f-]+)"', response.text
    )


def card_html(response, session: Session) -> str:
    html = response.text
    begin = html.index(f'id="session-{session.pk}"')
    return html[begin : html.index("</article>", begin)]


def popover_form(client, session: Session) -> str:
    """The form a card's close popover loads when it opens."""
    return client.get(
        reverse("sessions:close-form", args=[session.pk]), {"next": URL}, HTTP_HX_REQUEST="true"
    ).text


# --- listing --------------------------------------------------------------------


def test_it_shows_engineers_only_their_own_sessions(alice_client, alice, bob, vpn, clock):
    mine = start(alice, vpn, ticket_ref="T-1")
    start(bob, vpn, ticket_ref="T-2")

    response = alice_client.get(URL)

    assert response.status_code == 200
    assert cards(response) == [str(mine.pk)]
    assert 'name="engineer"' not in response.text
    assert "<dt>Engineer</dt>" not in response.text


def test_it_shows_managers_everyones_sessions_with_the_engineer(
    charlie_client, alice, bob, vpn, clock
):
    first = start(alice, vpn, ticket_ref="T-1")
    clock.advance(60)
    second = start(bob, vpn, ticket_ref="T-2")

    response = charlie_client.get(URL)

    assert cards(response) == [str(second.pk), str(first.pk)]
    assert 'name="engineer"' in response.text
    assert "<dt>Engineer</dt>" in card_html(response, first)
    assert "alice" in card_html(response, first)


def test_it_offers_managers_the_filtered_sessions_and_steps_as_csv(
    charlie_client, alice_client, alice, vpn, clock
):
    start(alice, vpn, ticket_ref="T-1")

    manager_page = charlie_client.get(URL, {"status": "active", "q": "T-1"}).text
    engineer_page = alice_client.get(URL).text

    for name in ("sessions:history-csv", "sessions:steps-csv"):
        assert f'href="{reverse(name)}?q=T-1&amp;status=active"' in manager_page
        assert reverse(name) not in engineer_page


def test_it_lists_newest_first(alice_client, alice, vpn, clock):
    made = []
    for n in range(3):
        made.append(start(alice, vpn, ticket_ref=f"T-{n}"))
        clock.advance(30)

    response = alice_client.get(URL)

    assert cards(response) == [str(s.pk) for s in reversed(made)]


def test_it_shows_an_active_card_with_its_current_step_and_live_duration(
    alice_client, alice, vpn, clock
):
    session = start(alice, vpn, ticket_ref="T-1042", client="Acme Ltd")
    step = session.decisions.get()
    services.decision_answer(
        session=session, decision_id=step.pk, choice_id=step.node.choices.get(label="Yes").pk
    )
    clock.advance(150)

    html = card_html(alice_client.get(URL), session)

    assert "VPN won&#x27;t connect" in html
    assert "T-1042" in html and "Acme Ltd" in html
    assert 'data-status="active"' in html
    assert "Reset the VPN credentials" in html  # the open step
    assert f'data-elapsed-since="{html_datetime(session.started_at)}"' in html
    assert "2m 30s" in html
    assert re.search(r"<dt>Steps</dt>\s*<dd[^>]*>2</dd>", html)
    assert "data-relative" in html and 'title="10 Feb 2026, 09:15"' in html
    assert ">View details</a>" in html
    assert re.search(r"data-close-toggle>Close</a>", html)
    assert "Resume" in html and reverse("sessions:run", args=[session.pk]) in html
    assert "badge-outcome" not in html


def test_it_shows_a_completed_card_with_its_outcome_badge_and_duration(
    alice_client, alice, vpn, clock
):
    session = start(alice, vpn, ticket_ref="T-7")
    clock.advance(seconds=3840)
    close(session, "escalated")

    html = card_html(alice_client.get(URL), session)

    assert '<span class="badge badge-outcome" data-outcome="escalated">' in html
    assert "Escalated</span>" in html
    assert "1h 04m" in html
    assert "Current step" not in html
    assert "data-close-toggle" not in html
    assert f'href="{reverse("sessions:detail", args=[session.pk])}#export"' in html
    assert "Export" in html


def test_it_shows_a_prepared_card_with_a_start_form(alice_client, alice, charlie, vpn, clock):
    session = services.session_prepare(tree=vpn, engineer=alice, by=charlie, ticket_ref="T-9")

    html = card_html(alice_client.get(URL), session)

    assert 'data-status="prepared"' in html
    assert "Not started" in html
    assert f'action="{reverse("sessions:begin", args=[session.pk])}"' in html
    assert 'method="post"' in html and "Start" in html
    assert "Resume" not in html and "data-close-toggle" not in html


def test_it_names_the_closer_when_someone_else_closed_it(
    charlie_client, alice, charlie, vpn, clock
):
    session = start(alice, vpn)
    close(session, "cancelled", by=charlie)

    html = card_html(charlie_client.get(URL), session)

    assert "Closed by" in html and "charlie" in html


def test_it_offers_close_only_to_those_who_may_close(alice_client, alice, vpn, clock):
    session = start(alice, vpn)

    response = alice_client.get(URL)

    html = card_html(response, session)
    assert f'aria-controls="close-popover-{session.pk}" aria-expanded="false"' in html
    assert f'href="{URL}?close={session.pk}"' in html
    # With JavaScript: a native popover, empty until it opens and loads its form.
    button = f'close-button" popovertarget="close-popover-{session.pk}"'
    assert button in html
    opening = f'<div class="popover close-popover" id="close-popover-{session.pk}" popover role='
    assert opening in html
    form_url = reverse("sessions:close-form", args=[session.pk])
    assert f'hx-get="{form_url}?next=/sessions/"' in html
    assert "<form" not in html
    assert "csrfmiddlewaretoken" not in html


def test_it_offers_no_close_where_one_may_not_close(alice_client, alice, bob_client, vpn, clock):
    close(start(alice, vpn), "resolved")
    active = start(alice, vpn)

    # Completed only (filtered), and someone else's page without Alice's sessions.
    assert 'popovertarget="close-popover' not in alice_client.get(URL, {"status": "completed"}).text
    assert 'popovertarget="close-popover' not in bob_client.get(URL).text
    assert f'popovertarget="close-popover-{active.pk}"' in alice_client.get(URL).text


def test_it_says_what_to_do_when_there_are_no_sessions(alice_client, vpn):
    response = alice_client.get(URL)

    assert response.status_code == 200
    assert "No sessions yet" in response.text
    assert f'href="{reverse("trees:library")}"' in response.text


def test_it_says_when_no_session_matches_the_filters(alice_client, alice, vpn, clock):
    start(alice, vpn)

    response = alice_client.get(URL, {"status": "completed"})

    assert cards(response) == []
    assert "No sessions match these filters" in response.text


# --- the popover without JavaScript -----------------------------------------------


def test_it_renders_the_close_popover_open_for_close_in_the_query(alice_client, alice, vpn, clock):
    session = start(alice, vpn)
    other = start(alice, vpn)

    response = alice_client.get(URL, {"status": "active", "close": str(session.pk)})

    html = card_html(response, session)
    popover = html[html.index('id="close-popover-') :]
    assert popover.split(">", 1)[0].count("hidden") == 0
    # Shown in place by the server, not a native popover waiting for JavaScript.
    assert " popover " not in popover.split(">", 1)[0]
    assert "autofocus" in html
    assert 'aria-expanded="true"' in html
    # Confirm is enabled without JavaScript (the select is `required` instead).
    assert re.search(
        r'<button type="submit" class="btn btn-primary btn-sm" data-close-confirm>', html
    )
    # The popover's `next` is this filtered page, without `close`.
    assert f'name="next" value="{URL}?status=active"' in html
    # Cancel leads back to the same page without the popover.
    assert f'href="{URL}?status=active#session-{session.pk}" data-close-cancel' in html
    # Only that one is open.
    other_html = card_html(response, other)
    assert 'aria-expanded="false"' in other_html
    assert "autofocus" not in other_html


def test_it_lists_the_active_outcomes_in_admin_order_in_the_popover(
    alice_client, alice, vpn, clock
):
    session = start(alice, vpn)
    retired = outcome("workaround")
    retired.is_active = False
    retired.save()

    html = popover_form(alice_client, session)

    options = re.findall(r'<option value="([a-z_]*)"', html)
    assert options == [
        "",
        "resolved",
        "escalated",
        "unresolved",
        "cancelled",
        "resolved_externally",
    ]
    assert "Choose an outcome…" in html
    assert re.search(r'<textarea id="close-notes-[^"]+" name="outcome_notes" rows="2"', html)


# --- filters --------------------------------------------------------------------


@pytest.fixture
def mixed(alice, bob, vpn, printer, clock):
    """Sessions of every status, two engineers, two trees, two days."""
    clock.set(datetime(2026, 2, 9, 23, 30, tzinfo=UTC))
    made = {
        "a_done": start(alice, vpn, ticket_ref="T-100", client="Acme Ltd"),
    }
    close(made["a_done"], "resolved")
    clock.set(datetime(2026, 2, 10, 9, 0, tzinfo=UTC))
    made["a_active"] = start(alice, printer, ticket_ref="T-200", client="Globex")
    clock.advance(60)
    made["b_cancelled"] = start(bob, vpn, ticket_ref="T-300", summary="Printer on floor 3")
    close(made["b_cancelled"], "cancelled")
    clock.advance(60)
    made["a_prepared"] = services.session_prepare(
        tree=vpn, engineer=alice, by=alice, ticket_ref="T-400", client="Acme Ltd"
    )
    return made


def ids(*sessions) -> set[str]:
    return {str(s.pk) for s in sessions}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "active"}, ["a_active"]),
        ({"status": "completed"}, ["a_done", "b_cancelled"]),
        ({"status": "prepared"}, ["a_prepared"]),
        ({"outcome": "cancelled"}, ["b_cancelled"]),
        ({"tree": "printer"}, ["a_active"]),
        ({"engineer": "bob"}, ["b_cancelled"]),
        ({"q": "acme"}, ["a_done", "a_prepared"]),  # client
        ({"q": "t-20"}, ["a_active"]),  # ticket
        ({"q": "floor 3"}, ["b_cancelled"]),  # summary
        ({"from": "2026-02-10"}, ["a_active", "b_cancelled"]),
        ({"to": "2026-02-09"}, ["a_done"]),
        ({"from": "2026-02-09", "to": "2026-02-09"}, ["a_done"]),
        ({"status": "completed", "engineer": "alice", "tree": "vpn"}, ["a_done"]),
        ({"q": "acme", "status": "completed"}, ["a_done"]),
    ],
)
def test_it_filters_the_sessions(charlie_client, mixed, query, expected):
    response = charlie_client.get(URL, query)

    assert response.status_code == 200
    assert set(cards(response)) == ids(*(mixed[key] for key in expected))
    assert "was ignored" not in response.text


def test_it_reads_dates_as_calendar_days_in_the_configured_time_zone(
    charlie_client, mixed, settings
):
    # 23:30 UTC on the 9th is already the 10th in Helsinki (UTC+2).
    settings.TIME_ZONE = "Europe/Helsinki"

    response = charlie_client.get(URL, {"from": "2026-02-10", "to": "2026-02-10"})

    assert set(cards(response)) == ids(mixed["a_done"], mixed["a_active"], mixed["b_cancelled"])


def test_it_ignores_the_engineer_filter_for_engineers(alice_client, mixed):
    response = alice_client.get(URL, {"engineer": "bob"})

    assert set(cards(response)) == ids(mixed["a_done"], mixed["a_active"], mixed["a_prepared"])
    assert 'name="engineer"' not in response.text


def test_it_keeps_the_chosen_filters_in_the_form(charlie_client, mixed):
    response = charlie_client.get(URL, {"status": "completed", "q": "acme", "from": "2026-02-01"})

    assert '<option value="completed" selected>' in response.text
    assert 'value="acme"' in response.text
    assert 'value="2026-02-01"' in response.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": "sleeping"}, "Status “sleeping” was ignored"),
        ({"outcome": "42"}, "Outcome “42” was ignored"),
        ({"tree": "no-such-tree"}, "Tree “no-such-tree” was ignored"),
        ({"engineer": "nobody"}, "Engineer “nobody” was ignored"),
        ({"from": "2026-02-31"}, "Started from “2026-02-31” was ignored"),
        ({"to": "yesterday"}, "Started to “yesterday” was ignored"),
        ({"from": "2026-02-10", "to": "2026-02-01"}, "Started to “2026-02-01” was ignored"),
        ({"to": "9999-12-31"}, "Started to “9999-12-31” was ignored: it is outside 2000–2999."),
        ({"from": "0001-01-01"}, "Started from “0001-01-01” was ignored: it is outside 2000–2999."),
        ({"from": "1999-12-31"}, "Started from “1999-12-31” was ignored: it is outside 2000–2999."),
        ({"from": "2026-02-10", "to": "2026-02-01"}, "it is before “Started from”."),
        ({"outcome": "42"}, "Outcome “42” was ignored: there is no such choice."),
        ({"page": "last"}, None),
        ({"page": "9223372036854775808"}, None),
    ],
)
def test_it_ignores_invalid_filter_values_with_a_message(charlie_client, mixed, query, message):
    response = charlie_client.get(URL, query)

    assert response.status_code == 200
    if message:
        assert message in response.text.replace("&ldquo;", "“").replace("&rdquo;", "”")
        assert 'role="alert"' in response.text
    # The other filters (none here, or the valid date) still apply.
    assert len(cards(response)) >= 1


def test_it_applies_the_valid_filters_beside_an_invalid_one(charlie_client, mixed):
    response = charlie_client.get(URL, {"status": "completed", "tree": "bogus"})

    assert set(cards(response)) == ids(mixed["a_done"], mixed["b_cancelled"])
    assert "was ignored" in response.text


def test_it_returns_only_the_results_region_to_htmx(charlie_client, mixed):
    response = charlie_client.get(URL, {"status": "active"}, **HTMX)

    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.strip().startswith('<section id="history-results"')
    assert cards(response) == [str(mixed["a_active"].pk)]
    assert 'id="history-filters"' not in response.text


def test_it_returns_the_whole_page_to_other_htmx_requests(charlie_client, mixed):
    response = charlie_client.get(URL, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="main")

    assert "<html" in response.text


def test_it_wires_the_filter_form_for_htmx_and_plain_get(alice_client, vpn):
    html = alice_client.get(URL).text
    form = html[html.index('<form id="history-filters"') :]
    form = form[: form.index(">")]

    assert 'method="get"' in form and f'action="{URL}"' in form
    assert f'hx-get="{URL}"' in form
    assert 'hx-target="#history-results"' in form
    assert 'hx-push-url="true"' in form
    assert "change" in form and "input changed delay:" in form


# --- pagination -----------------------------------------------------------------


def test_it_paginates_by_25_and_keeps_the_filters(alice_client, alice, vpn, clock):
    made = []
    for n in range(27):
        made.append(start(alice, vpn, ticket_ref=f"T-{n:03d}", client="Acme"))
        clock.advance(1)

    first = alice_client.get(URL, {"status": "active", "q": "acme"})
    second = alice_client.get(URL, {"status": "active", "q": "acme", "page": "2"})

    assert len(cards(first)) == 25
    assert cards(second) == [str(made[1].pk), str(made[0].pk)]
    assert "27 sessions" in first.text
    next_link = f"{URL}?q=acme&amp;status=active&amp;page=2"
    assert f'href="{next_link}"' in first.text and f'hx-get="{next_link}"' in first.text
    # The links inherit where and how htmx swaps from the one <nav> around them.
    nav = first.text[first.text.index('<nav class="pagination"') :]
    nav = nav[: nav.index("</nav>")]
    head = nav[: nav.index(">")]
    assert 'hx-target="#history-results"' in head and 'hx-swap="outerHTML"' in head
    assert 'hx-push-url="true"' in head
    for attribute in ("hx-target", "hx-swap", "hx-push-url"):
        assert nav.count(attribute) == 1
    assert f'href="{URL}?q=acme&amp;status=active&amp;page=1"' in second.text
    # The Close links and popovers of page 2 come back to page 2.
    close_link = f"{URL}?q=acme&amp;status=active&amp;page=2&amp;close={made[1].pk}"
    assert f'href="{close_link}"' in second.text
    # The popover loads its form for page 2, whose `next` is page 2.
    assert f'?next={quote(f"{URL}?q=acme&status=active&page=2", safe="/")}"' in second.text


def test_it_shows_the_last_page_for_a_page_past_the_end(alice_client, alice, vpn, clock):
    only = start(alice, vpn)

    response = alice_client.get(URL, {"page": "9"})

    assert cards(response) == [str(only.pk)]


@pytest.mark.parametrize("number", ["0", "-3", "two", ""])
def test_it_shows_the_first_page_for_a_page_before_the_start(
    alice_client, alice, vpn, clock, number
):
    made = []
    for _ in range(26):
        clock.advance(60)
        made.append(start(alice, vpn))

    response = alice_client.get(URL, {"page": number})

    assert cards(response)[0] == str(made[-1].pk)
    assert len(cards(response)) == 25


# --- query budget ---------------------------------------------------------------


def make_history(engineers, tree, clock, count: int) -> None:
    """`count` sessions of every status, spread over the engineers."""
    for n in range(count):
        engineer = engineers[n % len(engineers)]
        clock.advance(60)
        if n % 3 == 0:
            SessionFactory(engineer=engineer, version=tree.versions.get(), created_at=clock.now())
            continue
        session = start(engineer, tree, ticket_ref=f"T-{n}")
        if n % 3 == 1:
            close(session, ["resolved", "cancelled", "escalated"][n % 3])


@pytest.mark.parametrize("count", [5, 100])
def test_it_keeps_a_constant_query_count_for_engineers(
    alice_client, alice, bob, vpn, clock, count, django_assert_max_num_queries, settings
):
    settings.SHARED_CACHE = True  # as with Redis
    make_history([alice, bob], vpn, clock, count)

    # The page's ids are picked in a query of their own, then its cards: two
    # simple plans cost PostgreSQL less than one with a subquery (docs/PERFORMANCE.md).
    with django_assert_max_num_queries(9):
        response = alice_client.get(URL)
    assert len(cards(response)) == min(25, (count + 1) // 2)
    # Then the total and the filter lists come from the cache (sessions.cards):
    # the session, the user, their permissions (2), the ids and the cards.
    with django_assert_max_num_queries(6):
        assert cards(alice_client.get(URL)) == cards(response)


@pytest.mark.parametrize("count", [5, 100])
def test_it_keeps_a_constant_query_count_for_managers(
    charlie_client, alice, bob, vpn, printer, clock, count, django_assert_max_num_queries
):
    make_history([alice, bob], vpn, clock, count)
    # 8 until the page carried its total inside the cards' query; the stock
    # Paginator runs a COUNT of its own, one query more; the ids in a query of
    # their own, one more (see the engineers' test).
    budget = 10

    with django_assert_max_num_queries(budget):
        response = charlie_client.get(URL, {"status": "completed", "tree": "vpn", "q": "T-"})
    with django_assert_max_num_queries(budget):
        charlie_client.get(URL, {"page": "4" if count > 25 else "1"})
    with django_assert_max_num_queries(budget):
        charlie_client.get(URL, **HTMX)
    # A stale page number costs nothing more: the count comes first, so the last
    # page is the one fetched.
    with django_assert_max_num_queries(budget):
        charlie_client.get(URL, {"page": "999"})

    assert response.status_code == 200
    assert len(cards(response)) == 25 if count == 100 else len(cards(response)) >= 1
