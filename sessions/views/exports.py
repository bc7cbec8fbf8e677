"""Exports (SPEC §5): a session as ticket notes, and the managers' CSV downloads.

`export` serves one session in one format. An htmx request (the Export panel
on the detail page switching format or detail level) gets the panel back with
that preview instead of the raw file, so the page never swaps a raw document
into its DOM.

`history_csv` and `steps_csv` stream the history page's current filter as
CSV, a row at a time from a server-side iterator, so a hundred thousand rows
never sit in memory together.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from resolutionflow import clock
from resolutionflow.http import HtmxHttpRequest
from resolutionflow.replica import reads_from_replica
from sessions import exports
from sessions.filters import HistoryFilterForm, filter_options
from sessions.models import Decision, Session
from sessions.views.common import get_session_for_user

CSV_CHUNK_SIZE = 2000


class ExportOptionsForm(forms.Form):
    """`?detail=standard|full&upto=N`; both optional."""

    detail = forms.ChoiceField(
        choices=[(d, d) for d in exports.DETAILS],
        required=False,
        error_messages={"invalid_choice": "detail must be “standard” or “full”."},
    )
    upto = forms.IntegerField(
        min_value=1,
        required=False,
        error_messages={
            "invalid": "upto must be a positive whole number of steps.",
            "min_value": "upto must be a positive whole number of steps.",
        },
    )
    download = forms.CharField(required=False)

    def clean_detail(self) -> str:
        return self.cleaned_data["detail"] or "standard"

    def clean_download(self) -> bool:
        return self.cleaned_data["download"].lower() in {"1", "true", "yes", "on"}


def _bad_request(form: forms.Form) -> HttpResponseBadRequest:
    messages = [message for errors in form.errors.values() for message in errors]
    return HttpResponseBadRequest(
        "\n".join(messages) + "\n", content_type="text/plain; charset=utf-8"
    )


@require_GET
@login_required
def export(request: HtmxHttpRequest, session_id: uuid.UUID, fmt: str) -> HttpResponse:
    session = get_session_for_user(request, session_id)
    if fmt not in exports.EXPORT_FORMATS:
        raise Http404("No such export format.")
    form = ExportOptionsForm(request.GET)
    if not form.is_valid():
        return _bad_request(form)
    detail, upto = form.cleaned_data["detail"], form.cleaned_data["upto"]
    data = exports.export_data(session, detail=detail, upto=upto)
    if request.htmx:
        context = export_panel_context(session, data=data, fmt=fmt)
        response = render(request, "sessions/_export_panel.html#panel", context)
    else:
        output = exports.EXPORT_FORMATS[fmt]
        response = HttpResponse(output.render(data), content_type=output.content_type)
        if form.cleaned_data["download"]:
            response["Content-Disposition"] = content_disposition_header(
                True, exports.filename(data, fmt)
            )
    # Ticket notes change as the session moves on: never serve a stale copy,
    # and never the panel fragment for the document or the other way round.
    response["Cache-Control"] = "private, no-store"
    patch_vary_headers(response, ["HX-Request"])
    return response


def export_panel_context(
    session: Session,
    *,
    data: exports.ExportData | None = None,
    fmt: str = "psa",
    pauses=None,
) -> dict:
    """What the Export panel shows: the picker, the preview and the text to copy.

    By default the PSA note at standard detail, as the detail page first shows
    it; the export view passes the format and detail picked over htmx.

    `Copy for ticket` copies the Markdown when Markdown is picked and the PSA
    note otherwise, at the picked detail level.
    """
    if data is None:
        data = exports.export_data(session, with_changes=fmt == "json", pauses=pauses)
    copy_fmt = "markdown" if fmt == "markdown" else "psa"
    preview = exports.render(data, fmt)
    return {
        "session": session,
        "export_panel": {
            "fmt": fmt,
            "detail": data.detail,
            "upto": data.upto,
            "formats": list(exports.EXPORT_FORMATS.values()),
            "details": [("standard", "Standard"), ("full", "Full")],
            "label": exports.EXPORT_FORMATS[fmt].label,
            "preview": preview,
            "copy_label": exports.EXPORT_FORMATS[copy_fmt].label,
            # The preview is the text to copy for PSA and Markdown: not rendered twice.
            "copy_text": preview if copy_fmt == fmt else exports.render(data, copy_fmt),
            "filename": exports.filename(data, fmt),
        },
    }


# --- managers' CSV downloads ---------------------------------------------------

HISTORY_COLUMNS = (
    "id",
    "engineer",
    "tree",
    "version",
    "ticket",
    "client",
    "status",
    "outcome",
    "started",
    "completed",
    "duration_seconds",
    "active_seconds",
    "steps",
)
STEPS_COLUMNS = (
    "session_id",
    "seq",
    "node_key",
    "node_kind",
    "title",
    "answer",
    "notes",
    "entered_at",
    "exited_at",
    "duration_seconds",
    "active_seconds",
    "engineer",
    "exit",
    "undone",
)


def _filtered_sessions(request: HtmxHttpRequest) -> QuerySet[Session]:
    """The sessions the history page lists for this query string, all pages of them.

    The same form and options as the page itself, so the download always
    matches what the manager sees; values the page ignores are ignored here.
    """
    options = filter_options(request.user, is_manager=True)
    form = HistoryFilterForm(request.GET, **options)
    return form.filter(Session.objects.visible_to(request.user))


def _streamed_csv(rows: Iterator, name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, name)
    response["Cache-Control"] = "private, no-store"
    return response


def _history_rows(sessions: QuerySet[Session]) -> Iterator[list]:
    yield list(HISTORY_COLUMNS)
    rows = sessions.order_by("-created_at", "pk").values_list(
        "pk",
        "engineer__username",
        "tree__slug",
        "version__number",
        "ticket_ref",
        "client",
        "started_at",
        "completed_at",
        "outcome__code",
        "duration_seconds",
        "active_seconds",
        "step_count",
    )
    for (
        pk,
        engineer,
        tree,
        version,
        ticket,
        client,
        started,
        completed,
        outcome,
        duration,
        active,
        steps,
    ) in rows.iterator(chunk_size=CSV_CHUNK_SIZE):
        yield [
            pk,
            engineer,
            tree,
            version,
            ticket,
            client,
            Session.status_of(started, completed),
            outcome or "",
            started,
            completed,
            duration,
            active,
            steps,
        ]


def _step_rows(sessions: QuerySet[Session]) -> Iterator[list]:
    yield list(STEPS_COLUMNS)
    rows = (
        Decision.objects.filter(session__in=sessions.order_by().values("pk"))
        .order_by("-session__created_at", "session_id", "seq")
        .values_list("session_id", *exports.STEP_FIELDS)
    )
    yield from rows.iterator(chunk_size=CSV_CHUNK_SIZE)


def _csv_name(kind: str) -> str:
    return f"resolutionflow-{kind}-{clock.now():%Y%m%d-%H%M}.csv"


@require_GET
@login_required
@permission_required("flow_sessions.view_all_sessions", raise_exception=True)
@reads_from_replica
def history_csv(request: HtmxHttpRequest) -> HttpResponse:
    """The history page's current filter, a row per session."""
    sessions = _filtered_sessions(request)
    return _streamed_csv(exports.csv_rows(_history_rows(sessions)), _csv_name("sessions"))


@require_GET
@login_required
@permission_required("flow_sessions.view_all_sessions", raise_exception=True)
@reads_from_replica
def steps_csv(request: HtmxHttpRequest) -> HttpResponse:
    """Every step record of the sessions in the history page's current filter."""
    sessions = _filtered_sessions(request)
    return _streamed_csv(exports.csv_rows(_step_rows(sessions)), _csv_name("steps"))
