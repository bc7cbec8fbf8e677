"""What the session detail page's Ticket card shows (the tag and the views share it)."""

from __future__ import annotations

from typing import Any

from integrations.models import Connection, Delivery, Event
from sessions.models import Session


def delivery_label(delivery: Delivery) -> str:
    """The status in words: "Posted to ticket" is what an engineer looks for."""
    if delivery.status == Delivery.Status.DELIVERED:
        return "Posted to ticket" if delivery.connection.is_psa else "Delivered"
    if delivery.status == Delivery.Status.FAILED:
        return "Failed"
    if delivery.status == Delivery.Status.SENDING:
        return "Sending"
    return "Retrying" if delivery.attempts else "Queued"


def panel_context(session: Session, *, may_act: bool) -> dict[str, Any]:
    """The Ticket card; `may_act`: the viewer may post and retry (the owner or a manager,
    not whoever only handed the session on and reads it)."""
    deliveries = list(
        Delivery.objects.filter(session=session).select_related("connection").order_by("-pk")
    )
    for delivery in deliveries:
        delivery.label = delivery_label(delivery)
    psa_ids = set(Connection.objects.active().psa().values_list("pk", flat=True))
    # Connections that already have the note (posted or on its way) need no button.
    covered = {
        d.connection_id
        for d in deliveries
        if d.event == Event.SESSION_COMPLETED and d.status != Delivery.Status.FAILED
    }
    return {
        "session": session,
        "deliveries": deliveries,
        "show": bool(deliveries) or bool(psa_ids),
        "can_post": may_act
        and bool(psa_ids - covered)
        and bool(session.ticket_ref)
        and session.completed_at is not None,
        "any_failed": any(d.status == Delivery.Status.FAILED for d in deliveries),
        "may_act": may_act,
        "polling": any(d.is_open for d in deliveries),
    }
