from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from sessions import services
from sessions.models import Outcome, OutcomeChange, Session
from sessions.tests.factories import OutcomeFactory, build_version, outcome

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(db):
    return build_version()


@pytest.fixture
def completed(alice, version, clock):
    session = services.session_create(tree=version.tree, engineer=alice, ticket_ref="T-55")
    clock.advance(300)
    return services.session_complete(
        session=session, outcome=outcome("escalated"), by=alice, outcome_notes="To L3"
    )


# The read-only inlines' management forms, as the change page posts them.
NO_INLINES = {
    "decisions-TOTAL_FORMS": "0",
    "decisions-INITIAL_FORMS": "0",
    "outcome_changes-TOTAL_FORMS": "0",
    "outcome_changes-INITIAL_FORMS": "0",
}


def change_url(obj) -> str:
    return reverse(f"admin:flow_sessions_{obj._meta.model_name}_change", args=[obj.pk])


# --- sessions ---------------------------------------------------------------------


def test_it_lists_sessions_with_their_status_outcome_and_duration(
    admin_client_logged_in, completed, alice, version
):
    services.session_create(tree=version.tree, engineer=alice, ticket_ref="T-56")

    response = admin_client_logged_in.get(reverse("admin:flow_sessions_session_changelist"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "T-55" in html and "T-56" in html
    assert "Escalated" in html and "5m 00s" in html
    assert "Completed" in html and "Active" in html


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("status=completed", "T-55", "T-56"),
        ("status=active", "T-56", "T-55"),
        ("outcome__kind__exact=failure", "T-55", "T-56"),
        ("q=T-56", "T-56", "T-55"),
    ],
)
def test_it_filters_and_searches_sessions(
    admin_client_logged_in, completed, alice, version, query, shown, hidden
):
    services.session_create(tree=version.tree, engineer=alice, ticket_ref="T-56")

    response = admin_client_logged_in.get(
        reverse("admin:flow_sessions_session_changelist") + "?" + query
    )

    assert response.status_code == 200
    assert shown in response.content.decode()
    assert hidden not in response.content.decode()


def test_it_shows_the_steps_and_the_audit_trail_read_only(admin_client_logged_in, completed):
    response = admin_client_logged_in.get(change_url(completed))

    html = response.content.decode()
    assert response.status_code == 200
    assert "client-installed" in html  # the step inline
    assert "outcome history" in html
    assert 'name="outcome"' in html
    assert 'name="ticket_ref"' not in html
    assert 'name="decisions-0-notes"' not in html


def test_it_changes_a_completed_sessions_outcome_through_the_audited_service(
    admin_client_logged_in, admin_user, completed, clock
):
    clock.advance(3600)

    response = admin_client_logged_in.post(
        change_url(completed),
        {
            "outcome": outcome("resolved").pk,
            "outcome_notes": "Fixed by L3 after all",
            **NO_INLINES,
        },
    )

    assert response.status_code == 302
    completed.refresh_from_db()
    assert completed.outcome.code == "resolved"
    assert completed.outcome_notes == "Fixed by L3 after all"
    change = OutcomeChange.objects.latest("changed_at")
    assert (change.old_outcome.code, change.new_outcome.code) == ("escalated", "resolved")
    assert (change.changed_by, change.source, change.changed_at) == (
        admin_user,
        "admin",
        clock.now(),
    )
    # Correcting the outcome does not rewrite when or by whom the session was closed.
    assert completed.closed_from == "navigation"
    assert completed.duration_seconds == 300


def test_it_completes_an_active_session_from_the_admin(
    admin_client_logged_in, admin_user, alice, version, clock
):
    session = services.session_create(tree=version.tree, engineer=alice)
    clock.advance(42)

    response = admin_client_logged_in.post(
        change_url(session),
        {
            "outcome": outcome("cancelled").pk,
            "outcome_notes": "Duplicate ticket",
            **NO_INLINES,
        },
    )

    assert response.status_code == 302
    session.refresh_from_db()
    assert session.is_completed
    assert (session.closed_by, session.closed_from, session.duration_seconds) == (
        admin_user,
        "admin",
        42,
    )
    assert session.decisions.get().exit == "session_closed"


def test_it_refuses_a_form_opened_on_an_active_session_completed_meanwhile(
    admin_client_logged_in, alice, version, clock
):
    session = services.session_create(tree=version.tree, engineer=alice)
    page = admin_client_logged_in.get(change_url(session)).content.decode()
    assert '<input type="hidden" name="shown_as" value="active"' in page
    # Alice closes it from navigation while the admin's page is open.
    services.session_complete(session=session, outcome=outcome("resolved"), by=alice)

    response = admin_client_logged_in.post(
        change_url(session),
        {
            "outcome": outcome("workaround").pk,
            "outcome_notes": "Closed from the admin.",
            "shown_as": "active",
            **NO_INLINES,
        },
    )

    assert response.status_code == 302
    assert response.url == change_url(session)
    shown = admin_client_logged_in.get(response.url).content.decode()
    assert "Nothing was changed: This session was already completed by alice as Resolved" in shown
    session.refresh_from_db()
    assert (session.outcome.code, session.closed_from, session.outcome_notes) == (
        "resolved",
        "navigation",
        "",
    )
    assert OutcomeChange.objects.filter(session=session).count() == 1


def test_it_refuses_to_clear_a_completed_sessions_outcome(admin_client_logged_in, completed):
    response = admin_client_logged_in.post(
        change_url(completed),
        {
            "outcome": "",
            "outcome_notes": "",
            **NO_INLINES,
        },
    )

    assert response.status_code == 200
    assert "A completed session needs an outcome." in response.content.decode()
    completed.refresh_from_db()
    assert completed.outcome.code == "escalated"
    assert OutcomeChange.objects.count() == 1


def test_it_neither_adds_nor_deletes_sessions(admin_client_logged_in, completed):
    assert admin_client_logged_in.get(reverse("admin:flow_sessions_session_add")).status_code == 403
    delete = reverse("admin:flow_sessions_session_delete", args=[completed.pk])
    assert admin_client_logged_in.post(delete, {"post": "yes"}).status_code == 403
    assert Session.objects.filter(pk=completed.pk).exists()


# --- outcomes ---------------------------------------------------------------------


def test_it_edits_an_outcome_but_not_its_code(admin_client_logged_in):
    resolved = outcome("resolved")

    response = admin_client_logged_in.post(
        change_url(resolved),
        {
            "code": "fixed",
            "label": "Fixed",
            "kind": "success",
            "colour": "#16A34A",
            "order": "5",
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    resolved.refresh_from_db()
    assert (resolved.code, resolved.label, resolved.colour, resolved.order) == (
        "resolved",
        "Fixed",
        "#16a34a",
        5,
    )


def test_it_creates_an_outcome_with_a_code(admin_client_logged_in):
    response = admin_client_logged_in.post(
        reverse("admin:flow_sessions_outcome_add"),
        {
            "code": "duplicate",
            "label": "Duplicate ticket",
            "kind": "neutral",
            "colour": "#475569",
            "order": "70",
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    created = Outcome.objects.get(code="duplicate")
    assert not created.is_builtin


def test_it_refuses_to_delete_a_built_in_outcome(admin_client_logged_in):
    resolved = outcome("resolved")
    delete = reverse("admin:flow_sessions_outcome_delete", args=[resolved.pk])

    page = admin_client_logged_in.get(change_url(resolved))
    response = admin_client_logged_in.post(delete, {"post": "yes"}, follow=True)

    assert "built-in outcome and cannot be deleted" in page.content.decode()
    assert response.redirect_chain[-1][0] == change_url(resolved)
    assert "built-in outcome and cannot be deleted" in response.content.decode()
    assert Outcome.objects.filter(pk=resolved.pk).exists()


def test_it_refuses_to_delete_an_outcome_in_use(admin_client_logged_in, alice, version):
    custom = OutcomeFactory(label="Replaced hardware")
    session = services.session_create(tree=version.tree, engineer=alice)
    services.session_complete(session=session, outcome=custom, by=alice)
    delete = reverse("admin:flow_sessions_outcome_delete", args=[custom.pk])

    response = admin_client_logged_in.post(delete, {"post": "yes"}, follow=True)

    assert "used by recorded sessions" in response.content.decode()
    assert Outcome.objects.filter(pk=custom.pk).exists()


def test_it_refuses_a_bulk_delete_that_includes_protected_outcomes(admin_client_logged_in):
    unused = OutcomeFactory(label="Never used")
    changelist = reverse("admin:flow_sessions_outcome_changelist")

    response = admin_client_logged_in.post(
        changelist,
        {
            "action": "delete_selected",
            ACTION_CHECKBOX_NAME: [unused.pk, outcome("cancelled").pk],
            "post": "yes",
        },
        follow=True,
    )

    assert "Nothing was deleted: “Cancelled” is built in or used by sessions." in (
        response.content.decode()
    )
    assert Outcome.objects.filter(pk=unused.pk).exists()
    assert Outcome.objects.filter(code="cancelled").exists()


def test_it_deletes_an_unused_custom_outcome(admin_client_logged_in):
    unused = OutcomeFactory(label="Never used")
    changelist = reverse("admin:flow_sessions_outcome_changelist")

    response = admin_client_logged_in.post(
        changelist,
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [unused.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Outcome.objects.filter(pk=unused.pk).exists()
    assert Outcome.objects.filter(is_builtin=True).count() == 6
