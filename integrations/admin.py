"""Connections, deliveries and the engineers' PSA ids in the admin (SPEC §10)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from integrations import crypto, services
from integrations.models import (
    CREDENTIALS,
    OPTIONAL_CREDENTIALS,
    PSA_KINDS,
    SECRET_CREDENTIALS,
    Connection,
    Delivery,
    Event,
    Kind,
    PsaMember,
)

# Form field name → (kind, credential key). Prefixed, as ConnectWise and HaloPSA
# both have a `client_id`.
PREFIX = {Kind.CONNECTWISE: "cw", Kind.AUTOTASK: "at", Kind.HALOPSA: "halo", Kind.WEBHOOK: "hook"}
LABELS = {
    "company_id": "Company id",
    "public_key": "Public key",
    "private_key": "Private key",
    "client_id": "Client id",
    "username": "API user name",
    "secret": "API secret",
    "integration_code": "API integration code (tracking identifier)",
    "role_id": "Role id for time entries",
    "client_secret": "Client secret",
    "tenant": "Tenant",
    "signing_secret": "Signing secret",
}
CREDENTIAL_FIELDS = {
    f"{PREFIX[kind]}_{key}": (kind, key) for kind, keys in CREDENTIALS.items() for key in keys
}


class ConnectionForm(forms.ModelForm):
    """Credentials are write-only: secrets are never rendered back, only masked."""

    base_url = forms.URLField(
        label="Base URL",
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"class": "vURLField"}),
        help_text=Connection._meta.get_field("base_url").help_text,
    )
    events = forms.MultipleChoiceField(
        choices=Event.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="PSA connections take the ticket note on Session completed; webhooks any.",
    )

    class Meta:
        model = Connection
        fields = ["name", "kind", "base_url", "is_active", "is_default", "events"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        try:
            self.stored = self.instance.credentials if self.instance.pk else {}
        except crypto.CredentialsUnreadable:
            self.stored = {}
        stored_kind = self.instance.kind if self.instance.pk else None
        if not self.instance.pk:
            self.initial.setdefault("events", [Event.SESSION_COMPLETED])
        for name, (kind, key) in CREDENTIAL_FIELDS.items():
            current = self.stored.get(key, "") if kind == stored_kind else ""
            if key in SECRET_CREDENTIALS:
                field = forms.CharField(
                    label=LABELS[key],
                    required=False,
                    strip=True,
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                    help_text=(
                        f"Stored: {crypto.masked(current)}. Leave blank to keep it."
                        if current
                        else "Not set."
                    ),
                )
            else:
                field = forms.CharField(
                    label=LABELS[key],
                    required=False,
                    strip=True,
                    initial=current,
                    widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
                )
            field.max_length = 500
            self.fields[name] = field

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("kind")
        if not kind:
            return data
        same_kind = self.instance.pk and self.instance.kind == kind
        values: dict[str, str] = {}
        for name, (field_kind, key) in CREDENTIAL_FIELDS.items():
            if field_kind != kind:
                continue
            value = (data.get(name) or "").strip()
            if "\x00" in value:
                self.add_error(name, "Null characters are not allowed.")
                continue
            if not value and key in SECRET_CREDENTIALS and same_kind:
                value = self.stored.get(key, "")
            if value:
                values[key] = value
            elif key not in OPTIONAL_CREDENTIALS:
                self.add_error(name, f"Required for {Kind(kind).label}.")
        self.credential_values = values
        events = data.get("events") or []
        if kind in PSA_KINDS and set(events) - {Event.SESSION_COMPLETED}:
            self.add_error("events", "A PSA connection only takes the note on Session completed.")
        if data.get("is_default") and kind not in PSA_KINDS:
            self.add_error("is_default", "Only a PSA connection can look tickets up.")
        if data.get("is_default"):
            others = Connection.objects.filter(is_default=True).exclude(pk=self.instance.pk)
            if others.exists():
                self.add_error("is_default", f"“{others.first()}” is already the default.")
        return data

    def save(self, commit: bool = True) -> Connection:
        connection = super().save(commit=False)
        connection.events = list(self.cleaned_data.get("events") or [])
        connection.set_credentials(self.credential_values)
        if commit:
            connection.save()
        return connection


def _fieldset(kind: Kind) -> tuple[str, dict]:
    names = [f"{PREFIX[kind]}_{key}" for key in CREDENTIALS[kind]]
    return (kind.label, {"fields": names, "description": f"Only for a {kind.label} connection."})


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ["name", "kind", "base_url", "is_active", "is_default", "event_list"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "base_url"]
    actions = ["test_connection"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "base_url", "is_active", "is_default", "events"]}),
        *(_fieldset(kind) for kind in Kind),
    ]

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        # The credential fields are added per instance (their help shows what is
        # stored), so the model form is built from the model fields only.
        kwargs["fields"] = ConnectionForm.Meta.fields
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description="events")
    def event_list(self, obj: Connection) -> str:
        labels = dict(Event.choices)
        return ", ".join(labels.get(e, e) for e in obj.events or []) or "—"

    @admin.action(description="Test connection", permissions=["view"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for connection in queryset:
            worked, message = services.connection_test(connection=connection)
            level = messages.SUCCESS if worked else messages.ERROR
            self.message_user(request, f"{connection}: {message}", level)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "connection",
        "event",
        "session_link",
        "status",
        "attempts",
        "status_code",
        "error",
    ]
    list_filter = ["status", "event", "connection"]
    list_select_related = ["connection", "session"]
    search_fields = ["session__ticket_ref", "idempotency_key"]
    date_hierarchy = "created_at"
    actions = ["retry"]
    readonly_fields = [
        "idempotency_key",
        "connection",
        "event",
        "session_link",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "delivered_at",
        "status_code",
        "request_summary",
        "response_excerpt",
        "error",
        "progress",
        "created_at",
        "created_by",
        "payload",
    ]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="session")
    def session_link(self, obj: Delivery) -> str:
        if obj.session_id is None:
            return "—"
        url = reverse("sessions:detail", args=[obj.session_id])
        return format_html('<a href="{}">{}</a>', url, obj.session.ticket_ref or "Session")

    @admin.action(description="Retry the selected failed deliveries", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        retried = sum(services.delivery_retry(delivery=d) for d in queryset)
        skipped = queryset.count() - retried
        message = f"{retried} {'delivery' if retried == 1 else 'deliveries'} queued again."
        if skipped:
            message += f" {skipped} not failed, left alone."
        self.message_user(request, message, messages.SUCCESS if retried else messages.WARNING)


class PsaMemberInline(admin.TabularInline):
    model = PsaMember
    extra = 1
    max_num = len(PSA_KINDS)


def _with_psa_members() -> None:
    """Add the PSA ids inline to whatever admin the User model has."""
    User = get_user_model()
    current = admin.site.get_model_admin(User) if admin.site.is_registered(User) else None
    base = type(current) if current is not None else admin.ModelAdmin
    if current is not None:
        admin.site.unregister(User)
    inlines = [*getattr(base, "inlines", []), PsaMemberInline]
    admin.site.register(User, type("UserAdmin", (base,), {"inlines": inlines}))


_with_psa_members()
