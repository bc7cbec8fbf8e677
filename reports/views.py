"""Manager reports (SPEC §6): the overview, the tree drill-down and the CSV tables.

Managers only (`flow_sessions.view_reports`); anyone else signed in gets a 403
page that says why. Every figure comes from `reports.metrics`; the views load
the filter options, resolve the filters and lay the rows out. The overview runs
a fixed number of queries whatever the amount of data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import content_disposition_header, urlencode
from django.views.decorators.http import require_GET

from reports import metrics, shading
from reports.charts import SERIES, daily_chart, outcome_chart
from reports.exports import TABLES, render_csv
from reports.forms import PRESETS, ReportFilterForm, Resolved
from reports.metrics import local_today
from reports.presentation import fmt_period, kpi_tiles
from resolutionflow.http import HtmxHttpRequest
from resolutionflow.replica import reads_from_replica
from resolutionflow.users import display_name
from sessions.filters import EARLIEST, LATEST
from sessions.models import Session
from trees import diagram
from trees.models import Tree
from trees.services import version_graph

REPORTS_PERMISSION = "flow_sessions.view_reports"

# Column headers of the trees table: (sort key, label, numeric?).
TREE_COLUMNS = (
    ("name", "Tree", False),
    ("sessions", "Sessions", True),
    ("completed", "Completed", True),
    ("resolution_rate", "Resolution rate", True),
    ("escalation_rate", "Escalation rate", True),
    ("median_duration_seconds", "Median duration", True),
    ("median_steps", "Median steps", True),
    ("dropoff_rate", "Drop-off rate", True),
)
DEFAULT_SORT = "-sessions"


def reports_access(view: Callable) -> Callable:
    """Managers through; everyone else signed in gets a 403 page that explains."""

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.has_perm(REPORTS_PERMISSION):
            return render(request, "reports/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


# --- options and links ---------------------------------------------------------------


def _tree_options() -> list[Tree]:
    return list(Tree.objects.order_by("name", "slug").only("pk", "slug", "name"))


def _engineer_options() -> list:
    """Everyone in the Engineers group, and anyone else who has run a session."""
    User = get_user_model()
    memberships = User.groups.through.objects.filter(user=OuterRef("pk"), group__name="Engineers")
    ran = Session.objects.filter(engineer=OuterRef("pk"), started_at__isnull=False)
    return list(
        User.objects.filter(Exists(memberships) | Exists(ran)).order_by(User.USERNAME_FIELD)
    )


def _url(name: str, query: dict, *args) -> str:
    return _with_query(reverse(name, args=args), query)


def _with_query(url: str, query: dict) -> str:
    return f"{url}?{urlencode(query)}" if query else url


def _presets(resolved: Resolved, name: str, *args, **changes) -> list[dict]:
    """The 7/30/90-day links, keeping the other filters (`changes` as in Resolved.query)."""
    today = local_today()
    report_filter = resolved.filter
    presets = []
    for days in PRESETS:
        start = today - timedelta(days=days - 1)
        query = resolved.query(**changes) | {"from": start.isoformat(), "to": today.isoformat()}
        presets.append(
            {
                "days": days,
                "url": _url(name, query, *args),
                "current": (report_filter.date_from, report_filter.date_to) == (start, today),
            }
        )
    return presets


def _filters_context(
    resolved: Resolved,
    *,
    action: str,
    trees: list[Tree] | None,
    engineers: list,
    versions: list[int] | None = None,
) -> dict:
    report_filter = resolved.filter
    return {
        "action": action,
        "earliest": EARLIEST.isoformat(),
        "latest": LATEST.isoformat(),
        "from": report_filter.date_from.isoformat(),
        "to": report_filter.date_to.isoformat(),
        # None: the page has no tree choice (the drill-down is one tree's).
        "tree_choices": None if trees is None else [(tree.slug, tree.name) for tree in trees],
        "tree": report_filter.tree.slug if report_filter.tree else "",
        "engineer_choices": [(person.get_username(), display_name(person)) for person in engineers],
        "engineer": report_filter.engineer.get_username() if report_filter.engineer else "",
        "versions": versions,
        "version": report_filter.version,
        "sort": resolved.sort,
    }


def _respond(request: HtmxHttpRequest, template: str, context: dict) -> HttpResponse:
    """The page, or only its `report` region for an htmx request."""
    partial = request.htmx and not request.htmx.history_restore_request
    response = render(request, f"{template}#report" if partial else template, context)
    # The same address answers with a page or a fragment: caches must tell them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- pages ------------------------------------------------------------------------------


@require_GET
@login_required
@reports_access
@reads_from_replica
def overview(request: HtmxHttpRequest) -> HttpResponse:
    trees, engineers = _tree_options(), _engineer_options()
    resolved = ReportFilterForm(request.GET, trees=trees, engineers=engineers).resolve()
    report_filter = resolved.filter
    sort = resolved.sort or DEFAULT_SORT

    current, previous = metrics.summaries([report_filter, report_filter.previous()])
    days = metrics.daily_series(report_filter)
    outcome_rows = metrics.outcomes(report_filter)
    query = resolved.query()
    row_query = resolved.query(tree=None, sort=None)
    tree_rows = [
        {"row": row, "url": _url("reports:tree", row_query, row.tree)}
        for row in metrics.trees(report_filter, sort=sort)
    ]
    history_query = resolved.query(sort=None)
    history = reverse("sessions:history")  # once, not per engineer: reverse() is not cheap
    engineer_rows = [
        {
            "row": row,
            "url": _with_query(history, history_query | {"engineer": row.engineer}),
        }
        for row in metrics.engineers(report_filter)
    ]
    context = {
        "resolved": resolved,
        "report_filter": report_filter,
        "period": fmt_period(report_filter.date_from, report_filter.date_to),
        "previous_period": fmt_period(
            report_filter.previous().date_from, report_filter.previous().date_to
        ),
        "filters": _filters_context(
            resolved, action=reverse("reports:overview"), trees=trees, engineers=engineers
        ),
        "presets": _presets(resolved, "reports:overview"),
        "summary": current,
        "kpis": kpi_tiles(current, previous),
        "daily": days,
        "daily_chart": daily_chart(days),
        "series": SERIES,
        "outcome_rows": outcome_rows,
        "outcome_chart": outcome_chart(outcome_rows),
        "tree_rows": tree_rows,
        "tree_columns": _sort_columns(resolved, sort),
        "engineer_rows": engineer_rows,
        "csv": {table: _url("reports:csv", query, table) for table in TABLES if table != "nodes"},
    }
    return _respond(request, "reports/overview.html", context)


def _sort_columns(resolved: Resolved, sort: str) -> list[dict]:
    """Header links: a click sorts by that column, a second click reverses it."""
    current = sort.lstrip("-")
    descending = sort.startswith("-")
    columns = []
    for key, label, numeric in TREE_COLUMNS:
        if key == current:
            next_sort = key if descending else f"-{key}"
            aria_sort = "descending" if descending else "ascending"
        else:
            # Figures read best largest first, names A to Z.
            next_sort = f"-{key}" if numeric else key
            aria_sort = ""
        columns.append(
            {
                "key": key,
                "label": label,
                "numeric": numeric,
                "aria_sort": aria_sort,
                "url": _url("reports:overview", resolved.query(sort=next_sort)),
            }
        )
    return columns


@require_GET
@login_required
@reports_access
@reads_from_replica
def tree_report(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    tree = get_object_or_404(Tree, slug=slug)
    versions = list(tree.versions.order_by("number").values_list("number", flat=True))
    engineers = _engineer_options()
    form = ReportFilterForm(request.GET, trees=[tree], engineers=engineers, versions=versions)
    resolved = form.resolve(tree=tree)
    report_filter = resolved.filter
    node_rows = metrics.nodes(report_filter)
    [tree_row] = metrics.trees(report_filter) or [None]
    summary = metrics.summary(report_filter)
    page_query = resolved.query(tree=None, sort=None)
    figure = shading.figure_of(request.GET.get("shade"))
    context = {
        **_shaded_diagram(tree, report_filter.version, node_rows, figure),
        "shade_query": page_query,
        "tree": tree,
        "resolved": resolved,
        "report_filter": report_filter,
        "period": fmt_period(report_filter.date_from, report_filter.date_to),
        "filters": _filters_context(
            resolved,
            action=reverse("reports:tree", args=[tree.slug]),
            trees=None,
            engineers=engineers,
            versions=versions,
        ),
        "presets": _presets(resolved, "reports:tree", tree.slug, tree=None, sort=None),
        "tree_row": tree_row,
        "summary": summary,
        "node_rows": node_rows,
        "slowest": [row for row in node_rows if row.is_slowest],
        "most_abandoned": [row for row in node_rows if row.is_most_abandoned],
        "finding_min_visits": metrics.FINDING_MIN_VISITS,
        "overview_url": _url("reports:overview", resolved.query(tree=None, version=None)),
        "csv_url": _url("reports:csv", page_query | {"tree": tree.slug}, "nodes"),
    }
    return _respond(request, "reports/tree.html", context)


def _shaded_diagram(tree: Tree, number: int | None, node_rows, figure: str) -> dict:
    """The drill-down's diagram: the version filtered on, else the published one (else the
    latest), each node shaded by `figure`."""
    versions = tree.versions.order_by("-number")
    version = (
        versions.filter(number=number).first()
        if number
        else (tree.published_version or versions.first())
    )
    if version is None:
        return {"diagram": None}
    shades, legend = shading.node_shades(node_rows, figure)
    graph = version_graph(version)
    svg = diagram.render(
        graph,
        shades=shades,
        label=f"Diagram of version {version.number}, each step shaded by "
        f"{shading.FIGURES[figure][0].lower()}; the steps table below has the same figures",
        zoom=70,
        id_prefix="r",
    )
    return {
        "diagram": svg,
        "diagram_version": version,
        "shade_figure": figure,
        "shade_figures": [(key, spec[0]) for key, spec in shading.FIGURES.items()],
        "shade_legend": legend,
    }


@require_GET
@login_required
@reports_access
@reads_from_replica
def csv_table(request: HtmxHttpRequest, table: str) -> HttpResponse:
    """`/reports/<table>.csv` with the page's filters. Filters that cannot be used are
    a 400 with the reasons: a download must not quietly cover something else."""
    spec = TABLES.get(table)
    if spec is None:
        raise Http404("No such report table.")
    trees, engineers = _tree_options(), _engineer_options()
    tree = next((t for t in trees if t.slug == request.GET.get("tree")), None)
    versions = list(tree.versions.values_list("number", flat=True)) if tree else None
    form = ReportFilterForm(request.GET, trees=trees, engineers=engineers, versions=versions)
    resolved = form.resolve()
    if resolved.ignored:
        return _bad_request("\n".join(resolved.ignored))
    report_filter = resolved.filter
    if spec.needs_tree and report_filter.tree is None:
        return _bad_request(
            f"The {table} table is per tree: add tree=<slug> to the address, "
            f"e.g. {reverse('reports:csv', args=[table])}?tree={trees[0].slug if trees else 'vpn'}"
        )
    body = render_csv(spec, report_filter, {"sort": resolved.sort})
    parts = ["resolutionflow", table]
    if report_filter.tree is not None:
        parts.append(report_filter.tree.slug)
    if report_filter.engineer is not None:
        parts.append(report_filter.engineer.get_username())
    parts += [report_filter.date_from.isoformat(), "to", report_filter.date_to.isoformat()]
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"{'-'.join(parts)}.csv")
    return response


def _bad_request(message: str) -> HttpResponse:
    return HttpResponseBadRequest(message + "\n", content_type="text/plain; charset=utf-8")
