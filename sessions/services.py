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
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q

from resolutionflow import clock
from sessions import signals
from sessions.formatting import whole_seconds
from sessions.models import ClosedFrom, Decision, Outcome, OutcomeChange, Session
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


def _enter(session: Session, node: Node, *, at: datetime, seq: int) -> Decision:
    return Decision.objects.create(
        session=session,
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
    decision.exit = exit
    decision.choice = choice
    decision.answer_label = label
    fields = ["exited_at", "duration_seconds", "exit", "choice", "answer_label"]
    if notes is not None:
        decision.notes = notes
        fields.append("notes")
    decision.save(update_fields=fields)


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
    session.step_count = 1
    session.save(update_fields=["started_at", "step_count"])
    _enter(session, start, at=now, seq=1)
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
    session.save(update_fields=["step_count"])
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
    _exit(decision, at=now, exit=Decision.Exit.ANSWERED, label="Done", notes=notes)
    opened = _enter(session, node.next, at=now, seq=decision.seq + 1)
    session.step_count += 1
    session.save(update_fields=["step_count"])
    return opened


@transaction.atomic
def decision_back(
    *, session: Session, decision_id: int | None, notes: str | None = None
) -> Decision:
    """Go back one step: the open step is left `backtracked`, the answer that led
    here is marked undone (kept in the log) and the previous node reopens."""
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
    _exit(decision, at=now, exit=Decision.Exit.BACKTRACKED, notes=notes)
    previous.undone = True
    previous.save(update_fields=["undone"])
    opened = _enter(session, previous.node, at=now, seq=decision.seq + 1)
    session.step_count -= 1
    session.save(update_fields=["step_count"])
    return opened


@transaction.atomic
def decision_save_notes(*, session: Session, decision_id: int, notes: str) -> Decision:
    """Save notes on the open step without answering it."""
    session = _lock(session)
    _require_active(session)
    decision = _open_decision(session, decision_id)
    decision.notes = notes
    decision.save(update_fields=["notes"])
    return decision


@transaction.atomic
def session_save_scratchpad(*, session: Session, text: str) -> Session:
    """Autosave of the free-form scratchpad; allowed until the session is completed."""
    session = _lock(session)
    if session.completed_at is not None:
        _require_active(session)
    session.scratchpad = text
    session.save(update_fields=["scratchpad"])
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
    if decision is not None:
        _exit(decision, at=now, exit=Decision.Exit.SESSION_CLOSED)
    session.completed_at = now
    session.duration_seconds = whole_seconds(now - session.started_at)
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
            "outcome",
            "outcome_notes",
            "next_steps",
            "closed_by",
            "closed_from",
        ]
    )
    OutcomeChange.objects.create(
        session=session,
        old_outcome=None,
        new_outcome=outcome,
        new_outcome_notes=session.outcome_notes,
        new_next_steps=session.next_steps,
        changed_by=by,
        changed_at=now,
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
    old_outcome, old_notes, old_next = session.outcome, session.outcome_notes, session.next_steps
    fields = []
    if outcome_notes is not None and outcome_notes != old_notes:
        session.outcome_notes = outcome_notes
        fields.append("outcome_notes")
    if next_steps is not None and next_steps != old_next:
        session.next_steps = next_steps
        fields.append("next_steps")
    if old_outcome is None or old_outcome.pk != outcome.pk:
        session.outcome = outcome
        fields.append("outcome")
    if not fields:
        return session
    session.save(update_fields=fields)
    OutcomeChange.objects.create(
        session=session,
        old_outcome=old_outcome,
        new_outcome=session.outcome,
        old_outcome_notes=old_notes,
        new_outcome_notes=session.outcome_notes,
        old_next_steps=old_next,
        new_next_steps=session.next_steps,
        changed_by=by,
        changed_at=clock.now(),
        source=source,
    )
    return session
