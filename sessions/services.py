"""Every write to a session goes through here (SPEC §3, timing rules).

Each service runs in one transaction and locks the session row first, so two
requests can never both advance or both complete the same session: the loser
sees the state the winner left and gets a `SessionConflict`.

Timing rules, all times from `clock.now()` (UTC, microseconds):
1. starting sets `started_at = T` and opens the start node's decision at T;
2. answering at T closes the open decision at T and opens the next at T, so
   consecutive steps touch and their durations add up to the total;
3. Back closes the open decision as `backtracked`, marks the answer that led
   to it undone and reopens the previous node; nothing is deleted;
4. completing at T sets `completed_at = T` and closes the open decision as
   `session_closed`.

Active time (SPEC §9) on top of the wall clock, which the rules above keep
unchanged:
5. `session_pause` opens a manual pause on the open step, `session_resume`
   ends it; an answer, Done, Back, completion or hand-off during a pause ends
   it at T first, so every pause lies inside one step;
6. every action on an active session first looks at the gap since the
   previous one: beyond `IDLE_AFTER_MINUTES` the rest is written as an idle
   pause (no background job);
7. a step's `active_seconds` is its span less its pauses, the session's is its
   total less all pauses, so the step active times add up to the session's
   (± rounding), as the durations add up to the total.

Hand-off (SPEC §9): the open step is left `handed_off` and the same node
reopens for the colleague, who becomes the session's engineer; each step
records who took it. Every change of a session field after the start is a
`SessionChange` row with the old and new value (`_audit`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q

from resolutionflow import clock
from resolutionflow.users import display_name
from sessions import signals
from sessions.formatting import whole_seconds
from sessions.models import (
    ChangeSource,
    ClosedFrom,
    Decision,
    Handoff,
    Outcome,
    Pause,
    Session,
    SessionChange,
)
from trees.models import Choice, Node, Tree, TreeVersion

# --- errors -------------------------------------------------------------------


class SessionError(Exception):
    """A request the session's current state cannot accept."""

    def __init__(self, message: str, *, session: Session | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.session = session


class SessionConflict(SessionError):
    """The session moved on (another tab, a double click, someone else): HTTP 409."""


class StaleDecision(SessionConflict):
    """The posted step is no longer the open one."""


class SessionNotStarted(SessionConflict):
    pass


class SessionCompleted(SessionConflict):
    pass


class InvalidInput(SessionError):
    """The request itself is wrong (unknown choice, inactive outcome): HTTP 422."""


# --- helpers ------------------------------------------------------------------


def _lock(session: Session) -> Session:
    """Re-read the session under a row lock; everything after sees committed state."""
    return Session.objects.select_for_update().get(pk=session.pk)


def _require_active(session: Session) -> None:
    if session.started_at is None:
        raise SessionNotStarted("This session has not been started yet.", session=session)
    if session.completed_at is not None:
        who = session.closed_by.get_username() if session.closed_by else "someone"
        raise SessionCompleted(
            f"This session was already completed by {who} "
            f"as {session.outcome.label if session.outcome else 'closed'}.",
            session=session,
        )


def _open_decision(session: Session, decision_id: int | None) -> Decision:
    """The open step, which must be the one the request was made from."""
    decision = session.decisions.select_related("node").open().first()
    return _check_open(session, decision, decision_id)


def _check_open(session: Session, decision: Decision | None, decision_id: int | None) -> Decision:
    """`decision` if it is the open step and the one the request was made from."""
    if (
        decision is None
        or decision.exited_at is not None
        or (decision_id is not None and decision.pk != decision_id)
    ):
        raise StaleDecision(
            "That step was already answered (in another tab or by a double click). "
            "Here is where the session is now.",
            session=session,
        )
    return decision


def _steps_back(session: Session) -> list[Decision]:
    """The open step and the newest answer not undone, newest first (either may be missing)."""
    standing = Q(exited_at__isnull=True) | Q(undone=False, exit=Decision.Exit.ANSWERED)
    return list(session.decisions.select_related("node").filter(standing).order_by("-seq")[:2])


def _enter(session: Session, node: Node, *, at: datetime, seq: int, notes: str = "") -> Decision:
    return Decision.objects.create(
        session=session,
        engineer_id=session.engineer_id,
        notes=notes,
        # Denormalised for the reports; a started session keeps both for good.
        tree_id=session.tree_id,
        session_started_at=session.started_at,
        seq=seq,
        node=node,
        node_key=node.key,
        node_kind=node.kind,
        node_title=node.title,
        entered_at=at,
    )


def _exit(
    decision: Decision,
    *,
    at: datetime,
    exit: str,
    choice: Choice | None = None,
    label: str = "",
    notes: str | None = None,
) -> None:
    decision.exited_at = at
    decision.duration_seconds = whole_seconds(at - decision.entered_at)
    # A session that never paused has no pause to look for (most steps).
    paused = timedelta(0)
    if decision.session.paused_seconds:
        paused = sum((p.ended_at - p.started_at for p in decision.pauses.all()), start=timedelta(0))
    # Never above the rounded span, whatever the two roundings do.
    decision.active_seconds = min(
        decision.duration_seconds, whole_seconds(at - decision.entered_at - paused)
    )
    decision.exit = exit
    decision.choice = choice
    decision.answer_label = label
    fields = ["exited_at", "duration_seconds", "active_seconds", "exit", "choice", "answer_label"]
    if notes is not None:
        decision.notes = notes
        fields.append("notes")
    decision.save(update_fields=fields)
    signals.step_closed.send(sender=Decision, decision=decision)


def idle_after() -> timedelta:
    return timedelta(minutes=settings.IDLE_AFTER_MINUTES)


def _end_pause(session: Session, *, at: datetime) -> None:
    """End the manual pause in progress at `at` (Resume, or an action that leaves the step)."""
    pause = session.pauses.filter(ended_at__isnull=True).first()
    if pause is not None:
        pause.ended_at = at
        pause.save(update_fields=["ended_at"])
        session.paused_seconds += (at - pause.started_at).total_seconds()
    session.paused_at = None


ACTIVITY_FIELDS = ["paused_at", "paused_seconds", "last_activity_at"]


def _activity(
    session: Session, *, at: datetime, leaves_step: bool, open_step: Decision | None = None
) -> list[str]:
    """Rules 5 and 6: what an action at `at` does to the clock before it runs.

    `leaves_step` (answer, Done, Back, complete, hand-off) ends a pause in
    progress. Otherwise (notes, scratchpad) a paused session stays paused and
    its idle time is not counted twice. Returns the session fields to save,
    which the caller saves with its own (one UPDATE per action).
    """
    if session.paused_at is not None:
        if not leaves_step:
            return []
        _end_pause(session, at=at)
    elif session.last_activity_at is not None and at - session.last_activity_at > idle_after():
        started = session.last_activity_at + idle_after()
        open_step = open_step or session.decisions.open().first()
        if open_step is not None:
            Pause.objects.create(
                session=session,
                decision=open_step,
                kind=Pause.Kind.IDLE,
                started_at=started,
                ended_at=at,
            )
            session.paused_seconds += (at - started).total_seconds()
    session.last_activity_at = at
    return ACTIVITY_FIELDS


def _audit(
    session: Session,
    values: list[tuple[str, str, str]],
    *,
    by: AbstractBaseUser | None,
    at: datetime,
    source: str,
) -> list[SessionChange]:
    """One `SessionChange` per (field, old, new) whose value changed."""
    return SessionChange.objects.bulk_create(
        SessionChange(
            session=session,
            field=field,
            old_value=old,
            new_value=new,
            changed_by=by,
            changed_at=at,
            source=ChangeSource(source),
        )
        for field, old, new in values
        if old != new
    )


def _published_version(tree: Tree) -> TreeVersion:
    version = tree.versions.filter(status=TreeVersion.Status.PUBLISHED).first()
    if version is None:
        raise InvalidInput(f"“{tree.name}” has no published version to run.")
    return version


# --- creating and starting ------------------------------------------------------


@transaction.atomic
def session_prepare(
    *,
    tree: Tree,
    engineer: AbstractBaseUser,
    by: AbstractBaseUser,
    ticket_ref: str = "",
    client: str = "",
    summary: str = "",
    session_id: uuid.UUID | None = None,
) -> Session:
    """Create a session ahead of time (e.g. a manager for an engineer); the clock starts later.

    `session_id` comes from the form that was rendered, so a double submit finds
    the session the first submit created instead of making a second one.
    """
    if session_id is not None:
        existing = Session.objects.filter(pk=session_id).first()
        if existing is not None:
            if existing.engineer_id != engineer.pk or existing.tree_id != tree.pk:
                raise InvalidInput("That form was already used for another session.")
            return existing
    version = _published_version(tree)
    session = Session(
        id=session_id or uuid.uuid4(),
        engineer=engineer,
        tree=tree,
        version=version,
        ticket_ref=ticket_ref,
        client=client,
        summary=summary,
        created_at=clock.now(),
        created_by=by,
    )
    try:
        with transaction.atomic():
            session.save(force_insert=True)
    except IntegrityError:
        # Two submits of the same form raced: the other one created it.
        return Session.objects.get(pk=session.pk, engineer=engineer)
    return session


@transaction.atomic
def session_start(*, session: Session) -> Session:
    """Start the clock: `started_at = T` and the start node's step opens at T.

    Starting a session that is already running changes nothing (a double click
    on Start), so the caller can simply carry on to the navigation page.
    """
    session = _lock(session)
    if session.completed_at is not None:
        _require_active(session)
    if session.started_at is not None:
        return session
    start = session.version.nodes.filter(is_start=True).first()
    if start is None:
        raise InvalidInput("This tree version has no start node.", session=session)
    now = clock.now()
    session.started_at = now
    session.last_activity_at = now
    session.step_count = 1
    session.save(update_fields=["started_at", "last_activity_at", "step_count"])
    _enter(session, start, at=now, seq=1)
    signals.session_started.send(sender=Session, session=session)
    return session


def session_create(
    *,
    tree: Tree,
    engineer: AbstractBaseUser,
    ticket_ref: str = "",
    client: str = "",
    summary: str = "",
    session_id: uuid.UUID | None = None,
) -> Session:
    """An engineer starts a session on a tree right away (the Start form)."""
    with transaction.atomic():
        session = session_prepare(
            tree=tree,
            engineer=engineer,
            by=engineer,
            ticket_ref=ticket_ref,
            client=client,
            summary=summary,
            session_id=session_id,
        )
        return session_start(session=session)


# --- stepping -----------------------------------------------------------------


@transaction.atomic
def decision_answer(
    *,
    session: Session,
    decision_id: int | None,
    choice_id: int,
    notes: str | None = None,
) -> Decision:
    """Answer the open question with one of its choices; returns the new open step."""
    session = _lock(session)
    _require_active(session)
    decision = _open_decision(session, decision_id)
    if decision.node.kind != Node.Kind.QUESTION:
        raise InvalidInput("This step is not a question.", session=session)
    choice = (
        Choice.objects.select_related("target").filter(pk=choice_id, node=decision.node).first()
    )
    if choice is None or choice.target is None:
        raise InvalidInput("That answer does not belong to this step.", session=session)
    now = clock.now()
    timing = _activity(session, at=now, leaves_step=True, open_step=decision)
    _exit(
        decision,
        at=now,
        exit=Decision.Exit.ANSWERED,
        choice=choice,
        label=choice.label,
        notes=notes,
    )
    opened = _enter(session, choice.target, at=now, seq=decision.seq + 1)
    session.step_count += 1
    session.save(update_fields=["step_count", *timing])
    return opened


@transaction.atomic
def decision_done(
    *, session: Session, decision_id: int | None, notes: str | None = None
) -> Decision:
    """Mark the open action done; returns the new open step (the action's next node)."""
    session = _lock(session)
    _require_active(session)
    decision = _open_decision(session, decision_id)
    node = decision.node
    if node.kind != Node.Kind.ACTION or node.next_id is None:
        raise InvalidInput("This step is not an action.", session=session)
    now = clock.now()
    timing = _activity(session, at=now, leaves_step=True, open_step=decision)
    _exit(decision, at=now, exit=Decision.Exit.ANSWERED, label="Done", notes=notes)
    opened = _enter(session, node.next, at=now, seq=decision.seq + 1)
    session.step_count += 1
    session.save(update_fields=["step_count", *timing])
    return opened


@transaction.atomic
def decision_back(
    *, session: Session, decision_id: int | None, notes: str | None = None
) -> Decision:
    """Go back one step: the open step is left `backtracked`, the answer that led
    here is marked undone (kept in the log) and the previous node reopens with
    the undone step's notes filled in (the undone step keeps its own copy)."""
    session = _lock(session)
    _require_active(session)
    # The open step and the last answer still standing, in one query: the open
    # step is always the newest, the answer the newest not undone.
    steps = _steps_back(session)
    decision = _check_open(session, steps[0] if steps else None, decision_id)
    previous = steps[1] if len(steps) > 1 else None
    if previous is None:
        raise InvalidInput("This is the first step: there is nothing to go back to.")
    now = clock.now()
    timing = _activity(session, at=now, leaves_step=True, open_step=decision)
    _exit(decision, at=now, exit=Decision.Exit.BACKTRACKED, notes=notes)
    previous.undone = True
    previous.save(update_fields=["undone"])
    opened = _enter(session, previous.node, at=now, seq=decision.seq + 1, notes=previous.notes)
    session.step_count -= 1
    session.save(update_fields=["step_count", *timing])
    return opened


@transaction.atomic
def decision_save_notes(*, session: Session, decision_id: int, notes: str) -> Decision:
    """Save notes on the open step without answering it."""
    session = _lock(session)
    _require_active(session)
    decision = _open_decision(session, decision_id)
    timing = _activity(session, at=clock.now(), leaves_step=False, open_step=decision)
    if timing:
        session.save(update_fields=timing)
    decision.notes = notes
    decision.save(update_fields=["notes"])
    return decision


@transaction.atomic
def session_save_scratchpad(*, session: Session, text: str) -> Session:
    """Autosave of the free-form scratchpad; allowed until the session is completed."""
    session = _lock(session)
    if session.completed_at is not None:
        _require_active(session)
    timing = []
    if session.started_at is not None:
        timing = _activity(session, at=clock.now(), leaves_step=False)
    session.scratchpad = text
    session.save(update_fields=["scratchpad", *timing])
    return session


# --- completing ---------------------------------------------------------------


def _check_outcome(outcome: Outcome) -> None:
    if not outcome.is_active:
        raise InvalidInput(f"The outcome “{outcome.label}” is no longer in use.")


@transaction.atomic
def session_complete(
    *,
    session: Session,
    outcome: Outcome,
    by: AbstractBaseUser,
    source: str = ClosedFrom.NAVIGATION,
    outcome_notes: str | None = "",
    next_steps: str | None = "",
) -> Session:
    """Complete an active session at T: the open step closes as `session_closed`.

    Records who closed it and from where, and audits the outcome. None for
    `outcome_notes` or `next_steps` keeps what the session has (a form that
    does not carry the field).
    """
    session = _lock(session)
    _require_active(session)
    _check_outcome(outcome)
    now = clock.now()
    decision = session.decisions.open().first()
    timing = _activity(session, at=now, leaves_step=True, open_step=decision)
    if decision is not None:
        _exit(decision, at=now, exit=Decision.Exit.SESSION_CLOSED)
    old_notes, old_next = session.outcome_notes, session.next_steps
    session.completed_at = now
    session.duration_seconds = whole_seconds(now - session.started_at)
    session.active_seconds = min(
        session.duration_seconds,
        whole_seconds(now - session.started_at - timedelta(seconds=session.paused_seconds)),
    )
    session.outcome = outcome
    if outcome_notes is not None:
        session.outcome_notes = outcome_notes
    if next_steps is not None:
        session.next_steps = next_steps
    session.closed_by = by
    session.closed_from = ClosedFrom(source)
    session.save(
        update_fields=[
            "completed_at",
            "duration_seconds",
            "active_seconds",
            "outcome",
            "outcome_notes",
            "next_steps",
            "closed_by",
            "closed_from",
            *timing,
        ]
    )
    _audit(
        session,
        [
            ("outcome", "", outcome.code),
            ("outcome_notes", old_notes, session.outcome_notes),
            ("next_steps", old_next, session.next_steps),
        ],
        by=by,
        at=now,
        source=source,
    )
    signals.session_completed.send(sender=Session, session=session, by=by)
    return session


@transaction.atomic
def session_change_outcome(
    *,
    session: Session,
    outcome: Outcome,
    by: AbstractBaseUser,
    source: str = ClosedFrom.ADMIN,
    outcome_notes: str | None = None,
    next_steps: str | None = None,
) -> Session:
    """Correct a completed session's outcome, notes or next steps (admin).

    `None` leaves that text as it is. Any change, of the outcome or only of a
    text, writes one audit row with the outcome, notes and next steps before
    and after; a save that changes nothing writes none.
    """
    session = _lock(session)
    if session.completed_at is None:
        raise SessionConflict("Only a completed session's outcome can be corrected.")
    old_code = session.outcome.code if session.outcome else ""
    old_outcome_id = session.outcome_id
    values = [("outcome", old_code, outcome.code)]
    session.outcome = outcome
    for field, value in (("outcome_notes", outcome_notes), ("next_steps", next_steps)):
        if value is not None:
            values.append((field, getattr(session, field), value))
            setattr(session, field, value)
    changes = _audit(session, values, by=by, at=clock.now(), source=source)
    if changes:
        session.save(update_fields=[change.field for change in changes])
    if session.outcome_id != old_outcome_id:
        signals.session_outcome_changed.send(
            sender=Session, session=session, old_outcome_id=old_outcome_id
        )
    return session


@transaction.atomic
def session_edit_details(
    *,
    session: Session,
    by: AbstractBaseUser,
    source: str = ChangeSource.DETAIL,
    ticket_ref: str | None = None,
    client: str | None = None,
    summary: str | None = None,
) -> list[SessionChange]:
    """Edit ticket, client and summary at any time (SPEC §9: `Edit details`).

    `None` keeps that field. After the start every changed field is audited
    with its old and new value; a save that changes nothing writes nothing.
    Returns the audit rows written.
    """
    session = _lock(session)
    values = [
        (field, getattr(session, field), value)
        for field, value in (("ticket_ref", ticket_ref), ("client", client), ("summary", summary))
        if value is not None and value != getattr(session, field)
    ]
    if not values:
        return []
    for field, _old, new in values:
        setattr(session, field, new)
    session.save(update_fields=[field for field, _old, _new in values])
    if session.started_at is None:
        return []
    return _audit(session, values, by=by, at=clock.now(), source=source)


# --- pausing ------------------------------------------------------------------


@transaction.atomic
def session_pause(*, session: Session, by: AbstractBaseUser) -> Session:
    """Stop the clock (rule 5). Pausing a paused session changes nothing."""
    session = _lock(session)
    _require_active(session)
    if session.paused_at is not None:
        return session
    now = clock.now()
    open_step = session.decisions.open().get()
    timing = _activity(session, at=now, leaves_step=False, open_step=open_step)
    Pause.objects.create(
        session=session, decision=open_step, kind=Pause.Kind.MANUAL, started_at=now, by=by
    )
    session.paused_at = now
    session.save(update_fields=list({"paused_at", *timing}))
    return session


@transaction.atomic
def session_resume(*, session: Session, by: AbstractBaseUser) -> Session:
    """Start the clock again. Resuming a running session changes nothing."""
    session = _lock(session)
    _require_active(session)
    if session.paused_at is None:
        return session
    now = clock.now()
    _end_pause(session, at=now)
    session.last_activity_at = now
    session.save(update_fields=["paused_at", "paused_seconds", "last_activity_at"])
    return session


# --- handing off --------------------------------------------------------------


def handoff_candidates():
    """Who a session can be handed to: active engineers and managers."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=["Engineers", "Managers"])
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


@transaction.atomic
def session_hand_off(
    *,
    session: Session,
    to: AbstractBaseUser,
    by: AbstractBaseUser,
    note: str,
    decision_id: int | None = None,
    notes: str | None = None,
) -> Handoff:
    """Pass an active session to a colleague (SPEC §9).

    The open step (`decision_id`, the one the page showed) is left `handed_off`
    with its `notes`, the same node reopens for `to`, and a `Handoff` row keeps
    from, to, when and the note. Two hand-offs of the same page race for the
    row lock: the loser finds the step closed and gets a `StaleDecision`.
    """
    note = (note or "").strip()
    if not note:
        raise InvalidInput("Write a hand-off note: what you tried and what is left to do.")
    session = _lock(session)
    _require_active(session)
    decision = _open_decision(session, decision_id)
    if to.pk == session.engineer_id:
        raise InvalidInput(
            f"This session is already {display_name(to) or to.get_username()}'s: "
            "choose a colleague to hand it to.",
            session=session,
        )
    if not handoff_candidates().filter(pk=to.pk).exists():
        raise InvalidInput(
            f"{display_name(to) or to.get_username()} cannot take sessions "
            "(the account is inactive or is not an engineer or manager).",
            session=session,
        )
    now = clock.now()
    timing = _activity(session, at=now, leaves_step=True, open_step=decision)
    _exit(decision, at=now, exit=Decision.Exit.HANDED_OFF, notes=notes)
    handoff = Handoff.objects.create(
        session=session,
        from_engineer_id=session.engineer_id,
        to_engineer=to,
        by=by,
        at=now,
        note=note,
    )
    session.engineer = to
    session.handed_off_at = now
    session.save(update_fields=["engineer", "handed_off_at", *timing])
    _enter(session, decision.node, at=now, seq=decision.seq + 1)
    signals.session_handed_off.send(sender=Session, session=session, handoff=handoff)
    return handoff
