"""Sessions and outcomes in the Django admin (SPEC §1: admins correct outcomes, audited).

Sessions are records of work done: the admin cannot add or delete them, and
can change only the outcome, its notes and the next steps. That change goes
through `sessions.services`, which writes the audit row (who, when, from where,
old → new outcome, notes and next steps); the steps and the audit trail are
shown read-only.

Outcomes are editable reference data. The six built-ins and any outcome a
session or an audit row refers to cannot be deleted, one by one or in bulk:
deactivate them instead.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import unquote
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from sessions import services
from sessions.formatting import format_duration, format_elapsed
from sessions.models import ClosedFrom, Decision, Outcome, Session, SessionChange

# --- sessions ----------------------------------------------------------------------


class StatusFilter(admin.SimpleListFilter):
    """Status is derived from the timestamps (SPEC §3), so it filters through them."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return Session.Status.choices

    def queryset(self, request, queryset):
        if self.value() in Session.Status.values:
            return queryset.with_status(self.value())
        return queryset


class DecisionInline(admin.TabularInline):
    model = Decision
    verbose_name = "step"
    verbose_name_plural = "steps (read-only: the timing record is never edited)"
    fields = [
        "seq",
        "node_key",
        "node_title",
        "answer_label",
        "notes",
        "entered_at",
        "exited_at",
        "duration",
        "exit",
        "undone",
    ]
    readonly_fields = fields
    ordering = ["seq"]
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Duration")
    def duration(self, obj: Decision) -> str:
        return format_duration(obj.duration_seconds) or "open"


def _quoted(text: str) -> str:
    return f"“{text}”" if text else "—"


class SessionChangeInline(admin.TabularInline):
    model = SessionChange
    verbose_name = "change"
    verbose_name_plural = "changes after the start (audit trail)"
    fields = ["changed_at", "changed_by", "source", "field", "what_changed"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="What changed (old → new)")
    def what_changed(self, obj: SessionChange) -> str:
        return format_html("{} → {}", _quoted(obj.old_value), _quoted(obj.new_value))


def _same_text(a: str, b: str) -> bool:
    """Equal but for line endings and surrounding space (a browser posts CRLF)."""
    return a.replace("\r\n", "\n").strip() == b.replace("\r\n", "\n").strip()


class SessionAdminForm(forms.ModelForm):
    """The outcome, its notes and next steps; saving runs the service, not `save()`.

    `shown_as` carries what the page showed ("active" or "completed"): a form
    opened on an active session completes it, and is refused if the session
    was completed meanwhile, rather than silently correcting the outcome
    someone else has just chosen.
    """

    shown_as = forms.CharField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Session
        fields = ["outcome", "outcome_notes", "next_steps"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["shown_as"].initial = "completed" if self.instance.is_completed else "active"
        if "outcome" in self.fields:
            current = self.instance.outcome_id
            self.fields["outcome"].queryset = Outcome.objects.filter(
                Q(is_active=True) | Q(pk=current)
            )
            self.fields["outcome"].help_text = (
                "Changing it is recorded in the outcome history below. "
                "Setting one on an active session completes it now."
            )

    def _clean_text(self, name: str) -> str:
        # Saving a text untouched must not count as a correction (and an audit row).
        value = self.cleaned_data.get(name, "")
        stored = getattr(self.instance, name)
        return stored if _same_text(value, stored) else value

    def clean_outcome_notes(self) -> str:
        return self._clean_text("outcome_notes")

    def clean_next_steps(self) -> str:
        return self._clean_text("next_steps")

    def clean(self) -> dict:
        cleaned = super().clean()
        if "outcome" not in self.fields or cleaned.get("outcome"):
            return cleaned
        if self.instance.is_completed:
            self.add_error("outcome", "A completed session needs an outcome.")
        elif any(
            cleaned.get(name, "") != getattr(self.instance, name)
            for name in ("outcome_notes", "next_steps")
        ):
            # An active session keeps no notes of its own: they come with completing it.
            self.add_error(
                "outcome",
                "Choose an outcome to complete this session; its notes and next steps "
                "are saved with the outcome.",
            )
        return cleaned


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    form = SessionAdminForm
    list_display = [
        "ticket",
        "engineer",
        "tree",
        "status",
        "outcome",
        "started_at",
        "duration",
    ]
    list_display_links = ["ticket"]
    list_filter = [
        StatusFilter,
        "outcome",
        "outcome__kind",
        "tree",
        "engineer",
        ("started_at", admin.DateFieldListFilter),
    ]
    search_fields = ["ticket_ref", "client"]
    list_select_related = ["engineer", "tree", "outcome"]
    ordering = ["-created_at"]
    inlines = [DecisionInline, SessionChangeInline]
    fieldsets = [
        (None, {"fields": ["engineer", "tree", "version", "ticket_ref", "client", "summary"]}),
        (
            "Timing",
            {
                "fields": [
                    "status",
                    "created_at",
                    "created_by",
                    "started_at",
                    "completed_at",
                    "duration",
                    "step_count",
                ]
            },
        ),
        (
            "Outcome",
            {
                "fields": [
                    "outcome",
                    "outcome_notes",
                    "next_steps",
                    "closed_by",
                    "closed_from",
                    "shown_as",
                ]
            },
        ),
        ("Scratchpad", {"fields": ["scratchpad"], "classes": ["collapse"]}),
    ]
    _always_readonly = [
        "engineer",
        "tree",
        "version",
        "ticket_ref",
        "client",
        "summary",
        "status",
        "created_at",
        "created_by",
        "started_at",
        "completed_at",
        "duration",
        "step_count",
        "closed_by",
        "closed_from",
        "scratchpad",
    ]

    def get_readonly_fields(self, request, obj: Session | None = None) -> list[str]:
        if obj is not None and obj.is_prepared:
            # Nothing to correct before the clock has started.
            return [*self._always_readonly, "outcome", "outcome_notes", "next_steps"]
        return self._always_readonly

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Ticket", ordering="ticket_ref")
    def ticket(self, obj: Session) -> str:
        return obj.ticket_ref or "(no ticket)"

    @admin.display(description="Status")
    def status(self, obj: Session) -> str:
        return obj.get_status_display()

    @admin.display(description="Duration", ordering="duration_seconds")
    def duration(self, obj: Session) -> str:
        if obj.is_prepared:
            return "—"
        seconds = obj.duration_seconds if obj.is_completed else obj.elapsed
        return format_elapsed(seconds, so_far=obj.is_active)

    def save_model(self, request, obj: Session, form, change: bool) -> None:
        """Apply the outcome through the services so it is audited (source: admin)."""
        if not change or not form.has_changed():
            return
        outcome = form.cleaned_data.get("outcome")
        notes = form.cleaned_data.get("outcome_notes", "")
        next_steps = form.cleaned_data.get("next_steps", "")
        # What the page showed, not what the row says now (see SessionAdminForm).
        shown_completed = (form.cleaned_data.get("shown_as") or obj.status) == "completed"
        try:
            if shown_completed:
                services.session_change_outcome(
                    session=obj,
                    outcome=outcome,
                    by=request.user,
                    source=ClosedFrom.ADMIN,
                    outcome_notes=notes,
                    next_steps=next_steps,
                )
            elif outcome is not None:
                services.session_complete(
                    session=obj,
                    outcome=outcome,
                    by=request.user,
                    source=ClosedFrom.ADMIN,
                    outcome_notes=notes,
                    next_steps=next_steps,
                )
        except services.SessionError as exc:
            # Raced with another change (e.g. completed meanwhile): nothing was saved.
            request._session_admin_error = exc.message

    def response_change(self, request, obj: Session) -> HttpResponse:
        error = getattr(request, "_session_admin_error", None)
        if error:
            self.message_user(request, f"Nothing was changed: {error}", messages.ERROR)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)


# --- outcomes ----------------------------------------------------------------------


def _in_use_filter() -> Q:
    return Q(
        Exists(Session.objects.filter(outcome=OuterRef("pk")))
        | Exists(SessionChange.objects.filter(field="outcome", old_value=OuterRef("code")))
        | Exists(SessionChange.objects.filter(field="outcome", new_value=OuterRef("code")))
    )


def undeletable_reason(outcome: Outcome) -> str:
    """Why this outcome cannot be deleted, or "" when it can."""
    if outcome.is_builtin:
        return (
            f"“{outcome.label}” is a built-in outcome and cannot be deleted. "
            "Untick “Active” to stop offering it."
        )
    if Outcome.objects.filter(pk=outcome.pk).filter(_in_use_filter()).exists():
        return (
            f"“{outcome.label}” is used by recorded sessions and cannot be deleted. "
            "Untick “Active” to stop offering it; past sessions keep it."
        )
    return ""


class OutcomeAdminForm(forms.ModelForm):
    class Meta:
        model = Outcome
        fields = ["code", "label", "kind", "colour", "order", "is_active"]
        widgets = {"colour": forms.TextInput(attrs={"type": "color"})}

    def clean_label(self) -> str:
        # The database refuses it too (outcome_label_unique_ci); this says which one.
        label = self.cleaned_data["label"]
        clash = Outcome.objects.filter(label__iexact=label).exclude(pk=self.instance.pk).first()
        if clash is not None:
            raise forms.ValidationError(
                f"The outcome “{clash.label}” (code {clash.code}) already has this label; "
                "labels are compared ignoring case. Choose another label."
            )
        return label

    def clean_colour(self) -> str:
        colour = self.cleaned_data["colour"]
        if not isinstance(colour, str) or len(colour) != 7 or colour[0] != "#":
            raise forms.ValidationError("Use a hex colour such as #15803d.")
        try:
            int(colour[1:], 16)
        except ValueError:
            raise forms.ValidationError("Use a hex colour such as #15803d.") from None
        return colour.lower()


@admin.register(Outcome)
class OutcomeAdmin(admin.ModelAdmin):
    form = OutcomeAdminForm
    list_display = ["label", "code", "kind", "colour", "order", "is_active", "in_use"]
    list_editable = ["order", "is_active"]
    list_filter = ["kind", "is_active", "is_builtin"]
    ordering = ["order", "label"]
    actions = ["delete_selected"]

    def get_queryset(self, request) -> QuerySet[Outcome]:
        return super().get_queryset(request).annotate(session_count=Count("sessions"))

    def get_fields(self, request, obj: Outcome | None = None) -> list[str]:
        fields = ["code", "label", "kind", "colour", "order", "is_active"]
        return fields if obj is None else [*fields, "is_builtin", "deletion"]

    def get_readonly_fields(self, request, obj: Outcome | None = None) -> list[str]:
        # Reports, exports and integrations key on the code: fixed once created.
        return [] if obj is None else ["code", "is_builtin", "deletion"]

    @admin.display(description="In use", ordering="session_count")
    def in_use(self, obj: Outcome) -> str:
        count = getattr(obj, "session_count", None)
        if count is None:
            count = obj.sessions.count()
        return f"{count} session{'s' if count != 1 else ''}" if count else "No"

    @admin.display(description="Deleting")
    def deletion(self, obj: Outcome) -> str:
        return undeletable_reason(obj) or "Not used by any session: it can be deleted."

    def has_delete_permission(self, request, obj: Outcome | None = None) -> bool:
        if obj is not None and undeletable_reason(obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and (reason := undeletable_reason(obj)):
            self.message_user(request, reason, messages.ERROR)
            return HttpResponseRedirect(
                reverse("admin:flow_sessions_outcome_change", args=[obj.pk])
            )
        return super().delete_view(request, object_id, extra_context)

    @admin.action(permissions=["delete"], description="Delete selected outcomes")
    def delete_selected(self, request: HttpRequest, queryset: QuerySet[Outcome]):
        """Django's bulk delete, refused as a whole when any outcome is protected."""
        blocked = queryset.filter(Q(is_builtin=True) | _in_use_filter()).order_by("order")
        if blocked:
            names = ", ".join(f"“{o.label}”" for o in blocked)
            self.message_user(
                request,
                f"Nothing was deleted: {names} "
                f"{'is' if len(blocked) == 1 else 'are'} built in or used by sessions. "
                "Untick “Active” to stop offering an outcome instead.",
                messages.ERROR,
            )
            return None
        return django_delete_selected(self, request, queryset)
