"""The history page and closing a session (SPEC §4: history, close popover).

`history` lists sessions as cards, filtered by the query string; htmx swaps
only the results region. `complete` closes an active session, from the
history popover (the card is swapped in place) or from the navigation page's
completion dialog (the browser goes on to the detail page).

Query budget: the history page makes a constant number of queries whatever
the number of sessions (asserted in the tests). Django's Paginator counts the
filtered sessions (one COUNT), then the page of cards arrives in one query
with each card's current step (a correlated subquery on the one-open-step
index, run for the page's rows only: their ids are picked by an inner query),
so there is no prefetch; the filter options are one query per list.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, Subquery
from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from resolutionflow.http import HtmxHttpRequest
from sessions.filters import HistoryFilterForm, filter_options
from sessions.forms import CompleteForm
from sessions.models import ClosedFrom, Decision, Outcome, Session, SessionQuerySet
from sessions.services import InvalidInput, SessionConflict, session_complete
from sessions.views.common import get_session_for_user

PER_PAGE = 25
RESULTS_ID = "history-results"
# The session the page's one copy of the close popover is rendered for
# (history.html, <template id="close-popover-template">); app.js puts a card's id
# in place of this one.
_CLOSE_TEMPLATE = SimpleNamespace(pk=uuid.UUID(int=0))

VIEW_ALL = "flow_sessions.view_all_sessions"
CLOSE_ANY = "flow_sessions.close_any_session"


# --- the history page -----------------------------------------------------------


def _with_card_data(sessions: SessionQuerySet) -> SessionQuerySet:
    """Everything a card shows, without a query per card; newest first."""
    current_step = Decision.objects.open().filter(session=OuterRef("pk")).values("node_title")
    return (
        sessions.select_related("tree", "engineer", "outcome", "closed_by")
        .annotate(current_step=Subquery(current_step[:1]))
        .order_by("-created_at", "-pk")
    )


def _page(filtered: SessionQuerySet, raw_number: str | None) -> Page:
    """Page `raw_number` (25 cards) of `filtered`; a stale page number shows the last page."""
    ids = filtered.order_by("-created_at", "-pk").values("pk")
    page = Paginator(ids, PER_PAGE).get_page(raw_number)
    # The page's ids are picked first (an index walk, inside the cards' query as a
    # subquery), so a card's current step is looked up for its 25 rows only, not
    # for every row skipped before a deep page.
    page.object_list = list(_with_card_data(Session.objects.filter(pk__in=page.object_list)))
    return page


def _parse_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _history_url(params: QueryDict) -> str:
    query = params.urlencode()
    return reverse("sessions:history") + (f"?{query}" if query else "")


def _history_context(request: HtmxHttpRequest, query: QueryDict, **close) -> dict:
    """Everything the history page (or its results region) renders for `query`.

    `close` describes a popover shown open without JavaScript (`?close=<uuid>`)
    or after a refused close: `close_id`, `close_form`, `close_error`.
    """
    user = request.user
    is_manager = user.has_perm(VIEW_ALL)
    options = filter_options(user, is_manager=is_manager)
    form = HistoryFilterForm(query, **options)
    page = _page(form.filter(Session.objects.visible_to(user)), query.get("page"))

    # Links (pagination, Close, the popover's `next`) carry the filters in
    # use, without empty or ignored values.
    filter_params = QueryDict(mutable=True)
    for name in form.applied:
        filter_params[name] = query.get(name, "")
    page_params = filter_params.copy()
    if page.number > 1:
        page_params["page"] = str(page.number)

    can_close_any = user.has_perm(CLOSE_ANY)
    close_id = close.get("close_id") or _parse_uuid(query.get("close"))
    close_form = close.get("close_form")
    close_problems = [close["close_error"]] if close.get("close_error") else []
    if close_form is not None:
        close_problems += [error for errors in close_form.errors.values() for error in errors]
    return {
        "filter_form": form,
        "filters_applied": bool(form.applied),
        "ignored_filters": form.ignored,
        "page": page,
        "elided_pages": page.paginator.get_elided_page_range(
            page.number, on_each_side=1, on_ends=1
        ),
        "filter_params": filter_params,
        "page_params": page_params,
        "history_url": _history_url(page_params),
        "show_engineer": is_manager,
        "can_close_any": can_close_any,
        "close_template": _CLOSE_TEMPLATE
        if any(s.is_active and (can_close_any or s.engineer_id == user.pk) for s in page)
        else None,
        "active_outcomes": [o for o in options["outcomes"] if o.is_active],
        "close_id": close_id,
        "close_on_page": any(s.pk == close_id for s in page.object_list),
        "close_form": close_form,
        "close_error": close.get("close_error", ""),
        "close_problems": close_problems,
    }


@require_GET
@login_required
def history(request: HtmxHttpRequest) -> HttpResponse:
    """`/sessions/`: one's own sessions (managers: everyone's), filtered and paginated."""
    context = _history_context(request, request.GET)
    template = "sessions/history.html"
    if request.htmx.target == RESULTS_ID and not request.htmx.history_restore_request:
        template += "#results"
    return render(request, template, context)


# --- closing ----------------------------------------------------------------------


class CloseForm(CompleteForm):
    """The completion fields (shared with the navigation dialog), with plain-words errors."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["outcome"].error_messages.update(
            {
                "required": "Choose an outcome.",
                "invalid_choice": "That outcome is unknown or no longer in use: choose another.",
            }
        )


def _safe_next(request: HtmxHttpRequest, value: str | None) -> str:
    """`next` when it is a local URL, else the history page."""
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return reverse("sessions:history")


def _query_of(url: str) -> QueryDict:
    """The query of a history URL (the popover's `next`); empty for any other page."""
    parts = urlsplit(url)
    if parts.path != reverse("sessions:history"):
        return QueryDict()
    return QueryDict(parts.query)


def _closer_name(session: Session, user) -> str:
    closer = session.closed_by
    if closer is None:
        return "someone"
    if closer.pk == user.pk:
        return "you"
    return closer.get_full_name().strip() or closer.get_username()


def _refusal(session: Session, user) -> str:
    """Why a session that is not active cannot be closed."""
    if session.is_completed:
        label = session.outcome.label if session.outcome else "closed"
        return f"Already closed by {_closer_name(session, user)} as {label}."
    return "This session has not been started yet."


def _card(
    request: HtmxHttpRequest, session_id: uuid.UUID, next_url: str, *, status: int = 200, **close
) -> HttpResponse:
    """One session's card, fresh from the database, as the history page at `next_url` shows it.

    The caller has already checked that this person may close the session.
    """
    user = request.user
    session = _with_card_data(Session.objects.filter(pk=session_id)).get()
    page_params = _query_of(next_url).copy()
    page_params.pop("close", None)
    context = {
        "s": session,
        "show_engineer": user.has_perm(VIEW_ALL),
        "can_close_any": user.has_perm(CLOSE_ANY),
        "active_outcomes": list(Outcome.objects.active()),
        "page_params": page_params,
        "history_url": next_url,
        "close_id": close.get("close_id"),
        "close_form": close.get("close_form"),
        "close_error": close.get("close_error", ""),
    }
    return render(request, "sessions/_session_card.html", context, status=status)


def _see_other(url: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(url, status=303)


@require_POST
@login_required
def complete(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """`POST /sessions/<uuid>/complete`: close an active session with an outcome.

    From the history popover (`source=history`): htmx gets the card's completed
    version and a toast; a plain post goes back to the same filtered history
    page. From the navigation dialog (`source=navigation`, the default): on to
    the detail page. Refusals change nothing: 422 for bad input (the form is
    shown again with the error), 409 when the session is not active.
    """
    session = get_session_for_user(request, session_id, for_closing=True)
    from_history = request.POST.get("source") == ClosedFrom.HISTORY
    next_url = _safe_next(request, request.POST.get("next"))
    form = CloseForm(request.POST)

    # Checked again under the row lock by the service; this only spares an
    # already-closed session a confusing "choose an outcome" error.
    if not session.is_active:
        return _refused(request, session_id, from_history=from_history, next_url=next_url)
    if not form.is_valid():
        return _invalid(request, session, form, from_history=from_history, next_url=next_url)
    try:
        session = session_complete(
            session=session,
            outcome=form.cleaned_data["outcome"],
            by=request.user,
            source=ClosedFrom.HISTORY if from_history else ClosedFrom.NAVIGATION,
            outcome_notes=form.cleaned_data["outcome_notes"],
            next_steps=form.cleaned_data["next_steps"],
        )
    except SessionConflict:
        return _refused(request, session_id, from_history=from_history, next_url=next_url)
    except InvalidInput as error:
        return _invalid(
            request, session, form, error.message, from_history=from_history, next_url=next_url
        )

    label = session.outcome.label
    if from_history:
        if request.htmx:
            response = _card(request, session.pk, next_url)
            toast = {"message": f"Session closed as {label}", "level": "success"}
            return trigger_client_event(response, "toast", toast)
        messages.success(request, f"Session closed as {label}.")
        return _see_other(next_url)
    messages.success(request, f"Session completed as {label}.")
    detail = reverse("sessions:detail", args=[session.pk])
    if request.htmx:
        return HttpResponseClientRedirect(detail)
    return _see_other(detail)


def _invalid(
    request: HtmxHttpRequest,
    session: Session,
    form: CloseForm,
    message: str = "",
    *,
    from_history: bool,
    next_url: str,
) -> HttpResponse:
    """422: the form again, with what is wrong; nothing was changed."""
    status = 422
    if from_history:
        # The popover shows Outcome and Notes errors beside their fields; any
        # other field (next_steps, sent by hand) is explained above them.
        others = [
            error
            for name, errors in form.errors.items()
            if name not in ("outcome", "outcome_notes")
            for error in errors
        ]
        close_error = " ".join([message, *others]).strip()
        close = {"close_id": session.pk, "close_form": form, "close_error": close_error}
        if request.htmx:
            return _card(request, session.pk, next_url, status=status, **close)
        context = _history_context(request, _query_of(next_url), **close)
        return render(request, "sessions/history.html", context, status=status)
    problems = [message] if message else []
    problems += [error for errors in form.errors.values() for error in errors]
    return _error_page(request, session, problems, status=status)


def _refused(
    request: HtmxHttpRequest, session_id: uuid.UUID, *, from_history: bool, next_url: str
) -> HttpResponse:
    """409: the session is not active (closed elsewhere, or never started)."""
    session = Session.objects.select_related("tree", "outcome", "closed_by").get(pk=session_id)
    message = _refusal(session, request.user)
    status = 409
    level = "warning" if session.is_completed else "error"
    if from_history and request.htmx:
        response = _card(request, session_id, next_url, status=status)
        return trigger_client_event(response, "toast", {"message": message, "level": level})
    if from_history:
        level_code = messages.WARNING if session.is_completed else messages.ERROR
        messages.add_message(request, level_code, message)
        context = _history_context(request, _query_of(next_url))
        return render(request, "sessions/history.html", context, status=status)
    return _error_page(request, session, [message], status=status)


def _error_page(
    request: HtmxHttpRequest, session: Session, problems: list[str], *, status: int
) -> HttpResponse:
    """For the navigation dialog: what went wrong and the way back (htmx: the message only)."""
    template = "sessions/complete_error.html"
    if request.htmx:
        template += "#problems"
    context = {"session": session, "problems": problems}
    return render(request, template, context, status=status)
