from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from sessions import services
from sessions.models import Outcome, Session, SessionChange
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
    "changes-TOTAL_FORMS": "0",
    "changes-INITIAL_FORMS": "0",
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
    change = SessionChange.objects.filter(field="outcome").latest("changed_at")
    assert (change.old_value, change.new_value) == ("escalated", "resolved")
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
    assert SessionChange.objects.filter(session=session, field="outcome").count() == 1


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
    assert SessionChange.objects.filter(field="outcome").count() == 1


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


# --- the outcome audit keeps the texts ----------------------------------------------


def test_it_audits_the_old_and_new_notes_and_next_steps_of_a_correction(
    admin_client_logged_in, admin_user, completed, clock
):
    clock.advance(3600)

    response = admin_client_logged_in.post(
        change_url(completed),
        {
            "outcome": outcome("resolved").pk,
            "outcome_notes": "Fixed by L3 after all",
            "next_steps": "Close the ticket",
            **NO_INLINES,
        },
    )

    assert response.status_code == 302
    completed.refresh_from_db()
    assert completed.next_steps == "Close the ticket"
    latest = SessionChange.objects.filter(session=completed, changed_at=clock.now())
    assert list(latest.values_list("field", "old_value", "new_value")) == [
        ("outcome", "escalated", "resolved"),
        ("outcome_notes", "To L3", "Fixed by L3 after all"),
        ("next_steps", "", "Close the ticket"),
    ]


@pytest.mark.parametrize(
    ("notes", "next_steps", "changed"),
    [
        ("To L3 (ticket 4411)", "", ["outcome_notes"]),
        ("To L3", "Chase L3 on Monday", ["next_steps"]),
    ],
    ids=["notes-only", "next-steps-only"],
)
def test_it_audits_a_correction_of_the_notes_or_next_steps_only(
    admin_client_logged_in, admin_user, completed, clock, notes, next_steps, changed
):
    clock.advance(60)

    response = admin_client_logged_in.post(
        change_url(completed),
        {
            "outcome": outcome("escalated").pk,
            "outcome_notes": notes,
            "next_steps": next_steps,
            "shown_as": "completed",
            **NO_INLINES,
        },
    )

    assert response.status_code == 302
    completed.refresh_from_db()
    assert (completed.outcome.code, completed.outcome_notes, completed.next_steps) == (
        "escalated",
        notes,
        next_steps,
    )
    later = list(SessionChange.objects.filter(session=completed, changed_at=clock.now()))
    assert [c.field for c in later] == changed
    assert all((c.changed_by, c.source) == (admin_user, "admin") for c in later)


def test_it_writes_no_audit_row_for_a_save_that_changes_nothing(
    admin_client_logged_in, alice, version
):
    # A browser posts CRLF line endings; the stored text has LF.
    session = services.session_create(tree=version.tree, engineer=alice)
    services.session_complete(
        session=session, outcome=outcome("resolved"), by=alice, outcome_notes="Line 1\nLine 2"
    )

    response = admin_client_logged_in.post(
        change_url(session),
        {
            "outcome": outcome("resolved").pk,
            "outcome_notes": "Line 1\r\nLine 2",
            "next_steps": "",
            "shown_as": "completed",
            **NO_INLINES,
        },
    )

    assert response.status_code == 302
    session.refresh_from_db()
    assert session.outcome_notes == "Line 1\nLine 2"
    assert SessionChange.objects.filter(session=session, field="outcome").count() == 1


def test_it_shows_what_each_change_changed_on_the_change_page(
    admin_client_logged_in, admin_user, completed
):
    services.session_change_outcome(
        session=completed,
        outcome=outcome("escalated"),
        by=admin_user,
        outcome_notes="To L3, ticket 4411",
    )

    html = admin_client_logged_in.get(change_url(completed)).content.decode()

    assert "What changed (old → new)" in html
    assert "— → “escalated”" in html
    assert "— → “To L3”" in html
    assert "“To L3” → “To L3, ticket 4411”" in html


# --- outcome labels are unique, ignoring case ----------------------------------------


OUTCOME_FORM = {"kind": "neutral", "colour": "#475569", "order": "70", "is_active": "on"}


def test_it_refuses_a_new_outcome_whose_label_differs_only_in_case(admin_client_logged_in):
    response = admin_client_logged_in.post(
        reverse("admin:flow_sessions_outcome_add"),
        {"code": "resolved2", "label": "  RESOLVED ", **OUTCOME_FORM},
    )

    assert response.status_code == 200
    assert (
        "The outcome “Resolved” (code resolved) already has this label; labels are compared "
        "ignoring case. Choose another label."
    ) in response.content.decode()
    assert not Outcome.objects.filter(code="resolved2").exists()


def test_it_refuses_renaming_an_outcome_to_anothers_label(admin_client_logged_in):
    custom = OutcomeFactory(label="On hold")

    response = admin_client_logged_in.post(
        change_url(custom), {"code": custom.code, "label": "escalated", **OUTCOME_FORM}
    )

    assert response.status_code == 200
    assert "The outcome “Escalated” (code escalated) already has this label" in (
        response.content.decode()
    )
    custom.refresh_from_db()
    assert custom.label == "On hold"


def test_it_keeps_an_outcomes_own_label_when_only_its_case_changes(admin_client_logged_in):
    custom = OutcomeFactory(label="On hold")

    response = admin_client_logged_in.post(
        change_url(custom), {"code": custom.code, "label": "On Hold", **OUTCOME_FORM}
    )

    assert response.status_code == 302
    custom.refresh_from_db()
    assert custom.label == "On Hold"


def test_the_database_refuses_two_outcomes_with_one_label_ignoring_case():
    with pytest.raises(IntegrityError), transaction.atomic():
        Outcome.objects.create(code="again", label="rEsOlVeD", kind="success")


def test_the_label_check_migration_stops_and_names_the_clashing_outcomes():
    if connection.vendor != "postgresql":
        pytest.skip("drops the constraint inside the test's transaction (PostgreSQL DDL)")
    check = importlib.import_module("sessions.migrations.0011_check_outcome_labels")
    check.check_labels(django_apps, None)  # no clash: nothing happens
    constraint = next(c for c in Outcome._meta.constraints if c.name == "outcome_label_unique_ci")
    with connection.schema_editor() as editor:
        editor.remove_constraint(Outcome, constraint)
    Outcome.objects.create(code="fixed", label="resolved", kind="success")

    with pytest.raises(RuntimeError) as excinfo:
        check.check_labels(django_apps, None)

    assert str(excinfo.value) == (
        "Two or more outcomes share a label (ignoring case): “resolved” (code fixed), "
        "“Resolved” (code resolved). Give each a different label in the admin (Outcomes), "
        "then run migrate again. Nothing was changed."
    )


# --- the detail page shows the corrections -------------------------------------------


def test_the_detail_page_shows_what_each_correction_changed(
    admin_client_logged_in, alice_client, bob_client, completed, clock
):
    clock.advance(60)
    admin_client_logged_in.post(
        change_url(completed),
        {
            "outcome": outcome("resolved").pk,
            "outcome_notes": "Fixed by L3 <after all>",
            "next_steps": "",
            "shown_as": "completed",
            **NO_INLINES,
        },
    )
    clock.advance(60)
    admin_client_logged_in.post(
        change_url(completed),
        {
            "outcome": outcome("resolved").pk,
            "outcome_notes": "Fixed by L3 <after all>",
            "next_steps": "Close the ticket",
            "shown_as": "completed",
            **NO_INLINES,
        },
    )
    detail = reverse("sessions:detail", args=[completed.pk])

    response = alice_client.get(detail)

    assert response.status_code == 200
    assert "sessions/detail.html" in [t.name for t in response.templates]
    html = response.content.decode()
    card = html[html.index('id="audit-title"') :]
    # One entry per save: the completion, then each correction with only what it changed.
    assert card.count("<li>") == 3
    first, correction, next_steps = card.split("<li>")[1:]
    assert "Set to" in first and "<dt>Outcome notes</dt><dd>To L3</dd>" in first
    assert "from navigation" in first
    assert "<dt>Outcome before</dt>" in correction and "Escalated" in correction
    assert "<dt>Outcome after</dt>" in correction and "Resolved" in correction
    assert "<dt>Outcome notes before</dt><dd>To L3</dd>" in correction
    assert "<dt>Outcome notes after</dt><dd>Fixed by L3 &lt;after all&gt;</dd>" in correction
    assert "Next steps" not in correction
    assert "from admin" in correction
    assert "Outcome" not in next_steps
    assert "<dt>Next steps</dt><dd>Close the ticket</dd>" in next_steps
    # Someone else's session stays a 404.
    assert bob_client.get(detail).status_code == 404


def test_the_detail_page_shows_an_audit_row_copied_from_the_old_outcome_audit(
    alice_client, completed, admin_user
):
    # Migration 0015 copies an old outcome-only row as one outcome change.
    SessionChange.objects.create(
        session=completed,
        field="outcome",
        old_value="escalated",
        new_value="resolved",
        changed_by=admin_user,
        changed_at=completed.completed_at,
        source="admin",
    )

    response = alice_client.get(reverse("sessions:detail", args=[completed.pk]))

    assert response.status_code == 200
    card = response.content.decode().split('id="audit-title"')[1]
    assert card.count("<li>") == 2
    assert "Outcome notes before" not in card


def test_it_refuses_notes_on_an_active_session_without_an_outcome(
    admin_client_logged_in, alice, version
):
    session = services.session_create(tree=version.tree, engineer=alice)

    response = admin_client_logged_in.post(
        change_url(session),
        {
            "outcome": "",
            "outcome_notes": "",
            "next_steps": "Call the user back",
            "shown_as": "active",
            **NO_INLINES,
        },
    )

    assert response.status_code == 200
    assert "Choose an outcome to complete this session" in response.content.decode()
    session.refresh_from_db()
    assert (session.is_active, session.next_steps) == (True, "")
    assert not SessionChange.objects.filter(session=session).exists()
