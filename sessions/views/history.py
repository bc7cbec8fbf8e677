"""The history page and closing a session (SPEC §4: history, close popover).

`history` lists sessions as cards, filtered by the query string; htmx swaps
only the results region. Closing an active session is two views over one
attempt: `close` from the history popover (the card is swapped in place) and
`complete` from the navigation page's completion dialog (the browser goes on
to the detail page); `close_form` is the form a popover loads when it opens.

Query budget: the history page makes a constant number of queries whatever
the number of sessions (asserted in the tests). Django's Paginator counts the
filtered sessions (one COUNT) and the page's 25 ids are picked (an index walk);
a whole, unfiltered history's total and page of ids come from the cache, and
only their revisions are read, by primary key. Then its cards arrive
in one query with each card's current step (a correlated subquery on the
one-open-step index, for those 25 rows only), so there is no prefetch; the
filter options are one query per list, cached. The cards themselves are
rendered once and reused (sessions.cards).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, Subquery
from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

from resolutionflow.http import HtmxHttpRequest
from resolutionflow.users import display_name
from sessions.cards import cached_for_history
from sessions.filters import HistoryFilterForm, filter_options
from sessions.forms import CompleteForm
from sessions.models import ClosedFrom, Decision, Outcome, Session, SessionQuerySet
from sessions.pages import cached_page, read_generations
from sessions.services import InvalidInput, SessionConflict, session_complete
from sessions.views.common import get_session_for_user

PER_PAGE = 25
RESULTS_ID = "history-results"

VIEW_ALL = "flow_sessions.view_all_sessions"
CLOSE_ANY = "flow_sessions.close_any_session"


# --- the history page -----------------------------------------------------------


# The columns a card (and its cache key) reads: see `_with_card_data`.
PEOPLE_FIELDS = ("username", "first_name", "last_name")
LONG_TEXTS = {"summary", "scratchpad", "outcome_notes", "next_steps"}
CARD_FIELDS = [
    *(f.name for f in Session._meta.concrete_fields if f.name not in LONG_TEXTS),
    "tree__name",
    "outcome__code",
    "outcome__label",
    *(f"{who}__{name}" for who in ("engineer", "closed_by") for name in PEOPLE_FIELDS),
]


def _with_card_data(sessions: SessionQuerySet) -> SessionQuerySet:
    """Everything a card shows, without a query per card; newest first."""
    # A session has one open step at most (a unique index): no ordering, so no
    # join to the session for Decision's default order.
    current_step = (
        Decision.objects.open().filter(session=OuterRef("pk")).order_by().values("node_title")
    )
    return (
        sessions.select_related("tree", "engineer", "outcome", "closed_by")
        # The columns a card (and its cache key) reads, no more: not the long texts
        # (a scratchpad holds 20,000 characters) nor the people's passwords and
        # the trees' descriptions. Half the query's time, and half of building
        # its rows. A card that read another would cost a query each (the query
        # budget tests would fail).
        .only(*CARD_FIELDS)
        .annotate(current_step=Subquery(current_step[:1]))
        .order_by("-created_at", "-pk")
    )


def _page(filtered: SessionQuerySet, raw_number: str | None, *, count_scope: str = "") -> Page:
    """Page `raw_number` (25 sessions) of `filtered`, as (id, revision) pairs (what the
    cached page's key is made of; `_load_cards` loads the cards); a stale page number
    shows the last page.

    With `count_scope` (a whole history, no filter) the total and the page's ids
    come from the cache until the history's generation changes (sessions.cards):
    which sessions a whole history holds, and in what order, changes only when
    one is created, deleted or handed to someone else, and each of those renews
    it. Only the revisions are read then, by primary key: a deep page costs what
    the first does, where counting a year's 100,000 sessions, or walking 5,000
    index entries to page 200, is most of the page's SQL.
    """
    ordered = filtered.order_by("-created_at", "-pk")
    try:
        # `get_page` would show the last page for 0 or a negative number; those
        # mean the start.
        number = max(1, int(raw_number or 1))
    except ValueError:
        number = 1
    if not count_scope:
        page = Paginator(ordered.values_list("pk", "revision"), PER_PAGE).get_page(number)
        page.object_list = list(page.object_list)
        return page

    picked: list = []  # the (id, revision) pairs, when the ids are read now

    def pick() -> tuple[int, int, list]:
        paginator = Paginator(ordered.values_list("pk", "revision"), PER_PAGE)
        paginator.count = cached_for_history(count_scope, ordered.count)
        page = paginator.get_page(number)
        picked.extend(page.object_list)
        return paginator.count, page.number, [pk for pk, _ in picked]

    total, number, pks = cached_for_history(f"{count_scope}:ids:{number}", pick)
    if not picked:
        # Through `filtered` still: a list cached before the viewer's permissions
        # changed never shows a session they may no longer see.
        revisions = dict(filtered.filter(pk__in=pks).values_list("pk", "revision"))
        picked = [(pk, revisions[pk]) for pk in pks if pk in revisions]
    paginator = Paginator(ordered.values_list("pk", "revision"), PER_PAGE)
    paginator.count = total
    return Page(picked, number, paginator)


def _load_cards(page: Page) -> None:
    """The page's sessions with their card data, in place of its (id, revision) pairs."""
    # The page's ids are picked first (an index walk), so a card's current step is
    # looked up for its 25 rows only, not for every row skipped before a deep page.
    # Two queries: PostgreSQL plans the two simple statements in a third of the
    # time it takes for one with the ids as a subquery.
    page.object_list = list(
        _with_card_data(Session.objects.filter(pk__in=[pk for pk, _ in page.object_list]))
    )


def _parse_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _history_url(params: QueryDict) -> str:
    query = params.urlencode()
    return reverse("sessions:history") + (f"?{query}" if query else "")


class _Listing:
    """The sessions a history query picks: its page of (id, revision) pairs, and the
    filter form with its lists (loaded only when used: a query without filters needs
    them only to render the page, which a cached page does not)."""

    def __init__(self, request: HtmxHttpRequest, query: QueryDict) -> None:
        read_generations()
        self.user = request.user
        self.query = query
        self.is_manager = self.user.has_perm(VIEW_ALL)
        sessions = Session.objects.visible_to(self.user)
        if HistoryFilterForm.reads(query):
            applied = self.form.applied
            sessions = self.form.filter(sessions)
        else:
            applied = {}
        count_scope = ""
        if not applied:
            count_scope = "count:all" if self.is_manager else f"count:{self.user.pk}"
        self.page = _page(sessions, query.get("page"), count_scope=count_scope)

    @cached_property
    def options(self) -> dict:
        return filter_options(self.user, is_manager=self.is_manager)

    @cached_property
    def form(self) -> HistoryFilterForm:
        return HistoryFilterForm(self.query, **self.options)


def _history_context(
    request: HtmxHttpRequest, query: QueryDict, listing: _Listing | None = None, **close
) -> dict:
    """Everything the history page (or its results region) renders for `query`.

    `listing` is `_Listing(request, query)` when the caller already has it.
    `close` describes a popover shown open without JavaScript (`?close=<uuid>`)
    or after a refused close: `close_id`, `close_form`, `close_error`.
    """
    user = request.user
    listing = listing or _Listing(request, query)
    form, page = listing.form, listing.page
    _load_cards(page)

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
        "show_engineer": listing.is_manager,
        "can_close_any": can_close_any,
        "active_outcomes": [o for o in listing.options["outcomes"] if o.is_active],
        "close_id": close_id,
        "close_on_page": any(s.pk == close_id for s in page.object_list),
        "close_form": close_form,
        "close_error": close.get("close_error", ""),
        "close_problems": close_problems,
    }


@require_GET
@login_required
def history(request: HtmxHttpRequest) -> HttpResponse:
    """`/sessions/`: one's own sessions (managers: everyone's), filtered and paginated.

    A page whose sessions, total and lists have not changed since it was last shown
    comes from the shared cache (sessions.pages)."""
    template = "sessions/history.html"
    if request.htmx.target == RESULTS_ID and not request.htmx.history_restore_request:
        template += "#results"
    listing = _Listing(request, request.GET)
    return cached_page(
        request,
        template=template,
        total=listing.page.paginator.count,
        number=listing.page.number,
        revisions=listing.page.object_list,
        render=lambda extra: render(
            request, template, {**_history_context(request, request.GET, listing), **extra}
        ),
    )


# --- closing ----------------------------------------------------------------------
#
# Two views share one attempt (`_attempt`: the checks, the service call, the
# refusal): `close` for the history popover (the card is swapped in place, or
# the history page is shown again) and `complete` for the navigation page's
# completion dialog (on to the detail page). `close_form` is what a popover
# loads when it opens.


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


@dataclass(frozen=True)
class _Attempt:
    """What came of posting the completion form: the session, and why not when refused."""

    session: Session
    form: CloseForm
    # 200 completed; 409 not active (closed elsewhere, or never started);
    # 422 bad input, nothing changed.
    status: int = 200
    # 409: who closed it, or that it never started; 422: the service's reason, if any.
    message: str = ""

    @property
    def problems(self) -> list[str]:
        """Every reason, in words: the message, then (422) each field's errors."""
        problems = [self.message] if self.message else []
        if self.status == 422:
            problems += [error for errors in self.form.errors.values() for error in errors]
        return problems


def _attempt(request: HtmxHttpRequest, session_id: uuid.UUID, *, source: str) -> _Attempt:
    """Complete the session with the posted outcome, or say why not (nothing changed then)."""
    session = get_session_for_user(request, session_id, for_closing=True)
    form = CloseForm(request.POST)
    # Checked again under the row lock by the service; this only spares an
    # already-closed session a confusing "choose an outcome" error.
    if session.is_active:
        if not form.is_valid():
            return _Attempt(session, form, 422)
        try:
            completed = session_complete(
                session=session,
                outcome=form.cleaned_data["outcome"],
                by=request.user,
                source=source,
                outcome_notes=form.cleaned_data["outcome_notes"],
                next_steps=form.cleaned_data["next_steps"],
            )
        except InvalidInput as error:
            return _Attempt(session, form, 422, error.message)
        except SessionConflict:
            pass
        else:
            return _Attempt(completed, form)
    current = Session.objects.select_related("tree", "outcome", "closed_by").get(pk=session_id)
    return _Attempt(current, form, 409, _refusal(current, request.user))


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
    return display_name(closer)


def _refusal(session: Session, user) -> str:
    """Why a session that is not active cannot be closed."""
    if session.is_completed:
        label = session.outcome.label if session.outcome else "closed"
        return f"Already closed by {_closer_name(session, user)} as {label}."
    return "This session has not been started yet."


def _popover_form(
    request: HtmxHttpRequest,
    session: Session,
    next_url: str,
    *,
    status: int = 200,
    form: CloseForm | None = None,
    error: str = "",
) -> HttpResponse:
    """The close popover's form for one card (htmx only: it fills an open popover).

    Confirm starts disabled until an outcome is chosen (app.js enables it); the
    page rendered without JavaScript never gets here.
    """
    outcomes = list(Outcome.objects.active())
    chosen = form.data.get("outcome") if form is not None else None
    page_params = _query_of(next_url).copy()
    page_params.pop("close", None)
    context = {
        "s": session,
        "active_outcomes": outcomes,
        "history_url": next_url,
        "page_params": page_params,
        "close_form": form,
        "close_error": error,
        "confirm_disabled": not any(o.code == chosen for o in outcomes),
    }
    return render(request, "sessions/_close_popover.html#form", context, status=status)


def _card(
    request: HtmxHttpRequest, session_id: uuid.UUID, next_url: str, *, status: int = 200
) -> HttpResponse:
    """One session's card, fresh from the database, as the history page at `next_url` shows it.

    The caller has already checked that this person may close the session. The
    card takes the focus (`autofocus`, which htmx honours): the button that had
    it went with the old card.
    """
    user = request.user
    session = _with_card_data(Session.objects.filter(pk=session_id)).get()
    page_params = _query_of(next_url).copy()
    page_params.pop("close", None)
    context = {
        "s": session,
        "show_engineer": user.has_perm(VIEW_ALL),
        "can_close_any": user.has_perm(CLOSE_ANY),
        "page_params": page_params,
        "history_url": next_url,
        "focus_card": True,
    }
    return render(request, "sessions/_session_card.html", context, status=status)


def _see_other(url: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(url, status=303)


@require_GET
@login_required
def close_form(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """`GET /sessions/<uuid>/close/form?next=…`: the form a card's close popover loads on opening.

    Loaded afresh each time the popover opens or closes, so it always starts empty.
    """
    session = get_session_for_user(request, session_id, for_closing=True)
    return _popover_form(request, session, _safe_next(request, request.GET.get("next")))


@require_POST
@login_required
def close(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """`POST /sessions/<uuid>/close`: close an active session from the history popover.

    htmx gets the card's completed version and a toast; a plain post goes back
    to the same filtered history page (`next`). Refusals change nothing: 422
    shows the form again with the error (htmx: inside the open popover), 409
    shows the card as it now is.
    """
    attempt = _attempt(request, session_id, source=ClosedFrom.HISTORY)
    next_url = _safe_next(request, request.POST.get("next"))
    if attempt.status == 422:
        return _close_invalid(request, attempt, next_url)
    if attempt.status == 409:
        return _close_refused(request, attempt, next_url)
    label = attempt.session.outcome.label
    if request.htmx:
        response = _card(request, session_id, next_url)
        toast = {"message": f"Session closed as {label}", "level": "success"}
        return trigger_client_event(response, "toast", toast)
    messages.success(request, f"Session closed as {label}.")
    return _see_other(next_url)


def _close_invalid(request: HtmxHttpRequest, attempt: _Attempt, next_url: str) -> HttpResponse:
    """422 from the popover: the form again, with what is wrong."""
    form = attempt.form
    # The popover shows Outcome and Notes errors beside their fields; any
    # other field (next_steps, sent by hand) is explained above them.
    others = [
        error
        for name, errors in form.errors.items()
        if name not in ("outcome", "outcome_notes")
        for error in errors
    ]
    error = " ".join([attempt.message, *others]).strip()
    session = attempt.session
    if request.htmx:
        response = _popover_form(request, session, next_url, status=422, form=form, error=error)
        # The popover stays open: only its form is replaced, not the card.
        response = retarget(response, f"#close-popover-{session.pk}-body")
        return reswap(response, "innerHTML")
    close = {"close_id": session.pk, "close_form": form, "close_error": error}
    context = _history_context(request, _query_of(next_url), **close)
    return render(request, "sessions/history.html", context, status=422)


def _close_refused(request: HtmxHttpRequest, attempt: _Attempt, next_url: str) -> HttpResponse:
    """409 from the popover: the card as it now is, and why."""
    session = attempt.session
    if request.htmx:
        response = _card(request, session.pk, next_url, status=409)
        level = "warning" if session.is_completed else "error"
        return trigger_client_event(response, "toast", {"message": attempt.message, "level": level})
    level_code = messages.WARNING if session.is_completed else messages.ERROR
    messages.add_message(request, level_code, attempt.message)
    context = _history_context(request, _query_of(next_url))
    return render(request, "sessions/history.html", context, status=409)


@require_POST
@login_required
def complete(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """`POST /sessions/<uuid>/complete`: complete from the navigation page's dialog.

    On to the detail page. A refusal (422 bad input, 409 not active) changes
    nothing and says why: htmx gets the message for the dialog, a plain post a
    page with the way back.
    """
    attempt = _attempt(request, session_id, source=ClosedFrom.NAVIGATION)
    if attempt.status != 200:
        template = "sessions/complete_error.html"
        if request.htmx:
            template += "#problems"
        context = {"session": attempt.session, "problems": attempt.problems}
        return render(request, template, context, status=attempt.status)
    messages.success(request, f"Session completed as {attempt.session.outcome.label}.")
    detail = reverse("sessions:detail", args=[session_id])
    if request.htmx:
        return HttpResponseClientRedirect(detail)
    return _see_other(detail)
