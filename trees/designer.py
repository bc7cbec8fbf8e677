"""The tree designer's pages in the admin (SPEC §8).

`TreeVersionAdmin` and `TreeAdmin` route here (their `get_urls`) and check the
admin's permissions first: `view_treeversion` to look, `change_treeversion`
to edit a draft. One page, `designer.html`: the diagram, the problem list,
the versions and, for the selected node, the side panel. With htmx a node's
panel is swapped in (`#panel`), and a save swaps the panel and sends the
diagram and the problem list out of band; without JavaScript every control is
a plain link or form and the page is rendered again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.http import urlencode

from trees import diagram, services
from trees.compare import compare
from trees.forms import (
    NEW,
    AnswerForm,
    CompareForm,
    DuplicateTreeForm,
    NodeAddForm,
    NodeDeleteForm,
    NodeDesignForm,
    NodeOptions,
)
from trees.markdown import render_markdown
from trees.models import Node, Tree, TreeVersion
from trees.validation import graph_problems

TEMPLATE = "admin/trees/treeversion/designer.html"
ZOOMS = (25, 50, 75, 100, 150)


@dataclass
class Panel:
    """The side panel of one node: its form, its answers' forms, the new answer's."""

    node: Node
    form: NodeDesignForm
    answers: list[tuple[object, AnswerForm]]
    add: AnswerForm
    delete: NodeDeleteForm
    sources: list[str]
    notice: str = ""

    @property
    def has_errors(self) -> bool:
        return bool(self.form.errors or self.add.errors or any(f.errors for _, f in self.answers))


def designer_url(version: TreeVersion, node: Node | str | None = None, **query) -> str:
    url = reverse("admin:trees_treeversion_designer", args=[version.pk])
    key = node.key if isinstance(node, Node) else node
    params = {"node": key, **query} if key else query
    return f"{url}?{urlencode(params)}" if params else url


class NodeRef(NamedTuple):
    pk: int
    key: str
    title: str


def _nodes(version: TreeVersion) -> list[NodeRef]:
    """The version's nodes for the panel's selects and lookups: three columns, no models."""
    rows = version.nodes.order_by("position", "id").values_list("pk", "key", "title")
    return [NodeRef(*row) for row in rows]


def build_panel(version: TreeVersion, node: Node, nodes: list[NodeRef], data=None) -> Panel:
    choices = list(node.choices.order_by("position", "id"))
    options = NodeOptions(nodes)
    if data is None:
        form = NodeDesignForm(
            initial={
                "seen": services.node_digest(node, choices),
                "key": node.key,
                "kind": node.kind,
                "title": node.title,
                "body": node.body,
                "command": node.command,
                "is_start": node.is_start,
                "next": str(node.next_id or ""),
            },
            options=options,
            node=node,
        )
        answers = [
            (
                choice,
                AnswerForm(
                    prefix=f"answer-{choice.pk}",
                    initial={
                        "label": choice.label,
                        "target": str(choice.target_id or ""),
                        "position": n,
                    },
                    options=options,
                ),
            )
            for n, choice in enumerate(choices, start=1)
        ]
        add = AnswerForm(
            prefix="add", options=options, adding=True, initial={"position": len(choices) + 1}
        )
    else:
        form = NodeDesignForm(data, options=options, node=node)
        answers = [
            (choice, AnswerForm(data, prefix=f"answer-{choice.pk}", options=options))
            for choice in choices
        ]
        add = AnswerForm(data, prefix="add", options=options, adding=True)
    return Panel(
        node=node,
        form=form,
        answers=answers,
        add=add,
        delete=NodeDeleteForm(options=options, node=node),
        sources=[],  # page_context reads them off the graph
    )


def graph_sources(graph: list, key: str) -> list[str]:
    """The keys of the other nodes whose arrows lead to `key`, read off the version's graph.

    `services.node_sources` asks the database (the delete needs it under its lock); the
    panel has the graph in memory already, which spared two queries per panel.
    """
    return sorted(
        {
            node.key
            for node in graph
            if node.key != key
            and (node.next == key or any(choice.target == key for choice in node.choices))
        }
    )


def page_context(
    request: HttpRequest,
    version: TreeVersion,
    *,
    editable: bool,
    panel: Panel | None = None,
    selected: str | None = None,
    node: Node | None = None,
    zoom: int = 100,
) -> dict:
    """Everything the designer page and its partials show.

    `node`: the selected node when the caller has it (a save has just written it).
    """
    tree = version.tree
    nodes = _nodes(version)
    graph = services.version_graph(version)
    problems = graph_problems(graph)
    marks = diagram.problem_marks(problems, [node.key for node in graph])
    by_key = {node.key: node for node in nodes}
    if panel is None and selected in by_key:
        if node is None or node.pk != by_key[selected].pk:
            node = Node.objects.get(pk=by_key[selected].pk)
        panel = build_panel(version, node, nodes)
    if panel is not None:
        panel.sources = graph_sources(graph, panel.node.key)
    selected = panel.node.key if panel else None

    base = designer_url(version)
    zoom_query = f"&zoom={zoom}" if zoom != 100 else ""

    def link(node) -> dict[str, str]:
        return {"href": f"{base}?node={quote(node.key)}{zoom_query}"}

    svg = diagram.render(
        graph,
        # The version's last drawing is the base of the next edit's (diagram.derive_layout).
        layout=diagram.layout_for(graph, scope=f"version:{version.pk}"),
        marks=marks,
        selected=selected,
        link=link,
        label=f"Diagram of {tree.name}, version {version.number}",
        zoom=zoom,
    )
    problem_list = [
        (key, by_key[key], message) for key, group in marks.by_key.items() for message in group
    ]
    # Read only when the template shows them: the whole page, not an htmx save's partials.
    versions = SimpleLazyObject(
        lambda: list(tree.versions.select_related("published_by", "created_by").order_by("-number"))
    )
    draft = SimpleLazyObject(
        lambda: next((v for v in versions if v.status == TreeVersion.Status.DRAFT), None)
    )
    return {
        "title": f"Designer: {tree.name}, version {version.number}",
        "opts": TreeVersion._meta,
        "version": version,
        "original": version,
        "tree": tree,
        "editable": editable,
        "svg": svg,
        "node_count": len(nodes),
        "problems": problems,
        "general_problems": marks.general,
        "problem_list": problem_list,
        "panel": panel,
        "preview": render_markdown(panel.node.body) if panel and panel.node.body else "",
        "add_form": NodeAddForm(),
        "versions": versions,
        "draft": draft,
        "zoom": zoom,
        "zooms": [(z, designer_url(version, selected, zoom=z)) for z in ZOOMS],
        "zoom_in": next((z for z in ZOOMS if z > zoom), None),
        "zoom_out": next((z for z in reversed(ZOOMS) if z < zoom), None),
        "can_change_tree": request.user.has_perm("trees.change_tree"),
        "can_add_tree": request.user.has_perm("trees.add_tree"),
    }


def _zoom(request: HttpRequest) -> int:
    value = request.GET.get("zoom", "")
    return int(value) if value.isdecimal() and int(value) in ZOOMS else 100


def render_page(request, context: dict, *, status: int = 200, oob: bool = False):
    """The page, or (htmx) the panel with the diagram and problems out of band."""
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        template = f"{TEMPLATE}#{'changed' if oob else 'panel'}"
    else:
        template = TEMPLATE
    return TemplateResponse(request, template, context, status=status)


def designer_page(request, admin_context: dict, version: TreeVersion, *, editable: bool):
    selected = request.GET.get("node") or None
    context = {
        **admin_context,
        **page_context(request, version, editable=editable, selected=selected, zoom=_zoom(request)),
    }
    return render_page(request, context)


def _new_node(kind: str | None, title: str | None) -> services.NewNode:
    return services.NewNode(kind=kind or "solution", title=(title or "").strip())


def save_node(request, admin_context: dict, version: TreeVersion, node: Node) -> HttpResponse:
    """`Save node` and `Add answer`: validate every field, save in one transaction."""
    nodes = _nodes(version)
    panel = build_panel(version, node, nodes, data=request.POST)
    adding = "add_answer" in request.POST
    forms_valid = panel.form.is_valid() & panel.add.is_valid()
    for _, answer in panel.answers:
        forms_valid &= answer.is_valid()
    if forms_valid and adding and not panel.add.cleaned_data.get("label"):
        panel.add.add_error("label", "Write the new answer's label.")
        forms_valid = False
    status = 422
    if forms_valid:
        data = panel.form.cleaned_data
        next_value = data.get("next") or ""
        edit = services.NodeEdit(
            key=data["key"],
            kind=data["kind"],
            title=data["title"].strip(),
            body=data["body"],
            command=data["command"],
            is_start=data["is_start"],
            next_id=int(next_value) if next_value.isdecimal() else None,
            new_next=_new_node("solution", data["next_title"]) if next_value == NEW else None,
            keep_next="next" not in request.POST,
        )
        answers = []
        for choice, answer in panel.answers:
            a = answer.cleaned_data
            answers.append(_answer_edit(choice.pk, a, default_position=choice.position))
        add = panel.add.cleaned_data
        if add.get("label"):
            answers.append(_answer_edit(None, add, default_position=len(answers) + 1))
        answers.sort(key=lambda a: (a.position, a.choice_id is None, a.choice_id or 0))
        answers = [
            services.AnswerEdit(**{**a.__dict__, "position": n})
            for n, a in enumerate(answers, start=1)
        ]
        try:
            node = services.node_update(
                node_id=node.pk,
                seen=data["seen"],
                edit=edit,
                answers=answers,
                by=request.user,
            )
        except services.StaleNode as error:
            # Keep what the author typed; a second Save is a deliberate overwrite.
            post = request.POST.copy()
            post["seen"] = error.current
            node.refresh_from_db()
            panel = build_panel(version, node, _nodes(version), data=post)
            panel.form.is_valid()
            panel.notice = error.messages[0]
            status = 409
        except ValidationError as error:
            target = panel.form
            if hasattr(error, "error_dict"):
                for field, errors in error.message_dict.items():
                    target.add_error(field if field in target.fields else None, errors)
            else:
                target.add_error(None, error.messages)
        else:
            message = f"The node “{node.key}” was saved."
            if not getattr(request, "htmx", False):
                messages.success(request, message)
                return redirect(designer_url(version, node))
            context = {
                **admin_context,
                **page_context(request, version, editable=True, selected=node.key, node=node),
                "saved": message,
            }
            return render_page(request, context, oob=True)
    context = {
        **admin_context,
        **page_context(request, version, editable=True, panel=panel),
    }
    return render_page(request, context, status=status, oob=status == 409)


def _answer_edit(choice_id, data: dict, *, default_position: int) -> services.AnswerEdit:
    target = data.get("target") or ""
    position = data.get("position")
    return services.AnswerEdit(
        choice_id=choice_id,
        label=data["label"],
        target_id=int(target) if target.isdecimal() else None,
        new_target=_new_node(data.get("new_kind"), data.get("new_title"))
        if target == NEW
        else None,
        position=position if position is not None else default_position,
        delete=bool(data.get("delete")),
    )


def add_node(request, admin_context: dict, version: TreeVersion) -> HttpResponse:
    form = NodeAddForm(request.POST)
    if form.is_valid():
        node = services.node_create(
            version=version,
            kind=form.cleaned_data["kind"],
            title=form.cleaned_data["title"].strip(),
            by=request.user,
        )
        messages.success(request, f"The node “{node.key}” was added.")
        return redirect(designer_url(version, node))
    context = {**admin_context, **page_context(request, version, editable=True)}
    context["add_form"] = form
    return TemplateResponse(request, TEMPLATE, context, status=422)


def delete_node(request, admin_context: dict, version: TreeVersion, node: Node) -> HttpResponse:
    nodes = _nodes(version)
    form = NodeDeleteForm(request.POST, options=NodeOptions(nodes), node=node)
    form.is_valid()
    value = form.cleaned_data.get("retarget") or ""
    retarget = version.nodes.filter(pk=value).first() if value.isdecimal() else None
    try:
        services.node_delete(node=node, retarget_to=retarget, by=request.user)
    except ValidationError as error:
        panel = build_panel(version, node, nodes)
        panel.delete = form
        panel.notice = error.messages[0]
        context = {**admin_context, **page_context(request, version, editable=True, panel=panel)}
        return TemplateResponse(request, TEMPLATE, context, status=409)
    text = f"The node “{node.key}” was deleted."
    if retarget is not None:
        text += f" Its arrows now point at “{retarget.key}”."
    messages.success(request, text)
    return redirect(designer_url(version, retarget))


def restore_version(request, version: TreeVersion) -> HttpResponse:
    try:
        draft = services.version_restore(version=version, by=request.user)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return redirect(designer_url(version))
    messages.success(
        request,
        f"Version {version.number} was restored as the new draft, version {draft.number}.",
    )
    return redirect(designer_url(draft))


def compare_page(request, admin_context: dict, tree: Tree) -> HttpResponse:
    numbers = list(tree.versions.order_by("-number").values_list("number", flat=True))
    form = CompareForm(request.GET or None, numbers=numbers)
    comparison = old = new = None
    status = 200
    if request.GET and form.is_valid():
        old = tree.versions.get(number=form.cleaned_data["a"])
        new = tree.versions.get(number=form.cleaned_data["b"])
        comparison = compare(services.version_graph(old), services.version_graph(new))
    elif request.GET:
        status = 400
    context = {
        **admin_context,
        "title": f"Compare versions of {tree.name}",
        "opts": Tree._meta,
        "tree": tree,
        "original": tree,
        "form": form,
        "comparison": comparison,
        "old": old,
        "new": new,
    }
    return TemplateResponse(request, "admin/trees/tree/compare.html", context, status=status)


def duplicate_page(request, admin_context: dict, tree: Tree) -> HttpResponse:
    if request.method == "POST":
        form = DuplicateTreeForm(request.POST)
        if form.is_valid():
            try:
                copy = services.tree_duplicate(
                    tree=tree,
                    slug=form.cleaned_data["slug"],
                    name=form.cleaned_data["name"].strip(),
                    by=request.user,
                )
            except ValidationError as error:
                form.add_error(None, error.messages)
            else:
                messages.success(
                    request, f"“{tree.name}” was duplicated as “{copy.name}” (a new draft)."
                )
                return redirect(designer_url(copy.versions.get()))
    else:
        form = DuplicateTreeForm(
            initial={"name": f"{tree.name} (copy)", "slug": _free_slug(f"{tree.slug}-copy")}
        )
    context = {
        **admin_context,
        "title": f"Duplicate {tree.name}",
        "opts": Tree._meta,
        "tree": tree,
        "original": tree,
        "form": form,
    }
    status = 422 if request.method == "POST" else 200
    return TemplateResponse(request, "admin/trees/tree/duplicate.html", context, status=status)


def _free_slug(base: str) -> str:
    slug, n = base[:100], 2
    while Tree.objects.filter(slug=slug).exists():
        slug, n = f"{base[:95]}-{n}", n + 1
    return slug


def get_node(version: TreeVersion, node_id: int) -> Node:
    return get_object_or_404(Node, pk=node_id, version=version)
