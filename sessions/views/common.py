"""Ownership in one place: every session view fetches its session through here."""

from __future__ import annotations

import uuid

from django.http import Http404

from resolutionflow.http import HtmxHttpRequest
from sessions.models import Session


def get_session_for_user(
    request: HtmxHttpRequest,
    session_id: uuid.UUID,
    *,
    for_closing: bool = False,
    for_writing: bool = False,
) -> Session:
    """The session if this person may see it (or change it), else 404.

    Another engineer's session is a 404, never a 403 that would confirm it exists.
    Who may see it is `Session.objects.visible_to` (managers, the owner, and,
    read-only, whoever took a step before handing it on: SPEC §9). Stepping
    through it (`for_writing`) needs the owner or `view_all_sessions`, as
    before; closing someone else's session also needs `close_any_session`.
    """
    user = request.user
    session = (
        Session.objects.select_related("tree", "version", "engineer", "outcome")
        .filter(pk=session_id)
        .first()
    )
    if session is None:
        raise Http404("No such session.")
    # One's own session needs no permission lookup (two queries saved on every step).
    if session.engineer_id == user.pk:
        return session
    if for_closing:
        if not user.has_perm("flow_sessions.close_any_session"):
            raise Http404("No such session.")
        return session
    if for_writing:
        if not user.has_perm("flow_sessions.view_all_sessions"):
            raise Http404("No such session.")
        return session
    if not Session.objects.visible_to(user).filter(pk=session.pk).exists():
        raise Http404("No such session.")
    return session
