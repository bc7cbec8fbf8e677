"""Authoring trees in the Django admin (SPEC §1: admins author and publish trees).

The flow for a non-developer: add a tree (an empty draft is created with it),
add its nodes on the draft's page, open a question to edit its answers,
Validate, Publish. A published version is read-only: "New draft" copies it for
the next round of edits. Trees also come in and go out as JSON files ("Import
trees", "Export JSON"). Every write goes through `trees.services`.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import content_disposition_header
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from trees import designer
from trees.forms import TreeImportForm
from trees.models import Choice, Node, Tag, Tree, TreeVersion
from trees.services import (
    ImportProblems,
    PublishError,
    tree_export,
    tree_import,
    tree_publish,
    version_create_draft,
    version_validate,
)

ADMIN_CSS = {"all": ["css/trees-admin.css"]}

# Messages that start with what someone wrote (a file name, a node key, a tree's
# name) carry this tag, and templates/admin/base_site.html shows them as written
# instead of through Django's `capfirst` ("test-call", not "Test-call").
AS_WRITTEN = "as-written"


def _tell(model_admin: admin.ModelAdmin, request: HttpRequest, message: str, level: int) -> None:
    model_admin.message_user(request, message, level, extra_tags=AS_WRITTEN)


def _export_response(version: TreeVersion) -> HttpResponse:
    response = HttpResponse(
        tree_export(version=version), content_type="application/json; charset=utf-8"
    )
    filename = f"{version.tree.slug}-v{version.number}.json"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def _plain_select(formfield):
    """No pencil/cross/eye links beside a node select: nodes are edited in their rows."""
    widget = getattr(formfield, "widget", None)
    for flag in ("can_add_related", "can_change_related", "can_delete_related", "can_view_related"):
        if hasattr(widget, flag):
            setattr(widget, flag, False)
    return formfield


def _problem_text(problem) -> str:
    return f"{problem.node_key}: {problem.message}" if problem.node_key else problem.message


# --- tags ------------------------------------------------------------------------


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "tree_count"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(tree_count=Count("trees"))

    @admin.display(description="Trees", ordering="tree_count")
    def tree_count(self, obj: Tag) -> int:
        return obj.tree_count


# --- trees -------------------------------------------------------------------------


class VersionInline(admin.TabularInline):
    """The tree's versions, read-only, each linking to its page."""

    model = TreeVersion
    fields = ["number", "status", "node_count", "created_at", "published_at", "published_by"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False
    ordering = ["-number"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("published_by")
            .annotate(node_count=Count("nodes"))
        )

    @admin.display(description="Nodes")
    def node_count(self, obj: TreeVersion) -> int:
        return obj.node_count

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Tree)
class TreeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "category",
        "published_number",
        "has_draft",
        "node_count",
        "archived",
        "designer_link",
    ]
    list_filter = ["category", "is_archived"]
    search_fields = ["name", "description", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["tags"]
    fields = ["name", "slug", "description", "category", "tags", "baseline_minutes", "is_archived"]
    inlines = [VersionInline]
    actions = ["new_draft", "export_json"]

    class Media:
        css = ADMIN_CSS

    def get_queryset(self, request):
        published = TreeVersion.objects.filter(
            tree=OuterRef("pk"), status=TreeVersion.Status.PUBLISHED
        )
        published_nodes = (
            Node.objects.filter(
                version__tree=OuterRef("pk"), version__status=TreeVersion.Status.PUBLISHED
            )
            .order_by()
            .values("version__tree")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                published_number=Subquery(published.values("number")[:1]),
                has_draft=Exists(
                    TreeVersion.objects.filter(tree=OuterRef("pk"), status=TreeVersion.Status.DRAFT)
                ),
                node_count=Coalesce(Subquery(published_nodes, output_field=IntegerField()), 0),
                draft_id=Subquery(
                    TreeVersion.objects.filter(
                        tree=OuterRef("pk"), status=TreeVersion.Status.DRAFT
                    ).values("pk")[:1]
                ),
                latest_id=Subquery(
                    TreeVersion.objects.filter(tree=OuterRef("pk"))
                    .order_by("-status", "-number")
                    .values("pk")[:1]
                ),
            )
        )

    @admin.display(description="Designer")
    def designer_link(self, obj: Tree) -> str:
        # The draft when there is one (where editing happens), else the latest version.
        version_id = obj.draft_id or obj.latest_id
        if version_id is None:
            return "—"
        url = reverse("admin:trees_treeversion_designer", args=[version_id])
        return format_html(
            '<a href="{}">{}</a>', url, "Edit in designer" if obj.draft_id else "Open designer"
        )

    @admin.display(description="Published version", ordering="published_number")
    def published_number(self, obj: Tree) -> str:
        return f"v{obj.published_number}" if obj.published_number else "—"

    @admin.display(description="Draft", boolean=True, ordering="has_draft")
    def has_draft(self, obj: Tree) -> bool:
        return obj.has_draft

    @admin.display(description="Nodes (published)", ordering="node_count")
    def node_count(self, obj: Tree) -> int:
        return obj.node_count

    @admin.display(description="Archived", boolean=True, ordering="is_archived")
    def archived(self, obj: Tree) -> bool:
        return obj.is_archived

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name=f"{prefix}_import",
            ),
            path(
                "<int:object_id>/new-draft/",
                self.admin_site.admin_view(self.new_draft_view),
                name=f"{prefix}_new_draft",
            ),
            path(
                "<int:object_id>/export/",
                self.admin_site.admin_view(self.export_view),
                name=f"{prefix}_export",
            ),
            path(
                "<int:object_id>/compare/",
                self.admin_site.admin_view(require_GET(self.compare_view)),
                name=f"{prefix}_compare",
            ),
            path(
                "<int:object_id>/duplicate/",
                self.admin_site.admin_view(self.duplicate_view),
                name=f"{prefix}_duplicate",
            ),
            *super().get_urls(),
        ]

    def compare_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        tree = get_object_or_404(Tree, pk=object_id)
        if not self.has_view_permission(request, tree):
            raise PermissionDenied
        return designer.compare_page(request, self.admin_site.each_context(request), tree)

    def duplicate_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        tree = get_object_or_404(Tree, pk=object_id)
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if not (
            self.has_add_permission(request) and request.user.has_perm("trees.add_treeversion")
        ):
            raise PermissionDenied
        return designer.duplicate_page(request, self.admin_site.each_context(request), tree)

    # Adding a tree gives it an empty draft and opens it: the next step is
    # always writing its nodes.
    def response_add(self, request, obj, post_url_continue=None):
        if "_addanother" in request.POST or "_popup" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        try:
            draft = version_create_draft(tree=obj, by=request.user)
        except ValidationError:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(
            request,
            f"The tree “{obj.name}” was added with an empty draft. Add its first node below.",
            messages.SUCCESS,
        )
        return redirect("admin:trees_treeversion_designer", draft.pk)

    def _create_draft(self, request: HttpRequest, tree: Tree) -> TreeVersion | None:
        try:
            draft = version_create_draft(tree=tree, by=request.user)
        except ValidationError as error:
            for message in error.messages:
                self.message_user(request, message, messages.ERROR)
            return None
        copied = draft.nodes.count()
        self.message_user(
            request,
            f"Version {draft.number} of “{tree.name}” was created as a draft"
            + (
                ngettext(
                    " with %(n)d node copied from the previous version.",
                    " with %(n)d nodes copied from the previous version.",
                    copied,
                )
                % {"n": copied}
                if copied
                else "."
            ),
            messages.SUCCESS,
        )
        return draft

    @admin.action(description="Create a new draft", permissions=["change"])
    def new_draft(self, request, queryset):
        drafts = [draft for tree in queryset if (draft := self._create_draft(request, tree))]
        if len(drafts) == 1:
            return redirect("admin:trees_treeversion_designer", drafts[0].pk)
        return None

    @admin.action(description="Export JSON (published version, else the latest)")
    def export_json(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one tree to export.", messages.WARNING)
            return None
        tree = queryset.get()
        version = tree.published_version or tree.versions.order_by("-number").first()
        if version is None:
            self.message_user(request, f"“{tree.name}” has no versions.", messages.WARNING)
            return None
        return _export_response(version)

    def new_draft_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        tree = get_object_or_404(Tree, pk=object_id)
        if request.method != "POST":
            return redirect("admin:trees_tree_change", tree.pk)
        if not self.has_change_permission(request, tree):
            raise PermissionDenied
        draft = self._create_draft(request, tree)
        if draft is None:
            return redirect("admin:trees_tree_change", tree.pk)
        # The designer is where a draft is edited; "Edit as table" is one click away.
        return redirect("admin:trees_treeversion_designer", draft.pk)

    def export_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        tree = get_object_or_404(Tree, pk=object_id)
        if not self.has_view_permission(request, tree):
            raise PermissionDenied
        version = tree.published_version or tree.versions.order_by("-number").first()
        if version is None:
            self.message_user(request, f"“{tree.name}” has no versions.", messages.WARNING)
            return redirect("admin:trees_tree_change", tree.pk)
        return _export_response(version)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload tree files; each file is imported whole or not at all."""
        if not (
            self.has_add_permission(request)
            and request.user.has_perm("trees.add_treeversion")
            and request.user.has_perm("trees.add_node")
        ):
            raise PermissionDenied
        if request.method == "POST":
            form = TreeImportForm(request.POST, request.FILES)
        else:
            form = TreeImportForm()
        if request.method == "POST" and form.is_valid():
            failed = 0
            for upload in form.cleaned_data["files"]:
                if not self._import_file(request, upload, publish=form.cleaned_data["publish"]):
                    failed += 1
            if not failed:
                return redirect("admin:trees_tree_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import trees",
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/trees/tree/import.html", context)

    def _import_file(self, request: HttpRequest, upload, *, publish: bool) -> bool:
        try:
            version = tree_import(
                data=upload.read(), filename=upload.name, publish=publish, by=request.user
            )
        except ImportProblems as error:
            for line in error.lines():
                _tell(self, request, line, messages.ERROR)
            _tell(
                self,
                request,
                f"{upload.name} was not imported: nothing was changed.",
                messages.ERROR,
            )
            return False
        link = reverse("admin:trees_treeversion_change", args=[version.pk])
        state = "published" if publish else "a draft"
        _tell(
            self,
            request,
            format_html(
                '{}: imported “{}” as <a href="{}">version {}</a> ({}).',
                upload.name,
                version.tree.name,
                link,
                version.number,
                state,
            ),
            messages.SUCCESS,
        )
        if not publish:
            for problem in version_validate(version=version):
                _tell(
                    self,
                    request,
                    f"{upload.name}: {_problem_text(problem)} (fix before publishing)",
                    messages.WARNING,
                )
        return True


# --- versions and their nodes ---------------------------------------------------------


class NodeFormSet(BaseInlineFormSet):
    """The nodes of a draft: one start node, `next` limited to this version's nodes."""

    @cached_property
    def _next_choices(self) -> list[tuple]:
        # One query for every row's select, instead of one per row.
        nodes = Node.objects.filter(version=self.instance).only("pk", "key", "title")
        return [("", "---------"), *((node.pk, str(node)) for node in nodes)]

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        if "next" in form.fields:
            form.fields["next"].queryset = Node.objects.filter(version=self.instance)
            form.fields["next"].choices = self._next_choices
        return form

    @property
    def empty_form(self):
        form = super().empty_form
        if "next" in form.fields:
            form.fields["next"].queryset = Node.objects.filter(version=self.instance)
            form.fields["next"].choices = self._next_choices
        return form

    def clean(self) -> None:
        super().clean()
        starts = [
            form.cleaned_data.get("key") or "a new node"
            for form in self.forms
            if form.cleaned_data
            and form.cleaned_data.get("is_start")
            and not form.cleaned_data.get("DELETE")
        ]
        if len(starts) > 1:
            raise ValidationError(
                f"Only one node can be the start; {len(starts)} are marked ({', '.join(starts)})."
            )

    def save(self, commit=True):
        # Moving the start from one node to another in one save: clear the old
        # start first, or the database's one-start rule would reject the new one.
        new_start = [
            form.instance
            for form in self.forms
            if form.cleaned_data.get("is_start") and not form.cleaned_data.get("DELETE")
        ]
        if commit and new_start:
            others = Node.objects.filter(version=self.instance, is_start=True)
            if new_start[0].pk:
                others = others.exclude(pk=new_start[0].pk)
            others.update(is_start=False)
        return super().save(commit)


class NodeInline(admin.TabularInline):
    model = Node
    formset = NodeFormSet
    fields = ["key", "kind", "title", "body", "command", "next", "is_start", "position", "answers"]
    readonly_fields = ["answers"]
    extra = 1
    show_change_link = True
    ordering = ["position", "id"]
    classes = ["node-inline"]

    def get_queryset(self, request):
        return (
            super().get_queryset(request).select_related("next").prefetch_related("choices__target")
        )

    # Inline instances are made per request: the version being shown is kept here
    # so each row's answers need no query of their own.
    _version_editable = True

    def get_formset(self, request, obj=None, **kwargs):
        self._version_editable = self._editable(obj)
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "next":
            _plain_select(field)
        # Compact widgets: a version has dozens of nodes, one table row each.
        if db_field.name == "body":
            field.widget = forms.Textarea(attrs={"rows": 3})
        elif db_field.name == "command":
            field.widget = forms.Textarea(attrs={"rows": 3, "class": "mono-input"})
        return field

    @admin.display(description="Answers")
    def answers(self, obj: Node) -> str:
        if obj.pk is None:
            return "Save, then open the node to add answers."
        choices = list(obj.choices.all())
        link = reverse("admin:trees_node_change", args=[obj.pk])
        # A published or retired version is read-only: its node page only shows them.
        editable = self._version_editable
        if not choices:
            if obj.kind != Node.Kind.QUESTION:
                return "—"
            return format_html('<a href="{}">Add answers</a>', link) if editable else "None"
        items = format_html_join(
            "",
            "<li>{} → {}</li>",
            (
                (choice.label, choice.target.key if choice.target else "(nowhere)")
                for choice in choices
            ),
        )
        return format_html(
            '<ul class="answer-list">{}</ul><a href="{}">{}</a>',
            items,
            link,
            "Edit answers" if editable else "View answers",
        )

    def _editable(self, obj) -> bool:
        return obj is None or obj.is_editable

    def has_add_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_delete_permission(request, obj)


@admin.register(TreeVersion)
class TreeVersionAdmin(admin.ModelAdmin):
    list_display = ["tree", "number", "status", "node_count", "created_at", "published_at"]
    list_display_links = ["tree", "number"]
    list_filter = ["status", "tree__category"]
    list_select_related = ["tree"]
    search_fields = ["tree__name", "tree__slug"]
    fields = [
        ("tree", "number", "status"),
        ("created_at", "created_by"),
        ("published_at", "published_by"),
    ]
    readonly_fields = [
        "tree",
        "number",
        "status",
        "created_at",
        "created_by",
        "published_at",
        "published_by",
    ]
    inlines = [NodeInline]
    actions = ["validate", "publish", "export_json"]
    save_on_top = True

    class Media:
        css = ADMIN_CSS

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(node_count=Count("nodes"))

    @admin.display(description="Nodes", ordering="node_count")
    def node_count(self, obj: TreeVersion) -> int:
        return obj.node_count

    # Versions are made by "New draft" and imports, never by a blank form.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and not obj.is_editable:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and not obj.is_editable:
            return False
        return super().has_delete_permission(request, obj)

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/validate/",
                view(require_POST(self.validate_view)),
                name=f"{prefix}_validate",
            ),
            path(
                "<int:object_id>/publish/",
                view(require_POST(self.publish_view)),
                name=f"{prefix}_publish",
            ),
            path(
                "<int:object_id>/export/",
                view(self.export_view),
                name=f"{prefix}_export",
            ),
            path(
                "<int:object_id>/designer/",
                view(require_GET(self.designer_view)),
                name=f"{prefix}_designer",
            ),
            path(
                "<int:object_id>/designer/add/",
                view(require_POST(self.designer_add_view)),
                name=f"{prefix}_designer_add",
            ),
            path(
                "<int:object_id>/designer/node/<int:node_id>/",
                view(require_POST(self.designer_save_view)),
                name=f"{prefix}_designer_save",
            ),
            path(
                "<int:object_id>/designer/node/<int:node_id>/delete/",
                view(require_POST(self.designer_delete_view)),
                name=f"{prefix}_designer_delete",
            ),
            path(
                "<int:object_id>/restore/",
                view(require_POST(self.restore_view)),
                name=f"{prefix}_restore",
            ),
            *super().get_urls(),
        ]

    # --- the designer (trees/designer.py) --------------------------------------------

    def _designer_context(self, request: HttpRequest) -> dict:
        # An htmx swap of the panel draws none of the admin's frame (menus, app list).
        htmx = getattr(request, "htmx", None)
        if htmx and not htmx.history_restore_request:
            return {}
        return self.admin_site.each_context(request)

    def _can_edit(self, request: HttpRequest, version: TreeVersion) -> bool:
        return version.is_editable and super().has_change_permission(request, version)

    def designer_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        version = self._version_or_404(request, object_id)
        return designer.designer_page(
            request,
            self._designer_context(request),
            version,
            editable=self._can_edit(request, version),
        )

    def _editable_or_refusal(
        self, request: HttpRequest, object_id: int
    ) -> tuple[TreeVersion, HttpResponse | None]:
        version = self._version_or_404(request, object_id)
        if not super().has_change_permission(request, version):
            raise PermissionDenied
        if not version.is_editable:
            messages.error(
                request,
                f"Version {version.number} is {version.get_status_display().lower()}: it is "
                "read-only. Create a new draft to change the tree.",
            )
            return version, redirect(designer.designer_url(version))
        return version, None

    def designer_add_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        version, refusal = self._editable_or_refusal(request, object_id)
        if refusal:
            return refusal
        return designer.add_node(request, self._designer_context(request), version)

    def designer_save_view(self, request: HttpRequest, object_id: int, node_id: int):
        version, refusal = self._editable_or_refusal(request, object_id)
        if refusal:
            return refusal
        node = designer.get_node(version, node_id)
        return designer.save_node(request, self._designer_context(request), version, node)

    def designer_delete_view(self, request: HttpRequest, object_id: int, node_id: int):
        version, refusal = self._editable_or_refusal(request, object_id)
        if refusal:
            return refusal
        node = designer.get_node(version, node_id)
        return designer.delete_node(request, self._designer_context(request), version, node)

    def restore_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        version = self._version_or_404(request, object_id)
        if not (
            super().has_change_permission(request, version)
            and request.user.has_perm("trees.add_treeversion")
        ):
            raise PermissionDenied
        return designer.restore_version(request, version)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "can_publish": version is not None
            and version.is_editable
            and self.has_change_permission(request, version),
            "can_new_draft": version is not None
            and not version.tree.versions.filter(status=TreeVersion.Status.DRAFT).exists()
            and request.user.has_perm("trees.change_tree"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- Validate / Publish / Export, as actions and as buttons ----------------------

    def _report_validation(self, request: HttpRequest, version: TreeVersion) -> bool:
        problems = version_validate(version=version)
        if not problems:
            _tell(
                self,
                request,
                f"{version}: no problems found; it can be published.",
                messages.SUCCESS,
            )
            return True
        for problem in problems:
            _tell(self, request, _problem_text(problem), messages.ERROR)
        _tell(
            self,
            request,
            f"{version}: {len(problems)} problem{'s' if len(problems) != 1 else ''} "
            "to fix before it can be published.",
            messages.WARNING,
        )
        return False

    def _publish(self, request: HttpRequest, version: TreeVersion) -> bool:
        try:
            version = tree_publish(version=version, by=request.user)
        except PublishError as error:
            for problem in error.problems:
                _tell(self, request, _problem_text(problem), messages.ERROR)
            self.message_user(
                request,
                f"Version {version.number} of “{version.tree.name}” was not published "
                f"({len(error.problems)} problem{'s' if len(error.problems) != 1 else ''}).",
                messages.ERROR,
            )
            return False
        self.message_user(
            request,
            f"Version {version.number} of “{version.tree.name}” is published; engineers now "
            "run it. Sessions already run keep their version.",
            messages.SUCCESS,
        )
        return True

    @admin.action(description="Validate")
    def validate(self, request, queryset):
        for version in queryset.select_related("tree"):
            self._report_validation(request, version)

    @admin.action(description="Publish (validates first)", permissions=["change"])
    def publish(self, request, queryset):
        for version in queryset.select_related("tree"):
            self._publish(request, version)

    @admin.action(description="Export JSON")
    def export_json(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to export.", messages.WARNING)
            return None
        return _export_response(queryset.select_related("tree").get())

    def _version_or_404(self, request: HttpRequest, object_id: int) -> TreeVersion:
        version = get_object_or_404(TreeVersion.objects.select_related("tree"), pk=object_id)
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        return version

    def _back(self, request: HttpRequest, version: TreeVersion) -> HttpResponseRedirect:
        # The designer's buttons come back to the designer, the change page's to it.
        if request.POST.get("next") == "designer":
            return redirect(designer.designer_url(version))
        return redirect("admin:trees_treeversion_change", version.pk)

    def validate_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        version = self._version_or_404(request, object_id)
        self._report_validation(request, version)
        return self._back(request, version)

    def publish_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        version = self._version_or_404(request, object_id)
        if not super().has_change_permission(request, version):
            raise PermissionDenied
        self._publish(request, version)
        return self._back(request, version)

    def export_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return _export_response(self._version_or_404(request, object_id))


# --- a node's answers ------------------------------------------------------------------


class ChoiceInline(admin.TabularInline):
    model = Choice
    fk_name = "node"
    verbose_name = "answer"
    verbose_name_plural = "answers"
    fields = ["label", "target", "position"]
    extra = 2
    ordering = ["position", "id"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "target":
            node = _node_from_request(request)
            kwargs["queryset"] = (
                Node.objects.filter(version_id=node.version_id) if node else Node.objects.none()
            )
            return _plain_select(super().formfield_for_foreignkey(db_field, request, **kwargs))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _editable(self, obj) -> bool:
        return obj is None or obj.version.is_editable

    def has_add_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_delete_permission(request, obj)


def _node_from_request(request: HttpRequest) -> Node | None:
    """The node whose admin page is being shown or saved (cached on the request)."""
    if not hasattr(request, "_trees_admin_node"):
        object_id = request.resolver_match.kwargs.get("object_id")
        request._trees_admin_node = (
            Node.objects.select_related("version").filter(pk=object_id).first()
            if object_id and str(object_id).isdigit()
            else None
        )
    return request._trees_admin_node


class NodeAdminForm(forms.ModelForm):
    class Meta:
        model = Node
        fields = ["key", "kind", "title", "body", "command", "next", "is_start", "position"]

    def clean_key(self) -> str:
        # The version is read-only on this page, so Django's own check of the
        # (version, key) constraint skips it: check it here.
        key = self.cleaned_data["key"]
        others = Node.objects.filter(version_id=self.instance.version_id, key=key)
        if others.exclude(pk=self.instance.pk).exists():
            raise ValidationError("Another node of this version already has this key.")
        return key


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    """One node and its answers; reached from its version's page."""

    form = NodeAdminForm
    fields = ["version", "key", "kind", "title", "body", "command", "next", "is_start", "position"]
    readonly_fields = ["version"]
    inlines = [ChoiceInline]
    list_display = ["key", "title", "kind", "version"]
    list_select_related = ["version__tree"]
    search_fields = ["key", "title"]

    class Media:
        css = ADMIN_CSS

    def get_model_perms(self, request):
        # Reached from a version's page, not listed on the admin index.
        return {}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "next":
            node = _node_from_request(request)
            kwargs["queryset"] = (
                Node.objects.filter(version_id=node.version_id).exclude(pk=node.pk)
                if node
                else Node.objects.none()
            )
            return _plain_select(super().formfield_for_foreignkey(db_field, request, **kwargs))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "command":
            field.widget.attrs.update({"rows": 4, "class": "vLargeTextField mono-input"})
        return field

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and not obj.version.is_editable:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and not obj.version.is_editable:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if obj.is_start:
            # Making this node the start un-marks the previous one (one per version).
            Node.objects.filter(version_id=obj.version_id, is_start=True).exclude(pk=obj.pk).update(
                is_start=False
            )
        super().save_model(request, obj, form, change)

    def response_change(self, request, obj):
        # Back to the version page, where the rest of the tree is edited.
        if "_continue" in request.POST or "_addanother" in request.POST:
            return super().response_change(request, obj)
        self.message_user(request, f"The node “{obj.key}” was saved.", messages.SUCCESS)
        return redirect("admin:trees_treeversion_change", obj.version_id)

    def response_delete(self, request, obj_display, obj_id):
        node = getattr(request, "_trees_admin_node", None)
        if node is not None:
            self.message_user(request, f"The node “{obj_display}” was deleted.", messages.SUCCESS)
            return redirect("admin:trees_treeversion_change", node.version_id)
        return super().response_delete(request, obj_display, obj_id)

    def delete_view(self, request, object_id, extra_context=None):
        _node_from_request(request)
        return super().delete_view(request, object_id, extra_context)
