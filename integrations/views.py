"""The Start form's ticket lookup and the detail page's Ticket card (SPEC §10)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from integrations import services
from integrations.panel import panel_context
from resolutionflow.http import HtmxHttpRequest
from sessions.forms import StartForm
from sessions.views.common import get_session_for_user

PANEL = "integrations/_ticket_panel.html"
LEVELS = {"success": messages.SUCCESS, "info": messages.INFO, "error": messages.ERROR}


@require_GET
@login_required
def ticket_lookup(request: HtmxHttpRequest) -> HttpResponse:
    """The ticket's summary and company from the default PSA, under the Ticket field.

    Client and Summary are filled (out-of-band swaps) only while they are
    empty, so a lookup never overwrites what the engineer typed. With no PSA
    connection, or an empty ticket number, the answer is empty.
    """
    ticket_ref = request.GET.get("ticket_ref", "")[:64]
    lookup = services.ticket_lookup(ticket_ref=ticket_ref) if "\x00" not in ticket_ref else None
    fill = None
    if lookup is not None and lookup.ticket is not None:
        form = StartForm(
            initial={
                "client": request.GET.get("client", "").strip() or lookup.ticket.company[:200],
                "summary": request.GET.get("summary", "").strip() or lookup.ticket.summary[:2000],
            }
        )
        fill = {
            "form": form,
            "client": not request.GET.get("client", "").strip() and lookup.ticket.company,
            "summary": not request.GET.get("summary", "").strip() and lookup.ticket.summary,
        }
    return render(request, "integrations/_ticket_lookup.html", {"lookup": lookup, "fill": fill})


def _panel(request: HtmxHttpRequest, session) -> HttpResponse:
    return render(request, PANEL, panel_context(session, may_act=session.may_change(request.user)))


@require_GET
@login_required
def deliveries(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """The Ticket card on its own: the detail page polls it while a delivery is open."""
    return _panel(request, get_session_for_user(request, session_id))


def _respond(request: HtmxHttpRequest, session, message: str, level: str) -> HttpResponse:
    """htmx: the refreshed card and a toast; a plain post: back to the page (303)."""
    if request.htmx:
        response = _panel(request, session)
        return trigger_client_event(response, "toast", {"message": message, "level": level})
    messages.add_message(request, LEVELS[level], message)
    return HttpResponseRedirect(session.get_absolute_url(), status=303)


@require_POST
@login_required
def post_to_ticket(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Queue the note for every PSA connection that does not have it yet."""
    session = get_session_for_user(request, session_id, for_writing=True)
    try:
        queued = services.session_post_to_ticket(session=session, by=request.user)
    except services.CannotPost as exc:
        return _respond(request, session, exc.message, "error")
    if queued:
        return _respond(request, session, "The note is on its way to the ticket.", "success")
    return _respond(request, session, "The note is already posted or on its way.", "info")


@require_POST
@login_required
def retry(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Queue this session's failed deliveries again."""
    session = get_session_for_user(request, session_id, for_writing=True)
    count = services.session_retry_failed(session=session)
    if count:
        return _respond(request, session, "Trying again.", "success")
    return _respond(request, session, "Nothing has failed; nothing to retry.", "info")
