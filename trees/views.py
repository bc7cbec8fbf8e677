"""Engineer pages: the tree library and a tree's page (SPEC §4)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from resolutionflow.http import HtmxHttpRequest
from trees import diagram
from trees.forms import LibraryFilterForm
from trees.models import Tag, Tree, TreeVersion
from trees.outline import build_outline


@require_GET
@login_required
def library(request: HtmxHttpRequest) -> HttpResponse:
    """Published trees, filterable by category and tag, ranked by a search (TreeQuerySet.search)."""
    form = LibraryFilterForm(request.GET)
    q, category, tag = form.value("q"), form.value("category"), form.value("tag")

    published = Tree.objects.published()
    trees = published.search(q).with_step_count().prefetch_related("tags")
    if category:
        trees = trees.filter(category=category)
    if tag:
        trees = trees.with_tag(tag)
    trees = list(trees)

    context = {
        "form": form,
        "trees": trees,
        "q": q,
        "category": category,
        "tag": tag,
        "filtered": bool(q or category or tag),
        "total": published.count(),
        "categories": list(
            published.exclude(category="")
            .order_by("category")
            .values_list("category", flat=True)
            .distinct()
        ),
        "tags": Tag.objects.filter(
            Exists(Tree.objects.published().filter(tags=OuterRef("pk")))
        ).order_by("name"),
    }
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, "trees/library.html#results", context)
    else:
        # The active-sessions banner comes from a sessions template tag.
        response = render(request, "trees/library.html", context)
    # The same URL answers a page or a fragment: caches must keep them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


def _version_for_request(request: HtmxHttpRequest, tree: Tree) -> TreeVersion | None:
    """The version to show: the published one, or (staff only) the one asked for.

    Engineers see published, non-archived trees only: anything else is a 404,
    which does not reveal that a draft exists. Staff may preview a draft
    (`?version=draft`) or any version by number (`?version=3`).
    """
    is_staff = request.user.is_staff
    published = tree.published_version
    requested = request.GET.get("version", "").strip()
    if not requested:
        if published is not None and (not tree.is_archived or is_staff):
            return published
        if not is_staff:
            raise Http404("No published version.")
        return tree.versions.order_by("-number").first()
    if not is_staff:
        raise Http404("Previews are for staff.")
    if requested == "draft":
        return get_object_or_404(tree.versions, status=TreeVersion.Status.DRAFT)
    # isdecimal, not isdigit: "²" is a digit that int() refuses.
    if requested.isdecimal():
        return get_object_or_404(tree.versions, number=int(requested))
    raise Http404("Unknown version.")


@require_GET
@login_required
def detail(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """A tree's description, the outline of its published version and the Start form."""
    tree = get_object_or_404(Tree.objects.prefetch_related("tags"), slug=slug)
    version = _version_for_request(request, tree)
    outline = build_outline(version) if version is not None else None
    is_live = (
        version is not None
        and version.status == TreeVersion.Status.PUBLISHED
        and not tree.is_archived
    )
    svg = None
    if outline is not None and outline.node_count:
        svg = diagram.render(
            outline.graph(),
            label=f"Diagram of {tree.name}: {outline.node_count} steps. "
            "The list of steps has the same content.",
            zoom=60,
            id_prefix="t",
        )
    context = {
        "tree": tree,
        "version": version,
        "outline": outline,
        "diagram": svg,
        "is_live": is_live,
        "versions": list(tree.versions.order_by("-number")) if request.user.is_staff else [],
    }
    return render(request, "trees/detail.html", context)
