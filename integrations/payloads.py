"""What a delivery sends, built when it is queued (inside the change's transaction).

Frozen into `Delivery.payload`, so every attempt sends the same note and the
same time, whatever happens to the session afterwards.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from integrations.models import Connection, PsaMember
from sessions.exports import export_data, iso_utc, json_document, render_psa
from sessions.models import Handoff, Outcome, Session

EVENT_FORMAT = "resolutionflow/event@1"


def time_worked(session: Session) -> int:
    """Seconds to book on the ticket: the session's active time (pauses and
    idle time left out, SPEC §9); the one place that decides it."""
    if session.active_seconds is not None:
        return session.active_seconds
    if session.duration_seconds is not None:
        return session.duration_seconds
    if session.started_at and session.completed_at:
        return int((session.completed_at - session.started_at).total_seconds())
    return 0


def reference_line(key: uuid.UUID) -> str:
    return f"ResolutionFlow ref {key}"


def note_title(session: Session) -> str:
    outcome = session.outcome.label if session.outcome_id else "in progress"
    return f"ResolutionFlow: {session.tree.name} — {outcome}"


def member_id(connection: Connection, user) -> str:
    if user is None:
        return ""
    return (
        PsaMember.objects.filter(user=user, kind=connection.kind)
        .values_list("member_id", flat=True)
        .first()
        or ""
    )


def ticket_note(session: Session, *, connection: Connection, key: uuid.UUID) -> dict[str, Any]:
    """The `psa` export as the ticket note, plus the time entry for the engineer."""
    seconds = time_worked(session)
    ended: datetime = session.completed_at or session.started_at
    note = render_psa(export_data(session)).rstrip("\n") + "\n\n" + reference_line(key)
    return {
        "ticket_ref": session.ticket_ref,
        "title": note_title(session),
        "note": note,
        "resolution": bool(session.outcome_id and session.outcome.kind == Outcome.Kind.SUCCESS),
        "seconds": seconds,
        "work_started_at": (ended - timedelta(seconds=seconds)).isoformat(),
        "ended_at": ended.isoformat(),
        "member_id": member_id(connection, session.engineer),
    }


def event(kind: str, *, key: uuid.UUID, occurred_at: datetime, data: dict[str, Any]) -> dict:
    """A webhook body (`resolutionflow/event@1`, SPEC §10)."""
    return {
        "format": EVENT_FORMAT,
        "type": kind,
        "id": str(key),
        "occurred_at": iso_utc(occurred_at),
        "data": data,
    }


def session_data(session: Session) -> dict[str, Any]:
    """The session JSON of SPEC §5 (the `json` export)."""
    return json_document(export_data(session))


def _person(value) -> str:
    if value is None:
        return ""
    get_username = getattr(value, "get_username", None)
    return get_username() if callable(get_username) else str(value)


def handoff_data(session: Session, handoff: Handoff) -> dict[str, Any]:
    return {
        "session": session_data(session),
        "handoff": {
            "from": _person(handoff.from_engineer),
            "to": _person(handoff.to_engineer),
            "at": iso_utc(handoff.at),
            "note": handoff.note,
        },
    }


def tree_data(version) -> dict[str, Any]:
    return {"slug": version.tree.slug, "name": version.tree.name, "version": version.number}
