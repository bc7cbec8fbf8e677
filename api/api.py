"""The REST API under /api/v1/ (SPEC §11), built with django-ninja.

Endpoints are thin: each reads through the same querysets, forms and
services as the pages — `Session.objects.visible_to` and the history's
`HistoryFilterForm` for the session list, `sessions.exports.json_document`
for one session, `sessions.services.session_create` to start one, and
`reports.metrics` with the reports' `ReportFilterForm` for the tables — so
the API can never see, do or count something the pages would not.

Every error is JSON `{"detail": …}`: 400 bad filters, 401 no or bad token,
403 a permission the caller lacks or a failed CSRF check, 404 nothing there
(another engineer's session included), 405, 409, 422 bad body, 429 rate
limit (with `Retry-After`), 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.urls import reverse
from ninja import NinjaAPI, Query, Router, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import Field

from api import schemas
from api.auth import CsrfFailed, RateLimited, SessionCsrfAuth, TokenAuth
from reports import metrics
from reports.forms import ReportFilterForm
from sessions import services
from sessions.exports import export_data, json_document
from sessions.filters import HistoryFilterForm, filter_options
from sessions.forms import StartForm
from sessions.models import Session
from sessions.services import InvalidInput, SessionCompleted
from trees.models import Tree, TreeVersion
from trees.services import tree_export
from trees.validation import is_slug

logger = logging.getLogger(__name__)

VIEW_ALL = "flow_sessions.view_all_sessions"
VIEW_REPORTS = "flow_sessions.view_reports"
PAGE_DEFAULT, PAGE_MAX = 25, 100

api = NinjaAPI(
    title="ResolutionFlow API",
    version="1",
    description=(
        "Trees, sessions and reports of ResolutionFlow. Authenticate with a personal "
        "access token from your profile page: `Authorization: Bearer rf_…`. A token acts "
        'with its owner\'s permissions. Errors are JSON `{"detail": …}`.'
    ),
    urls_namespace="api",
    auth=[TokenAuth(), SessionCsrfAuth()],
    docs_url="/docs",
    openapi_url="/openapi.json",
)


# --- errors ----------------------------------------------------------------------------


def _error(request: HttpRequest, status: int, detail: Any, **headers: str) -> HttpResponse:
    response = api.create_response(request, {"detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return _error(
        request,
        401,
        "Authentication required: send a valid personal access token as "
        "“Authorization: Bearer <token>” (tokens are made on your profile page).",
        WWW_Authenticate='Bearer realm="api"',
    )


@api.exception_handler(RateLimited)
def _rate_limited(request, exc: RateLimited):
    return _error(
        request,
        429,
        f"Too many requests: try again in {exc.retry_after} seconds.",
        Retry_After=str(exc.retry_after),
    )


@api.exception_handler(CsrfFailed)
def _csrf_failed(request, exc: CsrfFailed):
    return _error(
        request,
        403,
        f"CSRF check failed ({exc.reason}): a write with the session cookie needs the "
        "X-CSRFToken header. Integrations should use a token instead.",
    )


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, 404, str(exc) if str(exc) else "Not found.")


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(NinjaValidationError)
def _invalid(request, exc: NinjaValidationError):
    return _error(request, 422, exc.errors)


@api.exception_handler(SuspiciousOperation)
def _suspicious(request, exc):
    # A body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields, …: Django's 400.
    logging.getLogger("django.security").warning("API request refused: %s", type(exc).__name__)
    return _error(request, 400, "The request was refused: it is too large or malformed.")


@api.exception_handler(Exception)
def _server_error(request, exc):
    logger.exception("API request failed: %s %s", request.method, request.path)
    return _error(request, 500, "Something went wrong on our side; it has been logged.")


# Every operation may answer these (documented in the schema).
COMMON = {401: schemas.Error, 429: schemas.Error}
BAD_QUERY = {400: schemas.Error, 422: schemas.ValidationErrors}


# --- trees -----------------------------------------------------------------------------

trees_router = Router(tags=["trees"])


def _published_trees():
    return (
        Tree.objects.published()
        .prefetch_related(
            "tags",
            Prefetch(
                "versions",
                queryset=TreeVersion.objects.filter(status=TreeVersion.Status.PUBLISHED),
                to_attr="_published_versions",
            ),
        )
        .order_by("name", "slug")
    )


def _tree_summary(tree: Tree) -> dict[str, Any]:
    version = tree.published_version
    return {
        "slug": tree.slug,
        "name": tree.name,
        "description": tree.description,
        "category": tree.category,
        "tags": sorted(tag.name for tag in tree.tags.all()),
        "baseline_minutes": tree.baseline_minutes,
        "version": version.number,
        "published_at": version.published_at,
        "url": tree.get_absolute_url(),
    }


@trees_router.get(
    "", response={200: schemas.TreeList, **COMMON}, url_name="trees", summary="Published trees"
)
def list_trees(request):
    """Every tree engineers can run (not archived, with a published version), by name."""
    return {"items": [_tree_summary(tree) for tree in _published_trees()]}


@trees_router.get(
    "/{slug}",
    response={200: schemas.TreeDetail, 404: schemas.Error, **COMMON},
    url_name="tree",
    summary="One tree with its published version",
)
def get_tree(request, slug: str):
    """The tree and its published version as the interchange document (SPEC §2.1)."""
    tree = _published_trees().filter(slug=slug).first() if is_slug(slug) else None
    if tree is None:
        raise Http404("No published tree with that slug.")
    summary = _tree_summary(tree)
    summary["document"] = json.loads(tree_export(version=tree.published_version))
    return summary


# --- sessions --------------------------------------------------------------------------

sessions_router = Router(tags=["sessions"])


class SessionFilters(schemas.Schema):
    """The history page's filters, with its values and rules (SPEC §4)."""

    q: str | None = Field(None, description="Text in the ticket, client or summary.")
    status: str | None = Field(None, description="prepared, active or completed.")
    outcome: str | None = Field(None, description="An outcome code, e.g. resolved.")
    tree: str | None = Field(None, description="A tree's slug.")
    engineer: str | None = Field(None, description="A username (managers only).")
    from_: str | None = Field(None, alias="from", description="Started on or after, YYYY-MM-DD.")
    to: str | None = Field(None, description="Started on or before, YYYY-MM-DD.")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")
    limit: int = Field(PAGE_DEFAULT, ge=1, le=PAGE_MAX, description="Sessions per page.")


def _encode_cursor(session: Session) -> str:
    raw = json.dumps([session.created_at.isoformat(), str(session.pk)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, pk = json.loads(raw)
        return datetime.fromisoformat(created), uuid.UUID(pk)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise HttpError(
            400, "The cursor is not one this API gave out: start again without it."
        ) from None


def _session_item(session: Session) -> dict[str, Any]:
    outcome = session.outcome
    return {
        "id": session.pk,
        "url": reverse("api:session", args=[session.pk]),
        "tree": {
            "slug": session.tree.slug,
            "name": session.tree.name,
            "version": session.version.number,
        },
        "engineer": session.engineer.get_username(),
        "ticket_ref": session.ticket_ref,
        "client": session.client,
        "summary": session.summary,
        "status": str(session.status),
        "created_at": session.created_at,
        "started_at": session.started_at,
        "completed_at": session.completed_at,
        "duration_seconds": session.duration_seconds,
        "active_seconds": session.active_seconds,
        "outcome": (
            {"code": outcome.code, "label": outcome.label, "kind": outcome.kind}
            if outcome
            else None
        ),
    }


@sessions_router.get(
    "",
    response={200: schemas.SessionPage, **BAD_QUERY, **COMMON},
    url_name="sessions",
    summary="Sessions, filtered, newest first",
)
def list_sessions(request, filters: Query[SessionFilters]):
    """Your sessions (managers: everyone's), newest first, with the history's filters.

    Cursor pagination: follow `next_cursor` until it is null. A filter value
    that cannot be used is a 400 that says why (the page would drop it; an
    integration must not quietly get something else).
    """
    user = request.user
    options = filter_options(user, is_manager=user.has_perm(VIEW_ALL))
    query = QueryDict(mutable=True)
    for name in ("q", "status", "outcome", "tree", "engineer", "from", "to"):
        if name in request.GET:
            query[name] = request.GET[name]
    if "engineer" in query and options["engineers"] is None:
        raise HttpError(400, "Engineer filter: only managers see other engineers' sessions.")
    form = HistoryFilterForm(query, **options)
    if form.ignored:
        raise HttpError(400, " ".join(form.ignored))
    sessions = form.filter(Session.objects.visible_to(user))
    if filters.cursor:
        created, pk = _decode_cursor(filters.cursor)
        sessions = sessions.filter(Q(created_at__lt=created) | Q(created_at=created, pk__lt=pk))
    page = list(
        sessions.select_related("tree", "version", "engineer", "outcome").order_by(
            "-created_at", "-pk"
        )[: filters.limit + 1]
    )
    more = len(page) > filters.limit
    page = page[: filters.limit]
    return {
        "items": [_session_item(s) for s in page],
        "next_cursor": _encode_cursor(page[-1]) if more else None,
    }


def _visible_session(request, session_id: uuid.UUID) -> Session:
    """Through the history's visibility queryset: another engineer's session is a 404."""
    session = (
        Session.objects.visible_to(request.user)
        .select_related("tree", "version", "engineer", "outcome")
        .filter(pk=session_id)
        .first()
    )
    if session is None:
        raise Http404("No such session.")
    return session


@sessions_router.get(
    "/{uuid:session_id}",
    response={200: schemas.SessionDocument, 404: schemas.Error, **BAD_QUERY, **COMMON},
    url_name="session",
    summary="One session as the §5 JSON document",
    by_alias=True,  # a hand-off's `from` (a Python keyword) is `from_` in the schema class
)
def get_session(request, session_id: uuid.UUID, detail: str = "standard"):
    """The session's `resolutionflow/session@1` document (`detail=full` adds backtracked
    steps)."""
    if detail not in ("standard", "full"):
        raise HttpError(400, "detail must be standard or full.")
    session = _visible_session(request, session_id)
    return json_document(export_data(session, detail=detail))


@sessions_router.post(
    "",
    response={
        200: schemas.SessionDocument,
        201: schemas.SessionDocument,
        403: schemas.Error,
        404: schemas.Error,
        409: schemas.Error,
        **BAD_QUERY,
        **COMMON,
    },
    url_name="sessions",
    summary="Start a session",
)
def start_session(request, payload: schemas.SessionStart):
    """Start a session on a published tree now, for yourself (the tree page's Start form).

    201 with the new session's document; 200 if `session_id` names a session
    this request already started; 409 if that session is completed.
    """
    tree = (
        Tree.objects.published().filter(slug=payload.tree).first()
        if is_slug(payload.tree)
        else None
    )
    if tree is None:
        raise Http404("No published tree with that slug.")
    data = payload.dict()
    data["session_id"] = str(payload.session_id or uuid.uuid4())
    form = StartForm(data)
    if not form.is_valid():
        problems = [f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()]
        raise HttpError(422, " ".join(problems))
    cleaned = form.cleaned_data
    existed = Session.objects.filter(pk=cleaned["session_id"]).exists()
    try:
        session = services.session_create(
            tree=tree,
            engineer=request.user,
            ticket_ref=cleaned["ticket_ref"],
            client=cleaned["client"],
            summary=cleaned["summary"],
            session_id=cleaned["session_id"],
        )
    except SessionCompleted:
        raise HttpError(
            409, "That session_id belongs to a session that is already completed."
        ) from None
    except InvalidInput as exc:
        raise HttpError(409 if existed else 422, exc.message) from None
    session = _visible_session(request, session.pk)
    return Status(200 if existed else 201, json_document(export_data(session)))


# --- reports ---------------------------------------------------------------------------

reports_router = Router(tags=["reports"])


class ReportQuery(schemas.Schema):
    """The reports' filters (SPEC §6); dates default to the last 30 days."""

    from_: str | None = Field(None, alias="from", description="First day, YYYY-MM-DD.")
    to: str | None = Field(None, description="Last day, YYYY-MM-DD (inclusive).")
    tree: str | None = Field(None, description="A tree's slug (required for nodes).")
    engineer: str | None = Field(None, description="An engineer's username.")


def _report_filter(request, *, needs_tree: bool = False) -> metrics.ReportFilter:
    if not request.user.has_perm(VIEW_REPORTS):
        raise HttpError(403, "Reports are for managers (the view_reports permission).")
    User = get_user_model()
    trees = list(Tree.objects.order_by("name", "slug").only("pk", "slug", "name"))
    memberships = User.groups.through.objects.filter(user=OuterRef("pk"), group__name="Engineers")
    ran = Session.objects.filter(engineer=OuterRef("pk"), started_at__isnull=False)
    engineers = list(
        User.objects.filter(Exists(memberships) | Exists(ran)).order_by(User.USERNAME_FIELD)
    )
    query = QueryDict(mutable=True)
    for name in ("from", "to", "tree", "engineer"):
        if name in request.GET:
            query[name] = request.GET[name]
    resolved = ReportFilterForm(query, trees=trees, engineers=engineers).resolve()
    if resolved.ignored:
        raise HttpError(400, " ".join(resolved.ignored))
    if needs_tree and resolved.filter.tree is None:
        raise HttpError(400, "The nodes table is per tree: add tree=<slug>.")
    return resolved.filter


def _filters(report_filter: metrics.ReportFilter) -> dict[str, Any]:
    return {
        "from": report_filter.date_from,
        "to": report_filter.date_to,
        "tree": report_filter.tree.slug if report_filter.tree else None,
        "engineer": report_filter.engineer.get_username() if report_filter.engineer else None,
    }


def _rows(rows, schema) -> list[dict[str, Any]]:
    names = schema.model_fields
    return [{name: getattr(row, name) for name in names} for row in rows]


REPORT_ERRORS = {403: schemas.Error, **BAD_QUERY, **COMMON}


@reports_router.get(
    "/summary",
    by_alias=True,
    response={200: schemas.SummaryReport, **REPORT_ERRORS},
    url_name="report-summary",
)
def report_summary(request, filters: Query[ReportQuery]):
    """Sessions started, completed and active; rates, durations, time saved."""
    report_filter = _report_filter(request)
    [row] = _rows([metrics.summary(report_filter)], schemas.SummaryRow)
    return {"filters": _filters(report_filter), "row": row}


@reports_router.get(
    "/trees",
    by_alias=True,
    response={200: schemas.TreesReport, **REPORT_ERRORS},
    url_name="report-trees",
)
def report_trees(request, filters: Query[ReportQuery]):
    """One row per tree, most sessions first."""
    report_filter = _report_filter(request)
    rows = metrics.trees(report_filter, sort="-sessions")
    return {"filters": _filters(report_filter), "rows": _rows(rows, schemas.TreeRow)}


@reports_router.get(
    "/nodes",
    by_alias=True,
    response={200: schemas.NodesReport, **REPORT_ERRORS},
    url_name="report-nodes",
)
def report_nodes(request, filters: Query[ReportQuery]):
    """One row per node of a tree (needs `tree`), by node key across versions."""
    report_filter = _report_filter(request, needs_tree=True)
    rows = []
    for row in metrics.nodes(report_filter):
        item = {
            name: getattr(row, name)
            for name in schemas.NodeRow.model_fields
            if name != "choice_shares"
        }
        item["choice_shares"] = [
            {"label": c.label, "answers": c.answers, "share": c.share} for c in row.choice_shares
        ]
        rows.append(item)
    return {"filters": _filters(report_filter), "rows": rows}


@reports_router.get(
    "/engineers",
    by_alias=True,
    response={200: schemas.EngineersReport, **REPORT_ERRORS},
    url_name="report-engineers",
)
def report_engineers(request, filters: Query[ReportQuery]):
    """One row per engineer."""
    report_filter = _report_filter(request)
    rows = metrics.engineers(report_filter)
    return {"filters": _filters(report_filter), "rows": _rows(rows, schemas.EngineerRow)}


@reports_router.get(
    "/daily",
    by_alias=True,
    response={200: schemas.DailyReport, **REPORT_ERRORS},
    url_name="report-daily",
)
def report_daily(request, filters: Query[ReportQuery]):
    """Sessions per day by outcome kind, every day of the range."""
    report_filter = _report_filter(request)
    rows = metrics.daily_series(report_filter)
    return {"filters": _filters(report_filter), "rows": _rows(rows, schemas.DayRow)}


@reports_router.get(
    "/outcomes",
    by_alias=True,
    response={200: schemas.OutcomesReport, **REPORT_ERRORS},
    url_name="report-outcomes",
)
def report_outcomes(request, filters: Query[ReportQuery]):
    """Completed sessions per outcome, with their share."""
    report_filter = _report_filter(request)
    rows = metrics.outcomes(report_filter)
    return {"filters": _filters(report_filter), "rows": _rows(rows, schemas.OutcomeRow)}


api.add_router("/trees", trees_router)
api.add_router("/sessions", sessions_router)
api.add_router("/reports", reports_router)
