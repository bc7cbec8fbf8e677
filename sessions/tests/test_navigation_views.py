from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from resolutionflow.timestamps import html_datetime
from sessions import services
from sessions.formatting import format_duration, format_elapsed, whole_seconds
from sessions.models import Decision, Session
from sessions.tests.factories import build_version, outcome

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def version(db):
    return build_version()


@pytest.fixture
def session(alice, version, clock):
    """Alice's active session, at the start node ("Is the VPN client installed?")."""
    return services.session_create(tree=version.tree, engineer=alice, ticket_ref="T-1042")


def open_step(session: Session) -> Decision:
    return session.decisions.get(exited_at__isnull=True)


def choice_id(decision: Decision, label: str) -> int:
    return decision.node.choices.get(label=label).pk


def url(name: str, session: Session) -> str:
    return reverse(f"sessions:{name}", args=[session.pk])


def answer(client, session: Session, label: str, *, htmx: bool = False, **data):
    step = open_step(session)
    payload = {"decision": step.pk, "choice": choice_id(step, label), **data}
    return client.post(url("answer", session), payload, **(HTMX if htmx else {}))


# --- formatting -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (59.6, "1m 00s"), (150, "2m 30s"), (3840, "1h 04m"), (None, "")],
)
def test_it_formats_durations_for_people(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "whole"),
    [(0, 0), (0.49, 0), (0.5, 1), (59.6, 60), (timedelta(seconds=2.5), 3), (-3, 0)],
    ids=["zero", "under-half", "half", "near-minute", "timedelta", "negative"],
)
def test_whole_seconds_round_half_up_and_never_below_zero(seconds, whole):
    assert whole_seconds(seconds) == whole


def test_a_running_duration_says_so_far():
    assert format_elapsed(150, so_far=True) == "2m 30s so far"
    assert format_elapsed(timedelta(hours=1, minutes=4), so_far=False) == "1h 04m"


# --- starting -------------------------------------------------------------------


def test_it_starts_a_session_from_the_tree_page_form(alice_client, alice, version, clock):
    form_id = uuid.uuid4()
    response = alice_client.post(
        reverse("sessions:start", args=[version.tree.slug]),
        {"ticket_ref": " T-7 ", "client": "Acme", "summary": "VPN down", "session_id": form_id},
    )

    session = Session.objects.get()
    assert response.status_code == 303
    assert response.url == url("run", session)
    assert session.pk == form_id
    assert (session.engineer, session.ticket_ref, session.client) == (alice, "T-7", "Acme")
    assert session.started_at == clock.now()
    assert open_step(session).node_key == "client-installed"


def test_it_starts_only_one_session_when_the_form_is_sent_twice(alice_client, version):
    data = {"ticket_ref": "T-7", "session_id": uuid.uuid4()}
    start = reverse("sessions:start", args=[version.tree.slug])

    first = alice_client.post(start, data)
    second = alice_client.post(start, data)

    assert first.status_code == second.status_code == 303
    assert first.url == second.url
    assert Session.objects.count() == 1
    assert Decision.objects.count() == 1


def test_it_re_shows_the_start_form_with_errors_and_creates_nothing(alice_client, version):
    response = alice_client.post(
        reverse("sessions:start", args=[version.tree.slug]),
        {"ticket_ref": "T" * 65, "session_id": uuid.uuid4()},
    )

    assert response.status_code == 422
    assert b"at most 64 characters" in response.content
    assert b"Start session" in response.content
    assert not Session.objects.exists()


def test_it_does_not_start_a_tree_without_a_published_version(alice_client, version):
    version.status = version.Status.DRAFT
    version.save()

    response = alice_client.post(
        reverse("sessions:start", args=[version.tree.slug]), {"session_id": uuid.uuid4()}
    )

    assert response.status_code == 404
    assert not Session.objects.exists()


def test_it_refuses_get_on_post_only_views(alice_client, session, version):
    for name in ("answer", "done", "back", "notes", "scratchpad", "begin"):
        assert alice_client.get(url(name, session)).status_code == 405
    assert alice_client.get(reverse("sessions:start", args=[version.tree.slug])).status_code == 405
    assert alice_client.post(url("run", session)).status_code == 405
    assert alice_client.post(url("detail", session)).status_code == 405


# --- preparing ------------------------------------------------------------------


def test_it_lets_a_manager_prepare_a_session_for_an_engineer(
    charlie_client, charlie, alice, version, clock
):
    page = charlie_client.get(reverse("sessions:prepare"))
    assert page.status_code == 200
    assert b"Prepare session" in page.content

    response = charlie_client.post(
        reverse("sessions:prepare"),
        {
            "engineer": alice.pk,
            "tree": version.tree.slug,
            "ticket_ref": "T-9",
            "client": "Initech",
            "summary": "Printer",
            "session_id": uuid.uuid4(),
        },
    )

    assert response.status_code == 303
    assert response.url == reverse("sessions:history")
    session = Session.objects.get()
    assert session.status == Session.Status.PREPARED
    assert (session.engineer, session.created_by, session.ticket_ref) == (alice, charlie, "T-9")
    assert not session.decisions.exists()


def test_it_re_shows_the_prepare_form_with_errors(charlie_client, charlie, bob, version):
    # charlie is a manager, not an engineer: he cannot be chosen.
    response = charlie_client.post(
        reverse("sessions:prepare"),
        {"engineer": charlie.pk, "tree": version.tree.slug, "session_id": uuid.uuid4()},
    )

    assert response.status_code == 422
    assert b"Select a valid choice" in response.content
    assert not Session.objects.exists()


def test_it_forbids_engineers_to_prepare_sessions(alice_client, bob, version):
    assert alice_client.get(reverse("sessions:prepare")).status_code == 403
    response = alice_client.post(
        reverse("sessions:prepare"),
        {"engineer": bob.pk, "tree": version.tree.slug, "session_id": uuid.uuid4()},
    )
    assert response.status_code == 403
    assert not Session.objects.exists()


def test_it_starts_a_prepared_session_when_the_engineer_presses_start(
    alice_client, alice, charlie, version, clock
):
    prepared = services.session_prepare(tree=version.tree, engineer=alice, by=charlie)
    page = alice_client.get(url("run", prepared))
    assert page.status_code == 200
    assert b">\n            Start\n" in page.content or b"Start</button>" in page.content

    clock.advance(600)
    response = alice_client.post(url("begin", prepared))

    assert response.status_code == 303
    assert response.url == url("run", prepared)
    prepared.refresh_from_db()
    assert prepared.started_at == clock.now()
    assert open_step(prepared).entered_at == clock.now()


def test_it_answers_start_from_htmx_with_a_client_redirect(alice_client, alice, charlie, version):
    prepared = services.session_prepare(tree=version.tree, engineer=alice, by=charlie)

    response = alice_client.post(url("begin", prepared), **HTMX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == url("run", prepared)


def test_it_lets_a_manager_start_an_engineers_prepared_session(
    charlie_client, alice, charlie, version
):
    prepared = services.session_prepare(tree=version.tree, engineer=alice, by=charlie)

    response = charlie_client.post(url("begin", prepared))

    assert response.status_code == 303
    prepared.refresh_from_db()
    assert prepared.is_active


# --- the navigation page ----------------------------------------------------------


def test_it_shows_the_open_step_with_its_answers(alice_client, session):
    response = alice_client.get(url("run", session))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert "Is the VPN client installed?" in html
    assert 'name="choice"' in html
    assert ">Yes</button>" in html and ">No</button>" in html
    assert f'name="decision" value="{open_step(session).pk}"' in html
    assert "Step notes" in html and "Scratchpad" in html and "Complete session" in html
    assert f'data-elapsed-since="{html_datetime(session.started_at)}"' in html
    # The first step has nowhere to go back to.
    assert ">\n              Back\n" not in html


def test_it_redirects_a_completed_sessions_run_page_to_its_details(alice_client, alice, session):
    services.session_complete(session=session, outcome=outcome("resolved"), by=alice)

    response = alice_client.get(url("run", session))

    assert response.status_code == 302
    assert response.url == url("detail", session)


def test_it_renders_the_completion_form_inline_without_javascript(alice_client, session):
    response = alice_client.get(url("run", session) + "?complete=1")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="complete-dialog"' not in html
    assert f'action="{url("complete", session)}"' in html
    assert ">Complete</button>" in html


def test_it_preselects_resolved_on_a_solution_node(alice_client, session, clock):
    answer(alice_client, session, "No")  # → "Install the VPN client", a solution

    html = alice_client.get(url("run", session)).content.decode()

    assert "Install the VPN client" in html
    assert '<option value="resolved" selected>' in html
    assert 'name="choice"' not in html


def test_it_answers_with_a_plain_post_and_redirects(alice_client, session, clock):
    clock.advance(150)

    response = answer(alice_client, session, "Yes", notes="Client 5.2 installed")

    assert response.status_code == 303
    assert response.url == url("run", session)
    answered = session.decisions.get(seq=1)
    assert (answered.answer_label, answered.notes, answered.duration_seconds) == (
        "Yes",
        "Client 5.2 installed",
        150,
    )
    assert open_step(session).node_key == "reset-creds"


def test_it_answers_htmx_with_the_step_partial(alice_client, session):
    response = answer(alice_client, session, "Yes", htmx=True)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="step"' in html
    assert "Reset the VPN credentials" in html
    assert "Reset-VpnUser -Identity $user" in html
    assert ">\n              Done\n" in html or "Done\n            </button>" in html
    assert "Is the VPN client installed?" in html  # in the path so far


def test_it_marks_an_action_done(alice_client, session, clock):
    answer(alice_client, session, "Yes")
    step = open_step(session)
    clock.advance(95)

    response = alice_client.post(url("done", session), {"decision": step.pk, "notes": "reset"})

    assert response.status_code == 303
    step.refresh_from_db()
    assert (step.answer_label, step.notes, step.duration_seconds) == ("Done", "reset", 95)
    assert open_step(session).node_key == "works-now"


def test_it_goes_back_and_keeps_the_undone_answer(alice_client, session, clock):
    answer(alice_client, session, "Yes")
    step = open_step(session)
    clock.advance(30)

    response = alice_client.post(url("back", session), {"decision": step.pk}, **HTMX)

    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert "Is the VPN client installed?" in response.content.decode()
    steps = list(session.decisions.order_by("seq"))
    assert [(d.node_key, d.exit, d.undone) for d in steps] == [
        ("client-installed", "answered", True),
        ("reset-creds", "backtracked", False),
        ("client-installed", "", False),
    ]


# Two of them keep the reports' rollups in the same transaction (docs/PERFORMANCE.md,
# "Rollups"): the step time of the closed step and, for an answer, the answer's count.
@pytest.mark.parametrize(("client_name", "limit"), [("alice_client", 14), ("charlie_client", 16)])
def test_it_steps_through_htmx_in_a_constant_number_of_queries(
    request, client_name, limit, session, clock
):
    """Answer, Done and Back each answer htmx in at most 14 queries for the
    engineer; a manager stepping through an engineer's session also loads
    their permissions (two queries) to be let in."""
    client = request.getfixturevalue(client_name)

    @contextmanager
    def django_assert_max_num_queries(limit):
        # The service's transaction is a savepoint inside the test's: in
        # production it is BEGIN/COMMIT, which Django does not count.
        with CaptureQueriesContext(connection) as captured:
            yield
        queries = [q["sql"] for q in captured if "SAVEPOINT" not in q["sql"]]
        assert len(queries) <= limit, "\n".join(queries)

    step = open_step(session)
    payload = {"decision": step.pk, "choice": choice_id(step, "Yes")}
    with django_assert_max_num_queries(limit):
        response = client.post(url("answer", session), payload, **HTMX)
    assert response.status_code == 200
    assert "Reset the VPN credentials" in response.content.decode()

    payload = {"decision": open_step(session).pk}
    with django_assert_max_num_queries(limit):
        response = client.post(url("done", session), payload, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Does it connect now?" in html
    # The new step's answers are shown, in their order.
    labels = [c.label for c in open_step(session).node.choices.order_by("position", "id")]
    positions = [html.index(f">{label}</button>") for label in labels]
    assert positions == sorted(positions)

    payload = {"decision": open_step(session).pk}
    with django_assert_max_num_queries(limit):
        response = client.post(url("back", session), payload, **HTMX)
    assert response.status_code == 200
    assert "Reset the VPN credentials" in response.content.decode()
    session.refresh_from_db()
    assert session.step_count == 2


def test_it_does_not_overwrite_notes_when_a_post_carries_none(alice_client, session):
    step = open_step(session)
    services.decision_save_notes(session=session, decision_id=step.pk, notes="kept")

    alice_client.post(
        url("answer", session), {"decision": step.pk, "choice": choice_id(step, "Yes")}
    )

    step.refresh_from_db()
    assert step.notes == "kept"


def test_it_answers_a_stale_step_with_409_and_the_current_step(alice_client, session):
    stale = open_step(session)
    answer(alice_client, session, "Yes")

    response = alice_client.post(
        url("answer", session),
        {"decision": stale.pk, "choice": choice_id(stale, "No"), "notes": "typed in tab 2"},
        **HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 409
    assert "<html" not in html
    assert "already answered" in html
    assert "Reset the VPN credentials" in html  # the step the session is really on
    assert "typed in tab 2" in html  # shown back, not silently lost
    assert session.decisions.count() == 2
    assert open_step(session).node_key == "reset-creds"


def test_it_answers_a_double_click_with_409_without_a_duplicate_step(alice_client, session):
    step = open_step(session)
    data = {"decision": step.pk, "choice": choice_id(step, "Yes")}

    first = alice_client.post(url("answer", session), data)
    second = alice_client.post(url("answer", session), data)

    assert first.status_code == 303
    assert second.status_code == 409
    assert "<html" in second.content.decode()
    assert session.decisions.count() == 2


def test_it_answers_409_with_a_link_to_the_details_once_completed(alice_client, alice, session):
    step = open_step(session)
    services.session_complete(session=session, outcome=outcome("escalated"), by=alice)

    response = alice_client.post(
        url("answer", session), {"decision": step.pk, "choice": choice_id(step, "Yes")}, **HTMX
    )

    html = response.content.decode()
    assert response.status_code == 409
    assert "already completed" in html
    assert url("detail", session) in html
    assert session.decisions.count() == 1


def test_it_answers_a_choice_of_another_step_with_422(alice_client, session, version):
    foreign = version.nodes.get(key="works-now").choices.first()

    response = alice_client.post(
        url("answer", session),
        {"decision": open_step(session).pk, "choice": foreign.pk, "notes": "keep me"},
        **HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert "does not belong to this step" in html
    assert ">keep me</textarea>" in html
    assert open_step(session).seq == 1


@pytest.mark.parametrize("data", [{}, {"decision": "x", "choice": "1"}, {"decision": "1"}])
def test_it_answers_a_malformed_post_with_422(alice_client, session, data):
    response = alice_client.post(url("answer", session), data)

    assert response.status_code == 422
    assert session.decisions.count() == 1


def test_it_refuses_done_on_a_question_with_422(alice_client, session):
    response = alice_client.post(url("done", session), {"decision": open_step(session).pk})

    assert response.status_code == 422
    assert b"not an action" in response.content


def test_it_refuses_back_on_the_first_step_with_422(alice_client, session):
    response = alice_client.post(url("back", session), {"decision": open_step(session).pk})

    assert response.status_code == 422
    assert session.decisions.count() == 1


def test_it_answers_a_prepared_session_with_409(alice_client, alice, charlie, version):
    prepared = services.session_prepare(tree=version.tree, engineer=alice, by=charlie)

    response = alice_client.post(url("answer", prepared), {"decision": 1, "choice": 1})

    assert response.status_code == 409
    assert b"not been started" in response.content


def test_it_lets_a_manager_step_through_an_engineers_session(charlie_client, session):
    response = answer(charlie_client, session, "Yes")

    assert response.status_code == 303
    assert open_step(session).node_key == "reset-creds"


# --- notes and scratchpad ---------------------------------------------------------


def test_it_autosaves_step_notes(alice_client, session):
    step = open_step(session)

    response = alice_client.post(
        url("notes", session), {"decision": step.pk, "notes": "Checked Apps & features"}, **HTMX
    )

    assert response.status_code == 200
    assert response.content.decode().startswith("Notes saved")
    step.refresh_from_db()
    assert step.notes == "Checked Apps & features"
    assert step.exited_at is None


def test_it_saves_step_notes_with_a_plain_post(alice_client, session):
    step = open_step(session)

    response = alice_client.post(url("notes", session), {"decision": step.pk, "notes": "n"})

    assert response.status_code == 303
    assert response.url == url("run", session)
    step.refresh_from_db()
    assert step.notes == "n"


def test_it_answers_notes_for_a_stale_step_with_409_retargeted_to_the_step(alice_client, session):
    stale = open_step(session)
    answer(alice_client, session, "Yes")

    response = alice_client.post(
        url("notes", session), {"decision": stale.pk, "notes": "late"}, **HTMX
    )

    assert response.status_code == 409
    assert response["HX-Retarget"] == "#step"
    assert response["HX-Reswap"] == "outerHTML"
    stale.refresh_from_db()
    assert stale.notes == ""


def test_it_autosaves_the_scratchpad(alice_client, session):
    response = alice_client.post(url("scratchpad", session), {"scratchpad": "IP 10.0.0.7"}, **HTMX)

    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert response.content.decode().startswith("Saved")
    session.refresh_from_db()
    assert session.scratchpad == "IP 10.0.0.7"


def test_it_saves_the_scratchpad_with_a_plain_post(alice_client, session):
    response = alice_client.post(url("scratchpad", session), {"scratchpad": "x"})

    assert response.status_code == 303
    session.refresh_from_db()
    assert session.scratchpad == "x"


def test_it_refuses_a_scratchpad_that_is_too_long(alice_client, session):
    response = alice_client.post(url("scratchpad", session), {"scratchpad": "x" * 20_001}, **HTMX)

    assert response.status_code == 422
    assert "Not saved" in response.content.decode()
    session.refresh_from_db()
    assert session.scratchpad == ""


def test_it_refuses_the_scratchpad_of_a_completed_session(alice_client, alice, session):
    services.session_complete(session=session, outcome=outcome("resolved"), by=alice)

    response = alice_client.post(url("scratchpad", session), {"scratchpad": "late"}, **HTMX)

    assert response.status_code == 409
    assert response["HX-Retarget"] == "#step"
    session.refresh_from_db()
    assert session.scratchpad == ""


# --- a field missing from the post changes nothing ------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_it_refuses_notes_posted_without_their_field_and_keeps_the_saved_ones(
    alice_client, session, htmx
):
    step = open_step(session)
    services.decision_save_notes(session=session, decision_id=step.pk, notes="Checked the cable")

    response = alice_client.post(
        url("notes", session), {"decision": step.pk}, **(HTMX if htmx else {})
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert "Nothing was saved: the form arrived without its step notes field." in html
    assert ("<html" in html) is not htmx
    step.refresh_from_db()
    assert step.notes == "Checked the cable"
    assert step.exited_at is None


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_it_refuses_notes_posted_without_their_step(alice_client, session, htmx):
    step = open_step(session)

    response = alice_client.post(url("notes", session), {"notes": "x"}, **(HTMX if htmx else {}))

    assert response.status_code == 422
    assert "Reload the page" in response.content.decode()
    step.refresh_from_db()
    assert step.notes == ""


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_it_refuses_a_scratchpad_post_without_its_field_and_keeps_the_saved_text(
    alice_client, session, htmx
):
    services.session_save_scratchpad(session=session, text="IP 10.0.0.7")

    response = alice_client.post(url("scratchpad", session), {}, **(HTMX if htmx else {}))

    assert response.status_code == 422
    assert (
        "Nothing was saved: the form arrived without its scratchpad field."
        in response.content.decode()
    )
    session.refresh_from_db()
    assert session.scratchpad == "IP 10.0.0.7"


@pytest.mark.parametrize("action", ["done", "back"])
def test_done_and_back_without_notes_keep_the_saved_notes(alice_client, session, action):
    answer(alice_client, session, "Yes")
    step = open_step(session)
    services.decision_save_notes(session=session, decision_id=step.pk, notes="Reset it")

    response = alice_client.post(url(action, session), {"decision": step.pk})

    assert response.status_code == 303
    step.refresh_from_db()
    assert step.notes == "Reset it"
    assert step.exited_at is not None


# --- the detail page --------------------------------------------------------------


def walk(client, session, clock):
    """Yes (150 s) → Done (3840 s) → back (45 s) → Done → Yes → solution, then complete."""
    clock.advance(150)
    answer(client, session, "Yes", notes="5.2 installed")
    clock.advance(3840)
    client.post(url("done", session), {"decision": open_step(session).pk})
    clock.advance(45)
    client.post(url("back", session), {"decision": open_step(session).pk})
    clock.advance(20)
    client.post(url("done", session), {"decision": open_step(session).pk})
    clock.advance(10)
    answer(client, session, "Yes")
    clock.advance(5)


def test_it_shows_every_step_with_durations_on_the_detail_page(alice_client, alice, session, clock):
    walk(alice_client, session, clock)
    services.session_complete(
        session=session,
        outcome=outcome("resolved"),
        by=alice,
        outcome_notes="Creds reset",
        next_steps="Monitor",
    )

    response = alice_client.get(url("detail", session))

    html = response.content.decode()
    assert response.status_code == 200
    for text in (
        "VPN won&#x27;t connect",
        "T-1042",
        "Creds reset",
        "Monitor",
        "2m 30s",
        "1h 04m",
        "45s",
        "went back",
        "undone",
        "5.2 installed",
        'data-outcome="resolved"',
        'max="1" value="0.0369"',
        "Changes",
        "from navigation",
    ):
        assert text in html, text
    assert html.count('class="timeline-item') == session.decisions.count() == 6


def test_it_loads_the_detail_page_in_a_constant_number_of_queries(
    alice_client, alice, session, clock, django_assert_max_num_queries
):
    # 8 for the page, 2 for the Ticket card (integrations: the session's deliveries
    # and the active PSA connections), whatever the number of steps or deliveries.
    with django_assert_max_num_queries(10):
        assert alice_client.get(url("detail", session)).status_code == 200

    walk(alice_client, session, clock)
    services.session_complete(session=session, outcome=outcome("resolved"), by=alice)
    services.session_change_outcome(session=session, outcome=outcome("workaround"), by=alice)

    # + its pauses (the walk left an idle gap) and the corrected outcome's badge.
    with django_assert_max_num_queries(12):
        assert alice_client.get(url("detail", session)).status_code == 200


def test_it_offers_resume_for_an_active_and_start_for_a_prepared_session(
    alice_client, alice, charlie, session, version
):
    active = alice_client.get(url("detail", session)).content.decode()
    assert f'href="{url("run", session)}"' in active and "Resume" in active

    prepared = services.session_prepare(tree=version.tree, engineer=alice, by=charlie)
    html = alice_client.get(url("detail", prepared)).content.decode()
    assert f'action="{url("begin", prepared)}"' in html
    assert "has not been started" in html


def test_it_shows_a_managers_view_of_an_engineers_session(charlie_client, session):
    assert charlie_client.get(url("detail", session)).status_code == 200
    assert charlie_client.get(url("run", session)).status_code == 200


# --- ownership --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("get", "detail"),
        ("get", "run"),
        ("post", "begin"),
        ("post", "answer"),
        ("post", "done"),
        ("post", "back"),
        ("post", "notes"),
        ("post", "scratchpad"),
    ],
)
def test_it_hides_another_engineers_session(bob_client, session, method, name):
    step = open_step(session)
    data = {"decision": step.pk, "choice": choice_id(step, "Yes"), "scratchpad": "x"}

    response = getattr(bob_client, method)(url(name, session), data)

    assert response.status_code == 404
    assert session.decisions.count() == 1
    session.refresh_from_db()
    assert session.scratchpad == ""


def test_it_hides_unknown_sessions(alice_client):
    assert alice_client.get(reverse("sessions:run", args=[uuid.uuid4()])).status_code == 404


def test_it_requires_login(client, session):
    response = client.get(url("run", session))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
