"""Closing from the history popover (`sessions:close`, its form `sessions:close-form`)
and completing from the navigation dialog (`sessions:complete`): one attempt, two views."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from sessions import services
from sessions.models import ClosedFrom, Decision, Session, SessionChange
from sessions.tests.factories import build_version, outcome

pytestmark = pytest.mark.django_db

HISTORY = reverse("sessions:history")


@pytest.fixture
def version(db):
    return build_version()


@pytest.fixture
def session(alice, version, clock) -> Session:
    return services.session_create(
        tree=version.tree, engineer=alice, ticket_ref="T-1042", client="Acme Ltd"
    )


def url(session: Session) -> str:
    return reverse("sessions:close", args=[session.pk])


def complete_url(session: Session) -> str:
    return reverse("sessions:complete", args=[session.pk])


def form_url(session: Session, next_url: str = f"{HISTORY}?status=active") -> str:
    return reverse("sessions:close-form", args=[session.pk]) + f"?next={quote(next_url)}"


def htmx(session: Session) -> dict:
    return {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": f"session-{session.pk}"}


def from_history(**fields) -> dict:
    return {"next": f"{HISTORY}?status=active", **fields}


def toast(response) -> dict:
    return json.loads(response.headers["HX-Trigger"])["toast"]


def flashed(response) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request)]


def assert_unchanged(session: Session) -> None:
    session.refresh_from_db()
    assert session.completed_at is None
    assert session.outcome is None
    assert not SessionChange.objects.filter(session=session, field="outcome").exists()
    assert session.decisions.open().count() == 1


# --- from the history popover -----------------------------------------------------


def test_it_returns_the_completed_card_and_a_toast_to_htmx(alice_client, alice, session, clock):
    response = alice_client.post(
        url(session),
        from_history(outcome="cancelled", outcome_notes="Ticket withdrawn"),
        **htmx(session),
    )

    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.strip().startswith(
        f'<article class="card session-card" id="session-{session.pk}"'
    )
    assert 'data-status="completed"' in response.text
    assert 'data-outcome="cancelled"' in response.text and "Cancelled</span>" in response.text
    assert "data-close-toggle" not in response.text
    assert toast(response) == {"message": "Session closed as Cancelled", "level": "success"}
    session.refresh_from_db()
    assert session.outcome.code == "cancelled"
    assert session.outcome_notes == "Ticket withdrawn"
    assert session.completed_at == clock.now()
    assert session.closed_by == alice
    assert session.closed_from == ClosedFrom.HISTORY


def test_it_audits_the_close_as_from_history(alice_client, alice, session, clock):
    alice_client.post(url(session), from_history(outcome="resolved_externally"), **htmx(session))

    change = SessionChange.objects.get(session=session, field="outcome")
    assert change.old_value == ""
    assert change.new_value == "resolved_externally"
    assert change.changed_by == alice
    assert change.changed_at == clock.now()
    assert change.source == ClosedFrom.HISTORY


def test_it_closes_the_open_step_at_the_completion_time(alice_client, session, clock):
    step = session.decisions.get()
    clock.advance(seconds=95.6)

    alice_client.post(url(session), from_history(outcome="cancelled"), **htmx(session))

    step.refresh_from_db()
    session.refresh_from_db()
    assert step.exited_at == session.completed_at == clock.now()
    assert step.exit == Decision.Exit.SESSION_CLOSED
    assert step.duration_seconds == 96
    assert session.duration_seconds == 96


def test_it_redirects_a_plain_post_back_to_the_filtered_history(alice_client, session):
    response = alice_client.post(url(session), from_history(outcome="resolved"))

    assert response.status_code == 303
    assert response.headers["Location"] == f"{HISTORY}?status=active"
    assert flashed(response) == ["Session closed as Resolved."]
    session.refresh_from_db()
    assert session.is_completed


@pytest.mark.parametrize("bad_next", ["https://evil.example/", "//evil.example/x", ""])
def test_it_only_goes_back_to_a_local_page(alice_client, session, bad_next):
    response = alice_client.post(url(session), from_history(outcome="resolved", next=bad_next))

    assert response.status_code == 303
    assert response.headers["Location"] == HISTORY


def test_it_lets_a_manager_close_an_engineers_session(charlie_client, charlie, session):
    response = charlie_client.post(url(session), from_history(outcome="escalated"), **htmx(session))

    assert response.status_code == 200
    assert "<dt>Engineer</dt>" in response.text  # managers' cards name the engineer
    session.refresh_from_db()
    assert session.closed_by == charlie
    assert SessionChange.objects.get(session=session, field="outcome").changed_by == charlie


def test_it_hides_another_engineers_session(bob_client, session):
    response = bob_client.post(url(session), from_history(outcome="resolved"), **htmx(session))

    assert response.status_code == 404
    assert_unchanged(session)


def test_it_refuses_get(alice_client, session):
    response = alice_client.get(url(session))

    assert response.status_code == 405
    assert_unchanged(session)


# --- refused: 422 -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"outcome": "fixed-itself"}, "That outcome is unknown or no longer in use"),
        ({"outcome": ""}, "Choose an outcome."),
        ({"outcome": "resolved", "outcome_notes": "x" * 5001}, "at most 5000 characters"),
    ],
)
def test_it_shows_the_popover_again_with_the_error_to_htmx(alice_client, session, fields, error):
    response = alice_client.post(url(session), from_history(**fields), **htmx(session))

    assert response.status_code == 422
    assert "<html" not in response.text
    # Only the form is replaced, inside the popover that is still open.
    assert response.headers["HX-Retarget"] == f"#close-popover-{session.pk}-body"
    assert response.headers["HX-Reswap"] == "innerHTML"
    assert response.text.strip().startswith('<form class="form" method="post"')
    assert error in response.text
    assert 'aria-invalid="true"' in response.text
    assert "autofocus" in response.text
    assert "HX-Trigger" not in response.headers
    assert_unchanged(session)


def test_it_explains_a_field_the_popover_does_not_show(alice_client, session):
    response = alice_client.post(
        url(session), from_history(outcome="resolved", next_steps="a\x00b"), **htmx(session)
    )

    assert response.status_code == 422
    assert "Null characters are not allowed" in response.text
    assert_unchanged(session)


def test_it_refuses_an_outcome_no_longer_in_use(alice_client, session):
    retired = outcome("workaround")
    retired.is_active = False
    retired.save()

    response = alice_client.post(url(session), from_history(outcome="workaround"), **htmx(session))

    assert response.status_code == 422
    assert "no longer in use" in response.text
    assert_unchanged(session)


def test_it_keeps_what_was_typed_when_refusing(alice_client, session):
    response = alice_client.post(
        url(session),
        from_history(outcome="resolved", outcome_notes="n" * 5001),
        **htmx(session),
    )

    assert '<option value="resolved" selected>' in response.text
    assert "n" * 5001 in response.text


def test_it_shows_the_history_page_with_the_popover_open_to_a_plain_post(alice_client, session):
    response = alice_client.post(url(session), from_history(outcome="nope"))

    assert response.status_code == 422
    assert "<html" in response.text
    card = response.text[response.text.index(f'id="session-{session.pk}"') :]
    assert 'aria-expanded="true"' in card[: card.index("</article>")]
    assert "That outcome is unknown or no longer in use" in card
    # The popover still posts back to the same filtered page.
    assert f'name="next" value="{HISTORY}?status=active"' in card
    assert_unchanged(session)


# --- refused: 409 -----------------------------------------------------------------


def test_it_refreshes_the_card_of_a_session_closed_elsewhere(alice_client, bob, charlie, session):
    services.session_complete(session=session, outcome=outcome("resolved"), by=charlie)

    response = alice_client.post(url(session), from_history(outcome="cancelled"), **htmx(session))

    assert response.status_code == 409
    assert "<html" not in response.text
    assert 'data-status="completed"' in response.text
    assert 'data-outcome="resolved"' in response.text
    assert toast(response) == {
        "message": "Already closed by charlie as Resolved.",
        "level": "warning",
    }
    session.refresh_from_db()
    assert session.outcome.code == "resolved"
    assert SessionChange.objects.filter(session=session, field="outcome").count() == 1


def test_it_says_you_closed_it_when_it_was_you_in_another_tab(alice_client, alice, session):
    services.session_complete(session=session, outcome=outcome("resolved"), by=alice)

    response = alice_client.post(url(session), from_history(outcome="cancelled"), **htmx(session))

    assert response.status_code == 409
    assert toast(response)["message"] == "Already closed by you as Resolved."


def test_it_reports_a_conflict_even_with_a_bad_outcome(alice_client, alice, session):
    services.session_complete(session=session, outcome=outcome("resolved"), by=alice)

    response = alice_client.post(url(session), from_history(outcome=""), **htmx(session))

    assert response.status_code == 409


def test_it_shows_the_conflict_on_the_history_page_to_a_plain_post(alice_client, charlie, session):
    services.session_complete(session=session, outcome=outcome("resolved"), by=charlie)

    response = alice_client.post(url(session), from_history(outcome="cancelled", next=HISTORY))

    assert response.status_code == 409
    assert "<html" in response.text
    assert "Already closed by charlie as Resolved." in response.text
    assert 'data-outcome="resolved"' in response.text  # the card, in its completed state


def test_it_refuses_to_close_a_session_not_started(alice_client, alice, version, clock):
    prepared = services.session_prepare(tree=version.tree, engineer=alice, by=alice)

    response = alice_client.post(url(prepared), from_history(outcome="cancelled"), **htmx(prepared))

    assert response.status_code == 409
    assert 'data-status="prepared"' in response.text
    assert toast(response) == {
        "message": "This session has not been started yet.",
        "level": "error",
    }
    prepared.refresh_from_db()
    assert prepared.completed_at is None and prepared.outcome is None


# --- from the navigation dialog ---------------------------------------------------


def test_it_goes_on_to_the_detail_page_from_navigation(alice_client, session):
    response = alice_client.post(
        complete_url(session),
        {"outcome": "resolved", "outcome_notes": "Reset creds", "next_steps": "Monitor for a day"},
    )

    assert response.status_code == 303
    assert response.headers["Location"] == reverse("sessions:detail", args=[session.pk])
    assert flashed(response) == ["Session completed as Resolved."]
    session.refresh_from_db()
    assert session.closed_from == ClosedFrom.NAVIGATION
    assert session.next_steps == "Monitor for a day"
    assert (
        SessionChange.objects.get(session=session, field="outcome").source == ClosedFrom.NAVIGATION
    )


def test_it_redirects_htmx_from_navigation_on_the_client(alice_client, session):
    response = alice_client.post(
        complete_url(session), {"outcome": "resolved"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == reverse("sessions:detail", args=[session.pk])


def test_it_explains_a_refusal_to_the_navigation_dialog(alice_client, session):
    response = alice_client.post(
        complete_url(session),
        {"outcome": "resolved", "next_steps": "x" * 5001},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 422
    assert "<html" not in response.text
    assert 'role="alert"' in response.text and "at most 5000 characters" in response.text
    assert_unchanged(session)


def test_it_shows_a_page_for_a_plain_refusal_from_navigation(alice_client, charlie, session):
    services.session_complete(session=session, outcome=outcome("escalated"), by=charlie)

    response = alice_client.post(complete_url(session), {"outcome": "resolved"})

    assert response.status_code == 409
    assert "<html" in response.text
    assert "Already closed by charlie as Escalated." in response.text
    assert reverse("sessions:detail", args=[session.pk]) in response.text


def test_it_completes_from_navigation_whatever_source_is_posted(alice_client, session):
    # The URL says where the close came from: a `source` field is ignored.
    response = alice_client.post(
        complete_url(session), {"outcome": "resolved", "source": "history"}
    )

    assert response.headers["Location"] == reverse("sessions:detail", args=[session.pk])
    session.refresh_from_db()
    assert session.closed_from == ClosedFrom.NAVIGATION


def test_it_refuses_get_on_complete(alice_client, session):
    assert alice_client.get(complete_url(session)).status_code == 405
    assert_unchanged(session)


def test_it_hides_another_engineers_session_from_the_dialog(bob_client, session):
    assert bob_client.post(complete_url(session), {"outcome": "resolved"}).status_code == 404
    assert_unchanged(session)


# --- the popover's form -----------------------------------------------------------


def test_it_gives_the_popover_a_fresh_form_for_its_session(alice_client, session):
    response = alice_client.get(form_url(session), HTTP_HX_REQUEST="true")

    html = response.text
    assert response.status_code == 200
    assert "<html" not in html
    assert html.count("<form") == 1
    assert f'action="{url(session)}"' in html and f'hx-post="{url(session)}"' in html
    assert f'hx-target="#session-{session.pk}"' in html
    assert "csrfmiddlewaretoken" in html
    assert f'name="next" value="{HISTORY}?status=active"' in html
    assert "autofocus" in html
    # Confirm waits for an outcome (app.js enables it); Cancel hides the popover.
    assert re.search(r"<button type=\"submit\"[^>]* disabled data-close-confirm>", html)
    assert f'popovertarget="close-popover-{session.pk}" popovertargetaction="hide"' in html
    assert "aria-invalid" not in html and 'role="alert"' not in html


def test_it_keeps_the_popover_form_on_this_site(alice_client, session):
    html = alice_client.get(form_url(session, "https://evil.example/"), HTTP_HX_REQUEST="true").text

    assert f'name="next" value="{HISTORY}"' in html


def test_it_hides_another_engineers_popover_form(bob_client, session):
    assert bob_client.get(form_url(session), HTTP_HX_REQUEST="true").status_code == 404


def test_it_gives_a_manager_the_popover_form(charlie_client, session):
    assert charlie_client.get(form_url(session), HTTP_HX_REQUEST="true").status_code == 200


def test_it_refuses_to_post_to_the_popover_form(alice_client, session):
    assert alice_client.post(form_url(session), from_history(outcome="resolved")).status_code == 405
    assert_unchanged(session)


def test_it_keeps_confirm_enabled_when_the_refused_outcome_is_still_valid(alice_client, session):
    response = alice_client.post(
        url(session), from_history(outcome="resolved", outcome_notes="n" * 5001), **htmx(session)
    )

    assert re.search(
        r'<button type="submit" class="btn btn-primary btn-sm" data-close-confirm>', response.text
    )


# --- a field missing from the post ------------------------------------------------


@pytest.mark.parametrize("view", ["close", "complete"])
def test_it_keeps_saved_notes_and_next_steps_a_post_leaves_out(alice_client, session, view):
    """The popover has no Next steps field: a missing field keeps what is saved, never blanks it."""
    Session.objects.filter(pk=session.pk).update(
        outcome_notes="Typed earlier", next_steps="Call back Monday"
    )
    target = url(session) if view == "close" else complete_url(session)

    response = alice_client.post(target, {"outcome": "resolved"})

    assert response.status_code == 303
    session.refresh_from_db()
    assert session.outcome.code == "resolved"
    assert session.outcome_notes == "Typed earlier"
    assert session.next_steps == "Call back Monday"


def test_a_field_sent_empty_still_clears_it(alice_client, session):
    Session.objects.filter(pk=session.pk).update(outcome_notes="Typed earlier")

    response = alice_client.post(
        complete_url(session), {"outcome": "resolved", "outcome_notes": "", "next_steps": ""}
    )

    assert response.status_code == 303
    session.refresh_from_db()
    assert session.outcome_notes == ""
