"""PSA connections, the engineers' PSA ids, and the deliveries (SPEC §10)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from integrations import crypto
from resolutionflow import clock


class Event(models.TextChoices):
    SESSION_COMPLETED = "session.completed", "Session completed"
    SESSION_HANDED_OFF = "session.handed_off", "Session handed off"
    TREE_PUBLISHED = "tree.published", "Tree published"


class Kind(models.TextChoices):
    CONNECTWISE = "connectwise", "ConnectWise PSA"
    AUTOTASK = "autotask", "Autotask"
    HALOPSA = "halopsa", "HaloPSA"
    WEBHOOK = "webhook", "Webhook"


PSA_KINDS = (Kind.CONNECTWISE, Kind.AUTOTASK, Kind.HALOPSA)

# What each kind needs, in the order the admin asks for it. The secret ones are
# never shown back (only masked); the others are identifiers, shown in full.
CREDENTIALS: dict[str, tuple[str, ...]] = {
    Kind.CONNECTWISE: ("company_id", "public_key", "private_key", "client_id"),
    Kind.AUTOTASK: ("username", "secret", "integration_code", "role_id"),
    Kind.HALOPSA: ("client_id", "client_secret", "tenant"),
    Kind.WEBHOOK: ("signing_secret",),
}
SECRET_CREDENTIALS = frozenset({"private_key", "secret", "client_secret", "signing_secret"})
OPTIONAL_CREDENTIALS = frozenset({"tenant", "role_id"})


class ConnectionQuerySet(models.QuerySet):
    def active(self) -> ConnectionQuerySet:
        return self.filter(is_active=True)

    def psa(self) -> ConnectionQuerySet:
        return self.filter(kind__in=PSA_KINDS)

    def receiving(self, event: str) -> list[Connection]:
        """Active connections subscribed to `event`.

        Filtered in Python: a JSON `contains` lookup is not portable to SQLite,
        and an installation has a handful of connections.
        """
        return [c for c in self.active() if c.receives(event)]


class Connection(models.Model):
    """A PSA or webhook endpoint the ticket loop delivers to (rows managed in the admin)."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    base_url = models.URLField(
        "base URL",
        max_length=500,
        help_text=(
            "ConnectWise: the API root, e.g. https://na.myconnectwise.net/v4_6_release/apis/3.0. "
            "Autotask: the zone lookup root, https://webservices.autotask.net/atservicesrest. "
            "HaloPSA: the instance, e.g. https://acme.halopsa.com. Webhook: the URL to POST to."
        ),
    )
    is_active = models.BooleanField("active", default=True)
    is_default = models.BooleanField(
        "default for ticket lookup",
        default=False,
        help_text="The Start form looks ticket numbers up in this PSA connection.",
    )
    events = models.JSONField(
        default=list,
        blank=True,
        help_text="Events this connection receives.",
    )
    credentials_token = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(default=clock.now, editable=False)

    objects = ConnectionQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_connection"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_psa(self) -> bool:
        return self.kind in PSA_KINDS

    @property
    def credentials(self) -> dict[str, str]:
        return crypto.decrypt(self.credentials_token)

    def set_credentials(self, values: dict[str, str]) -> None:
        self.credentials_token = crypto.encrypt(values)

    def receives(self, event: str) -> bool:
        return event in (self.events or [])


class PsaMember(models.Model):
    """An engineer's member (ConnectWise), resource (Autotask) or agent (HaloPSA) id."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="psa_members"
    )
    kind = models.CharField(
        max_length=12, choices=[(k.value, k.label) for k in PSA_KINDS], verbose_name="PSA"
    )
    member_id = models.CharField(
        "member / resource id",
        max_length=64,
        help_text="ConnectWise member identifier or id, Autotask resource id, HaloPSA agent id.",
    )

    class Meta:
        verbose_name = "PSA member id"
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="one_psa_member_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.member_id}"


class DeliveryQuerySet(models.QuerySet):
    def open(self) -> DeliveryQuerySet:
        return self.filter(status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING])

    def stale(self, now) -> DeliveryQuerySet:
        """Claimed by a worker whose lease ran out (the worker died mid-delivery)."""
        return self.filter(status=Delivery.Status.SENDING, lease_until__lt=now)


class Delivery(models.Model):
    """One event for one connection: the outbox row and its log (SPEC §10).

    Written in the transaction of the change it reports (with the task that
    sends it), so a rolled-back completion leaves neither. `payload` is frozen
    at that moment, so every attempt sends the same note. `idempotency_key`
    travels with every attempt (the `Idempotency-Key` header, the webhook
    event id, and a reference line in the ticket note that a retry looks for
    before posting again). `progress` records the parts already done (the
    note's id, the time entry's id) so a retry never repeats them.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Queued"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=24, choices=Event.choices)
    session = models.ForeignKey(
        "flow_sessions.Session",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=clock.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    request_summary = models.CharField(max_length=500, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["status", "lease_until"], name="delivery_status_lease"),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_display()} → {self.connection}"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.SENDING)

    @property
    def reference(self) -> str:
        """The line the ticket note ends with; a retry looks for it before posting again."""
        return f"ResolutionFlow ref {self.idempotency_key}"
