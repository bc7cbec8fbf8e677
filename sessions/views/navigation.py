"""Starting sessions, stepping through them, and the session detail page (SPEC §3, §4).

Every view fetches its session through `get_session_for_user` (another
engineer's session is a 404) and hands the change to `sessions.services`,
which keeps the timing rules. Step actions answer htmx with the `step` partial
of run.html and plain form posts with a 303 back to the navigation page, so
everything works with JavaScript off.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Prefetch, prefetch_related_objects
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from resolutionflow import clock, release
from resolutionflow.http import HtmxHttpRequest
from resolutionflow.users import display_name
from sessions import services
from sessions.cards import fragment_key
from sessions.forms import (
    AnswerForm,
    CompleteForm,
    EditDetailsForm,
    HandoffForm,
    NotesForm,
    PrepareForm,
    ScratchpadForm,
    StartForm,
    StepForm,
)
from sessions.models import (
    ChangeSource,
    Decision,
    Handoff,
    Outcome,
    Pause,
    Session,
    SessionChange,
)
from sessions.services import InvalidInput, SessionCompleted, SessionConflict
from sessions.views.common import get_session_for_user
from sessions.views.exports import export_panel_context
from trees.models import Choice, Node, Tree

RUN_TEMPLATE = "sessions/run.html"


class HttpResponseSeeOther(HttpResponseRedirect):
    """After a POST, GET the next page (never re-POST on reload)."""

    status_code = 303


def _see_other(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """Plain posts get a 303; htmx requests a client-side redirect."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return HttpResponseSeeOther(url)


def _run_url(session: Session) -> str:
    return reverse("sessions:run", args=[session.pk])


# --- the navigation page --------------------------------------------------------


def _run_context(
    request: HtmxHttpRequest,
    session: Session,
    *,
    error: str = "",
    notes: str | None = None,
    lost_notes: str | None = None,
    complete_form: CompleteForm | None = None,
    handoff_form: HandoffForm | None = None,
    node: Node | None = None,
) -> dict:
    """`node`: the open step's node when the caller has it already (the service
    that opened the step loaded it), which saves reading it again."""
    now = clock.now()
    decisions = list(session.decisions.order_by("seq"))
    current = next((d for d in decisions if d.exited_at is None), None)
    if current is None or not session.is_active:
        node = None
    elif node is None or node.pk != current.node_id:
        node = Node.objects.get(pk=current.node_id)
    if node is not None:
        prefetch_related_objects(
            [node], Prefetch("choices", queryset=Choice.objects.order_by("position", "id"))
        )
    path = [d for d in decisions if d.exit == Decision.Exit.ANSWERED and not d.undone]
    is_solution = node is not None and node.kind == Node.Kind.SOLUTION
    if complete_form is None:
        complete_form = CompleteForm(initial={"outcome": "resolved"} if is_solution else {})
    # Notes typed on a step that moved on (stale page, other tab) are shown back
    # rather than silently dropped, unless they were saved on some step anyway.
    unsaved_notes = ""
    if lost_notes and all(lost_notes != d.notes for d in decisions):
        unsaved_notes = lost_notes
    if notes is None:
        notes = current.notes if current is not None else ""
    return {
        "session": session,
        "decisions": decisions,
        "current": current,
        "node": node,
        "is_solution": is_solution,
        "path": path,
        "can_go_back": bool(path),
        "error": error,
        "unsaved_notes": unsaved_notes,
        "notes_value": notes,
        "complete_form": complete_form,
        "complete_inline": complete_form.is_bound or request.GET.get("complete") == "1",
        "handoff_form": handoff_form or HandoffForm(session=session),
        "handoff_inline": (handoff_form is not None and handoff_form.is_bound)
        or request.GET.get("handoff") == "1",
        "active_since": session.active_since(now),
        "active_elapsed": session.active_elapsed(now),
        "now": now,
    }


def render_run_page(
    request: HtmxHttpRequest,
    session: Session,
    *,
    status: int = 200,
    error: str = "",
    notes: str | None = None,
    lost_notes: str | None = None,
    complete_form: CompleteForm | None = None,
    handoff_form: HandoffForm | None = None,
    partial: bool | None = None,
    node: Node | None = None,
) -> HttpResponse:
    """The navigation page, or only its `step` region for htmx posts.

    Public so the completion view can re-show the dialog's form with errors
    (`complete_form` bound and invalid renders it inline in the page).
    """
    if partial is None:
        partial = bool(request.htmx) and request.method == "POST"
    context = _run_context(
        request,
        session,
        error=error,
        notes=notes,
        lost_notes=lost_notes,
        complete_form=complete_form,
        handoff_form=handoff_form,
        node=node,
    )
    template = f"{RUN_TEMPLATE}#step" if partial else RUN_TEMPLATE
    return render(request, template, context, status=status)


def _conflict(
    request: HtmxHttpRequest, session: Session, exc: SessionConflict, *, notes: str | None = None
) -> HttpResponse:
    """409: the session moved on. Show where it is now and say why nothing changed."""
    session.refresh_from_db()
    return render_run_page(request, session, status=409, error=exc.message, lost_notes=notes)


def _invalid(
    request: HtmxHttpRequest, session: Session, message: str, *, notes: str | None = None
) -> HttpResponse:
    session.refresh_from_db()
    return render_run_page(request, session, status=422, error=message, notes=notes)


def _form_message(form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


@require_GET
@login_required
def run(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """The navigation page: the open step of an active session (resume lands here)."""
    session = get_session_for_user(request, session_id)
    if session.is_completed or not session.may_change(request.user):
        # Someone who handed the session on reads it on the detail page.
        return HttpResponseRedirect(session.get_absolute_url())
    return render_run_page(request, session, partial=False)


def _step_action(request: HtmxHttpRequest, session_id: uuid.UUID, action: str) -> HttpResponse:
    session = get_session_for_user(request, session_id, for_writing=True)
    form = (AnswerForm if action == "answer" else StepForm)(request.POST)
    posted_notes = request.POST.get("notes")
    if not form.is_valid():
        return _invalid(request, session, _form_message(form), notes=posted_notes)
    # None when the post has no notes field: the step's notes are kept.
    step_notes = form.cleaned_data["notes"]
    decision_id = form.cleaned_data["decision"]
    try:
        if action == "answer":
            opened = services.decision_answer(
                session=session,
                decision_id=decision_id,
                choice_id=form.cleaned_data["choice"],
                notes=step_notes,
            )
        elif action == "done":
            opened = services.decision_done(
                session=session, decision_id=decision_id, notes=step_notes
            )
        else:
            opened = services.decision_back(
                session=session, decision_id=decision_id, notes=step_notes
            )
    except SessionConflict as exc:
        return _conflict(request, session, exc, notes=step_notes)
    except InvalidInput as exc:
        return _invalid(request, session, exc.message, notes=step_notes)
    if request.htmx:
        # The service re-read the session under its lock: stepping changes only
        # the step count, so take it from there rather than reading the session
        # (and its tree) again, and show the node the service has just opened.
        session.step_count = opened.session.step_count
        return render_run_page(request, session, node=opened.node)
    return HttpResponseSeeOther(_run_url(session))


@require_POST
@login_required
def answer(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Answer the open question with the choice whose button was pressed."""
    return _step_action(request, session_id, "answer")


@require_POST
@login_required
def done(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Mark the open action done and move to its next node."""
    return _step_action(request, session_id, "done")


@require_POST
@login_required
def back(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Go back one step; the undone answer stays in the log."""
    return _step_action(request, session_id, "back")


def _retarget_step(response: HttpResponse) -> HttpResponse:
    """An autosave that hit a conflict replaces the whole step region instead."""
    return reswap(retarget(response, "#step"), "outerHTML")


@require_POST
@login_required
def notes(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Save the open step's notes without answering it (autosave, or `Save notes`)."""
    session = get_session_for_user(request, session_id, for_writing=True)
    form = NotesForm(request.POST)
    if not form.is_valid():
        response = _invalid(request, session, _form_message(form), notes=request.POST.get("notes"))
        return _retarget_step(response) if request.htmx else response
    try:
        decision = services.decision_save_notes(
            session=session,
            decision_id=form.cleaned_data["decision"],
            notes=form.cleaned_data["notes"],
        )
    except SessionConflict as exc:
        response = _conflict(request, session, exc, notes=form.cleaned_data["notes"])
        return _retarget_step(response) if request.htmx else response
    if request.htmx:
        return render(
            request, f"{RUN_TEMPLATE}#notes-saved", {"saved_at": clock.now(), "current": decision}
        )
    messages.success(request, "Step notes saved.")
    return HttpResponseSeeOther(_run_url(session))


@require_POST
@login_required
def scratchpad(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Save the scratchpad (autosaved about a second after typing stops)."""
    session = get_session_for_user(request, session_id, for_writing=True)
    form = ScratchpadForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return render(
                request,
                f"{RUN_TEMPLATE}#scratchpad-saved",
                {"scratchpad_error": _form_message(form)},
                status=422,
            )
        return _invalid(request, session, f"Scratchpad not saved: {_form_message(form)}")
    try:
        services.session_save_scratchpad(session=session, text=form.cleaned_data["scratchpad"])
    except SessionConflict as exc:
        response = _conflict(request, session, exc)
        return _retarget_step(response) if request.htmx else response
    if request.htmx:
        return render(request, f"{RUN_TEMPLATE}#scratchpad-saved", {"saved_at": clock.now()})
    messages.success(request, "Scratchpad saved.")
    return HttpResponseSeeOther(_run_url(session))


# --- pausing, handing off, editing details (SPEC §9) ---------------------------------


@require_POST
@login_required
def pause(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Stop the clock; the page shows the session paused (the counter stops)."""
    session = get_session_for_user(request, session_id, for_writing=True)
    try:
        services.session_pause(session=session, by=request.user)
    except SessionConflict as exc:
        return _conflict(request, session, exc)
    messages.success(request, "Session paused: the clock is stopped until you resume.")
    return _see_other(request, _run_url(session))


@require_POST
@login_required
def resume(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Start the clock again."""
    session = get_session_for_user(request, session_id, for_writing=True)
    try:
        services.session_resume(session=session, by=request.user)
    except SessionConflict as exc:
        return _conflict(request, session, exc)
    messages.success(request, "Session resumed: the clock is running again.")
    return _see_other(request, _run_url(session))


@require_POST
@login_required
def hand_off(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Hand the session to a colleague with a note; then on to its detail page."""
    session = get_session_for_user(request, session_id, for_writing=True)
    form = HandoffForm(request.POST, session=session)
    if not form.is_valid():
        session.refresh_from_db()
        return render_run_page(request, session, status=422, handoff_form=form, partial=False)
    data = form.cleaned_data
    try:
        handoff = services.session_hand_off(
            session=session,
            to=data["colleague"],
            by=request.user,
            note=data["note"],
            decision_id=data["decision"],
            notes=data["notes"],
        )
    except SessionConflict as exc:
        return _conflict(request, session, exc)
    except InvalidInput as exc:
        form.add_error(None, exc.message)
        session.refresh_from_db()
        return render_run_page(request, session, status=422, handoff_form=form, partial=False)
    messages.success(
        request,
        f"Handed to {display_name(handoff.to_engineer)}: the session is on their home page.",
    )
    return _see_other(request, session.get_absolute_url())


@require_http_methods(["GET", "POST"])
@login_required
def edit_details(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """`Edit details`: ticket, client and summary, audited after the start."""
    session = get_session_for_user(request, session_id, for_writing=True)
    back = request.POST.get("back") or request.GET.get("back")
    back_url = _run_url(session) if back == "run" and session.is_active else None
    back_url = back_url or session.get_absolute_url()
    if request.method == "POST":
        form = EditDetailsForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            changes = services.session_edit_details(
                session=session,
                by=request.user,
                source=ChangeSource.NAVIGATION if back == "run" else ChangeSource.DETAIL,
                ticket_ref=data["ticket_ref"],
                client=data["client"],
                summary=data["summary"],
            )
            messages.success(
                request,
                f"Details saved ({', '.join(c.get_field_display().lower() for c in changes)})."
                if changes
                else "Details saved: nothing had changed.",
            )
            return HttpResponseSeeOther(back_url)
    else:
        form = EditDetailsForm(
            initial={
                "ticket_ref": session.ticket_ref,
                "client": session.client,
                "summary": session.summary,
            }
        )
    return render(
        request,
        "sessions/edit_details.html",
        {"session": session, "form": form, "back": back or "", "back_url": back_url},
        status=422 if form.is_bound else 200,
    )


# --- starting ---------------------------------------------------------------------


@require_POST
@login_required
def start(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The Start form on a tree page: create the session and start its clock."""
    tree = get_object_or_404(Tree.objects.published(), slug=slug)
    form = StartForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            session = services.session_create(
                tree=tree,
                engineer=request.user,
                ticket_ref=data["ticket_ref"],
                client=data["client"],
                summary=data["summary"],
                session_id=data["session_id"],
            )
        except SessionCompleted as exc:
            # The same form sent again after that session was completed.
            return HttpResponseSeeOther(exc.session.get_absolute_url())
        except InvalidInput as exc:
            form.add_error(None, exc.message)
        else:
            return _see_other(request, _run_url(session))
    return render(request, "sessions/start.html", {"tree": tree, "start_form": form}, status=422)


@require_POST
@login_required
def begin(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Start a prepared session: its clock starts now."""
    session = get_session_for_user(request, session_id, for_writing=True)
    try:
        services.session_start(session=session)
    except SessionConflict as exc:
        return _conflict(request, session, exc)
    except InvalidInput as exc:
        return _invalid(request, session, exc.message)
    return _see_other(request, _run_url(session))


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("flow_sessions.prepare_session", raise_exception=True)
def prepare(request: HtmxHttpRequest) -> HttpResponse:
    """Managers prepare a session for an engineer; the engineer starts it later."""
    form = PrepareForm(request.POST) if request.method == "POST" else PrepareForm()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            session = services.session_prepare(
                tree=data["tree"],
                engineer=data["engineer"],
                by=request.user,
                ticket_ref=data["ticket_ref"],
                client=data["client"],
                summary=data["summary"],
                session_id=data["session_id"],
            )
        except InvalidInput as exc:
            form.add_error(None, exc.message)
        else:
            engineer = session.engineer
            messages.success(
                request,
                f"Session prepared for {display_name(engineer)}: "
                f"{session.tree.name}{f' · {session.ticket_ref}' if session.ticket_ref else ''}. "
                "It is waiting for them to press Start.",
            )
            return HttpResponseSeeOther(reverse("sessions:history"))
    waiting = (
        Session.objects.prepared()
        .filter(created_by=request.user)
        .select_related("engineer", "tree")
        .order_by("-created_at")[:10]
    )
    return render(
        request,
        "sessions/prepare.html",
        {"form": form, "waiting": waiting},
        status=422 if form.is_bound else 200,
    )


# --- the detail page --------------------------------------------------------------


@dataclass(frozen=True)
class TimelineStep:
    decision: Decision
    seconds: float
    fraction: float
    pauses: tuple = ()
    handoff: Handoff | None = None

    @property
    def label(self) -> str:
        """What happened to the step, in words (never colour alone)."""
        if self.decision.exit == Decision.Exit.BACKTRACKED:
            return "went back"
        if self.decision.exit == Decision.Exit.HANDED_OFF:
            return "handed off"
        if self.decision.undone:
            return "undone"
        if self.decision.exited_at is None:
            return "in progress"
        return ""

    @property
    def shows_active(self) -> bool:
        """Whether the step's active time differs from its span (it held a pause)."""
        d = self.decision
        return d.active_seconds is not None and d.active_seconds != d.duration_seconds


def _timeline(
    session: Session, decisions: list[Decision], now, *, pauses=(), handoffs=()
) -> list[TimelineStep]:
    seconds = [
        d.duration_seconds
        if d.duration_seconds is not None
        else max(0.0, ((session.completed_at or now) - d.entered_at).total_seconds())
        for d in decisions
    ]
    total = max(sum(seconds), session.elapsed.total_seconds() if session.elapsed else 0, 1)
    by_step: dict[int, list[Pause]] = {}
    for pause in pauses:
        by_step.setdefault(pause.decision_id, []).append(pause)
    handoff_at = {h.at: h for h in handoffs}
    return [
        TimelineStep(
            decision=d,
            seconds=s,
            fraction=round(s / total, 4),
            pauses=tuple(by_step.get(d.pk, ())),
            handoff=handoff_at.get(d.exited_at) if d.exit == Decision.Exit.HANDED_OFF else None,
        )
        for d, s in zip(decisions, seconds, strict=True)
    ]


@dataclass(frozen=True)
class ChangeEvent:
    """The audit rows of one save (same moment, person and place), shown together."""

    changed_at: object
    changed_by: object
    source: str
    rows: list[dict]

    @property
    def is_completion(self) -> bool:
        return any(r["field"] == "outcome" and not r["old"] for r in self.rows)


def change_events(changes: list[SessionChange], *, known=()) -> list[ChangeEvent]:
    """Group audit rows by save; outcome codes become Outcome rows for the badges
    (`known`: outcomes already loaded, such as the session's own)."""
    outcomes = {o.code: o for o in known}
    codes = {
        v
        for c in changes
        if c.field == SessionChange.Field.OUTCOME
        for v in (c.old_value, c.new_value)
        if v
    }
    if codes - set(outcomes):
        outcomes.update((o.code, o) for o in Outcome.objects.filter(code__in=codes - set(outcomes)))
    events: list[ChangeEvent] = []
    saves = itertools.groupby(changes, key=lambda c: (c.changed_at, c.changed_by_id, c.source))
    for _key, rows in saves:
        rows = list(rows)
        event = ChangeEvent(rows[0].changed_at, rows[0].changed_by, rows[0].source, [])
        for change in rows:
            is_outcome = change.field == SessionChange.Field.OUTCOME
            old, new = change.old_value, change.new_value
            if is_outcome:
                old, new = outcomes.get(old, old), outcomes.get(new, new)
            event.rows.append(
                {
                    "field": change.field,
                    "label": change.get_field_display(),
                    "old": old,
                    "new": new,
                    "is_outcome": is_outcome,
                }
            )
        events.append(event)
    return events


@require_GET
@login_required
def detail(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Everything about one session: header, outcome, timeline (with pauses and
    hand-offs), scratchpad, the audit trail of every change after the start."""
    session = get_session_for_user(request, session_id)
    now = clock.now()
    decisions = list(session.decisions.select_related("engineer").order_by("seq"))
    changes = list(session.changes.select_related("changed_by"))
    # Most sessions never paused nor changed hands: no query for those.
    pauses = (
        list(session.pauses.select_related("by").order_by("started_at", "pk"))
        if session.paused_seconds or session.paused_at
        else []
    )
    handoffs = (
        list(session.handoffs.select_related("from_engineer", "to_engineer"))
        if session.handed_off_at
        else []
    )
    events = change_events(changes, known=[session.outcome] if session.outcome else [])
    closing = next((e for e in events if e.is_completion), None)
    timeline_cache_key = ""
    if session.is_completed:
        # A completed session's steps never change; its revision counts any other
        # change, and the names the steps show are in the key (sessions.cards).
        people = [d.engineer for d in decisions] + [p.by for p in pauses]
        people += [person for h in handoffs for person in (h.from_engineer, h.to_engineer)]
        timeline_cache_key = fragment_key(
            release.digest("sessions/detail.html"),
            session.pk,
            session.revision,
            settings.IDLE_AFTER_MINUTES,
            *sorted({display_name(person) for person in people}),
        )
    return render(
        request,
        "sessions/detail.html",
        {
            "session": session,
            "decisions": decisions,
            "timeline": _timeline(session, decisions, now, pauses=pauses, handoffs=handoffs),
            "handoffs": handoffs,
            "pauses": pauses,
            "changes": events,
            "closing": closing,
            "can_change": session.may_change(request.user),
            "active_elapsed": session.active_elapsed(now),
            "active_since": session.active_since(now),
            "idle_minutes": settings.IDLE_AFTER_MINUTES,
            "now": now,
            "timeline_cache_key": timeline_cache_key,
            "export_panel": export_panel_context(session, pauses=pauses)["export_panel"],
        },
    )
